package dev.shepherd.pool;

import dev.shepherd.core.internal.Require;
import dev.shepherd.core.ShepherdException;
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
}
