package dev.shepherd.pool;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.jspecify.annotations.Nullable;

/**
 * The frames of the remote runner protocol. Every frame is {@code int length} (of what follows),
 * {@code byte type}, body; strings are {@code int length} + UTF-8; integers big-endian.
 *
 * <pre>
 * CHALLENGE  parent→runner  32 random bytes
 * HELLO      runner→parent  string runnerId, 32 bytes HMAC-SHA256(secret, challenge || runnerId)
 * WELCOME    parent→runner  long idleBackstopMillis (-1 never), int maxConcurrency, string pool
 * CALL       parent→runner  long callId, string function, bytes payload
 * CANCEL     parent→runner  long callId
 * SHUTDOWN   parent→runner  long graceMillis
 * RESULT     runner→parent  long callId, bytes payload
 * FAILURE    runner→parent  long callId, byte kind (0 threw, 1 cancelled, 2 rejected), exception
 * </pre>
 *
 * An exception is: string className, boolean hasMessage [string message], int frames, each frame
 * (string declaringClass, string methodName, boolean hasFile [string fileName], int line), boolean
 * hasCause [exception]. Frames larger than {@link #MAX_FRAME} close the connection.
 */
final class RemoteProtocol {

  static final byte CHALLENGE = 1;
  static final byte HELLO = 2;
  static final byte WELCOME = 3;
  static final byte CALL = 4;
  static final byte CANCEL = 5;
  static final byte SHUTDOWN = 6;
  static final byte RESULT = 7;
  static final byte FAILURE = 8;

  static final byte FAILURE_THREW = 0;
  static final byte FAILURE_CANCELLED = 1;
  static final byte FAILURE_REJECTED = 2;

  static final int CHALLENGE_BYTES = 32;
  static final int MAX_FRAME = 256 * 1024 * 1024;
  static final int MAX_STACK_FRAMES = 256;

  private RemoteProtocol() {}

  static byte[] proof(byte[] secret, byte[] challenge, String runnerId) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(secret, "HmacSHA256"));
      mac.update(challenge);
      return mac.doFinal(runnerId.getBytes(StandardCharsets.UTF_8));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 unavailable", e);
    }
  }

  /** A frame read from a stream: its type and a stream over its body. */
  record Frame(byte type, DataInputStream body) {}

  static Frame read(DataInputStream in) throws IOException {
    int length = in.readInt();
    if (length < 1 || length > MAX_FRAME) {
      throw new IOException("bad frame length " + length);
    }
    byte[] bytes = new byte[length];
    in.readFully(bytes);
    return new Frame(
        bytes[0], new DataInputStream(new java.io.ByteArrayInputStream(bytes, 1, length - 1)));
  }

  /** Builds one frame in memory, then writes it in one go. */
  static final class FrameWriter {
    private final java.io.ByteArrayOutputStream buffer = new java.io.ByteArrayOutputStream(128);
    final DataOutputStream out = new DataOutputStream(buffer);

    FrameWriter(byte type) {
      buffer.write(0);
      buffer.write(0);
      buffer.write(0);
      buffer.write(0);
      buffer.write(type);
    }

    byte[] toBytes() {
      byte[] bytes = buffer.toByteArray();
      int length = bytes.length - 4;
      bytes[0] = (byte) (length >>> 24);
      bytes[1] = (byte) (length >>> 16);
      bytes[2] = (byte) (length >>> 8);
      bytes[3] = (byte) length;
      return bytes;
    }
  }

  static void writeString(DataOutputStream out, String s) throws IOException {
    byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
    out.writeInt(utf8.length);
    out.write(utf8);
  }

  static String readString(DataInputStream in) throws IOException {
    int length = in.readInt();
    if (length < 0 || length > in.available()) {
      throw new EOFException("bad string length " + length);
    }
    byte[] utf8 = new byte[length];
    in.readFully(utf8);
    return new String(utf8, StandardCharsets.UTF_8);
  }

  static void writeBytes(DataOutputStream out, byte[] bytes) throws IOException {
    out.writeInt(bytes.length);
    out.write(bytes);
  }

  static byte[] readBytes(DataInputStream in) throws IOException {
    int length = in.readInt();
    if (length < 0 || length > in.available()) {
      throw new EOFException("bad byte array length " + length);
    }
    byte[] bytes = new byte[length];
    in.readFully(bytes);
    return bytes;
  }

  static void writeException(DataOutputStream out, Throwable t, int depth) throws IOException {
    writeString(out, t instanceof RemoteException r ? r.remoteClassName() : t.getClass().getName());
    String message = t instanceof RemoteException r ? r.remoteMessage() : t.getMessage();
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
      writeException(out, cause, depth + 1);
    }
  }

  static RemoteException readException(DataInputStream in, int depth) throws IOException {
    if (depth > 16) {
      throw new IOException("exception chain too deep");
    }
    String className = readString(in);
    @Nullable String message = in.readBoolean() ? readString(in) : null;
    int count = in.readInt();
    if (count < 0 || count > MAX_STACK_FRAMES) {
      throw new IOException("bad stack frame count " + count);
    }
    StackTraceElement[] frames = new StackTraceElement[count];
    for (int i = 0; i < count; i++) {
      String declaring = readString(in);
      String method = readString(in);
      String file = in.readBoolean() ? readString(in) : null;
      int line = in.readInt();
      frames[i] = new StackTraceElement(declaring, method, file, line);
    }
    RemoteException cause = in.readBoolean() ? readException(in, depth + 1) : null;
    return new RemoteException(className, message, frames, cause);
  }
}
