package dev.shepherd.pool;

import static dev.shepherd.pool.internal.RemoteProtocol.MAX_STACK_FRAMES;
import static dev.shepherd.pool.internal.RemoteProtocol.MAX_TEXT;
import static dev.shepherd.pool.internal.RemoteProtocol.printable;
import static dev.shepherd.pool.internal.RemoteProtocol.readString;
import static dev.shepherd.pool.internal.RemoteProtocol.writeString;

import dev.shepherd.core.internal.Require;
import dev.shepherd.core.ShepherdException;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import org.jspecify.annotations.Nullable;

/**
 * An exception thrown on a remote runner, carried back as data: the original's class name,
 * message and stack trace (and its causes, as further {@code RemoteException}s). The original class
 * is never loaded or instantiated in the parent, so a runner cannot make the parent deserialize
 * anything but strings and stack frames.
 *
 * <p>{@link #toString()} and stack traces print the original class name, so a logged failure reads
 * like the original: {@code java.lang.IllegalStateException: no such report (remote)}.
 */
public final class RemoteException extends ShepherdException {

  private static final long serialVersionUID = 1L;

  private final String remoteClassName;
  private final @Nullable String remoteMessage;

  /**
   * Creates the exception.
   *
   * @param remoteClassName the binary name of the original exception's class
   * @param remoteMessage the original message, or null
   * @param stackTrace the original stack frames, top first
   * @param cause the original's cause, converted, or null
   */
  public RemoteException(
      String remoteClassName,
      @Nullable String remoteMessage,
      StackTraceElement[] stackTrace,
      @Nullable RemoteException cause) {
    super(remoteClassName + (remoteMessage == null ? "" : ": " + remoteMessage), cause, true);
    this.remoteClassName = Require.nonNull(remoteClassName, "remoteClassName");
    this.remoteMessage = remoteMessage;
    setStackTrace(Require.nonNull(stackTrace, "stackTrace").clone());
  }

  /**
   * Converts a local throwable (and its causes, up to 16 deep) into remote form.
   *
   * @param throwable the exception
   * @return its remote form
   */
  public static RemoteException of(Throwable throwable) {
    return of(throwable, 0);
  }

  @SuppressWarnings("ReferenceEquality") // identity: a throwable that is its own cause ends the chain
  private static RemoteException of(Throwable throwable, int depth) {
    if (throwable instanceof RemoteException remote) {
      return remote;
    }
    Throwable cause = throwable.getCause();
    RemoteException converted =
        cause == null || cause == throwable || depth >= 16 ? null : of(cause, depth + 1);
    return new RemoteException(
        throwable.getClass().getName(),
        throwable.getMessage(),
        throwable.getStackTrace(),
        converted);
  }

  /**
   * Returns the binary class name of the exception thrown on the runner.
   *
   * @return for example {@code "java.lang.IllegalStateException"}
   */
  public String remoteClassName() {
    return remoteClassName;
  }

  /**
   * Returns the message of the exception thrown on the runner.
   *
   * @return the message, or null if it had none
   */
  public @Nullable String remoteMessage() {
    return remoteMessage;
  }

  // The remote class name must show instead of RemoteException's own: getMessage() stays the
  // remote message, so that callers reading it get exactly what was thrown on the runner.
  @SuppressWarnings("OverrideThrowableToString")
  @Override
  public String toString() {
    return remoteClassName + (remoteMessage == null ? "" : ": " + remoteMessage) + " (remote)";
  }

  /**
   * Writes an exception and its causes as data (class name, bounded message, stack frames).
   *
   * @param out the frame body
   * @param t the exception
   * @param depth how many causes deep this one is (the chain stops at 16)
   * @throws IOException if the write fails
   */
  static void write(DataOutputStream out, Throwable t, int depth) throws IOException {
    writeString(out, t instanceof RemoteException r ? r.remoteClassName() : t.getClass().getName());
    String raw = t instanceof RemoteException r ? r.remoteMessage() : t.getMessage();
    String message = raw == null ? null : printable(raw, MAX_TEXT);
    out.writeBoolean(message != null);
    if (message != null) {
      writeString(out, message);
    }
    StackTraceElement[] frames = t.getStackTrace();
    int count = Math.min(frames.length, MAX_STACK_FRAMES);
    out.writeInt(count);
    for (int i = 0; i < count; i++) {
      StackTraceElement frame = frames[i];
      writeString(out, frame.getClassName());
      writeString(out, frame.getMethodName());
      String file = frame.getFileName();
      out.writeBoolean(file != null);
      if (file != null) {
        writeString(out, file);
      }
      out.writeInt(frame.getLineNumber());
    }
    Throwable cause = t.getCause();
    // identity: a throwable that is its own cause ends the chain
    @SuppressWarnings("ReferenceEquality")
    boolean hasCause = cause != null && cause != t && depth < 16;
    out.writeBoolean(hasCause);
    if (hasCause && cause != null) {
      write(out, cause, depth + 1);
    }
  }

  /**
   * Reads an exception written by {@link #write}, with its text made printable and
   * bounded.
   *
   * @param in the frame body
   * @param depth how many causes deep this one is
   * @return the exception as a {@link RemoteException}
   * @throws IOException if the data is malformed, too deep or has too many frames
   */
  static RemoteException read(DataInputStream in, int depth) throws IOException {
    if (depth > 16) {
      throw new IOException("exception chain too deep");
    }
    String className = printable(readString(in), 256);
    @Nullable String message = in.readBoolean() ? printable(readString(in), MAX_TEXT) : null;
    int count = in.readInt();
    if (count < 0 || count > MAX_STACK_FRAMES) {
      throw new IOException("bad stack frame count " + count);
    }
    StackTraceElement[] frames = new StackTraceElement[count];
    for (int i = 0; i < count; i++) {
      String declaring = printable(readString(in), 256);
      String method = printable(readString(in), 256);
      String file = in.readBoolean() ? printable(readString(in), 256) : null;
      int line = in.readInt();
      frames[i] = new StackTraceElement(declaring, method, file, line);
    }
    RemoteException cause = in.readBoolean() ? read(in, depth + 1) : null;
    return new RemoteException(className, message, frames, cause);
  }
}
