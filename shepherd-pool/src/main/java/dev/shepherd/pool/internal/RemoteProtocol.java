package dev.shepherd.pool.internal;

import dev.shepherd.pool.RemoteException;
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
 * The frames of the remote runner protocol and its handshake. Frames travel through a {@link
 * FrameChannel}: plain and at most {@value FrameChannel#MAX_PLAIN_FRAME} bytes until both ends
 * are authenticated, sealed (encrypted and authenticated, in order) after. Strings are {@code int
 * length} + UTF-8; integers big-endian.
 *
 * <pre>
 * CHALLENGE  parent→runner  plain   byte version, 32 random bytes (the parent's nonce)
 * HELLO      runner→parent  plain   string runnerId, 32 random bytes (the runner's nonce),
 *                                   32 bytes HMAC-SHA256(secret, "runner" || nonces || runnerId)
 * WELCOME    parent→runner  sealed  long idleBackstopMillis (-1 never), int maxConcurrency,
 *                                   string pool, int maxFrameBytes, codec limits (3 ints)
 * CALL       parent→runner  sealed  long callId, string function, bytes payload
 * CANCEL     parent→runner  sealed  long callId
 * SHUTDOWN   parent→runner  sealed  long graceMillis
 * RESULT     runner→parent  sealed  long callId, bytes payload
 * FAILURE    runner→parent  sealed  long callId, byte kind (0 threw, 1 cancelled, 2 rejected),
 *                                   exception
 * </pre>
 *
 * <p>Mutual authentication: the runner proves the per-runner secret in HELLO (bound to both
 * nonces, so a recorded HELLO is worthless on another connection); the parent proves it by
 * sending a WELCOME that opens under a key derived from the secret. Both ends derive the session
 * keys with HKDF-SHA256 (salt: both nonces; input: the secret; info: direction and runner id). A
 * runner runs nothing before the WELCOME opens; a parent hands out no call before the proof checks.
 *
 * <p>An exception is: string className, boolean hasMessage [string message], int frames, each frame
 * (string declaringClass, string methodName, boolean hasFile [string fileName], int line), boolean
 * hasCause [exception].
 */
public final class RemoteProtocol {

  public static final byte CHALLENGE = 1;
  public static final byte HELLO = 2;
  public static final byte WELCOME = 3;
  public static final byte CALL = 4;
  public static final byte CANCEL = 5;
  public static final byte SHUTDOWN = 6;
  public static final byte RESULT = 7;
  public static final byte FAILURE = 8;

  public static final byte FAILURE_THREW = 0;
  public static final byte FAILURE_CANCELLED = 1;
  public static final byte FAILURE_REJECTED = 2;

  /** The handshake's version; a runner of another version refuses the parent. */
  public static final byte VERSION = 2;

  public static final int NONCE_BYTES = 32;
  public static final int MAX_RUNNER_ID_BYTES = 253;
  public static final int MAX_STACK_FRAMES = 256;
  /** Bytes of a RESULT frame besides its payload: type, call id, payload length. */
  public static final int RESULT_OVERHEAD = 1 + 8 + 4;
  /** Longest text from the wire kept in an exception or a log line. */
  public static final int MAX_TEXT = 1024;

  private RemoteProtocol() {}

  /** The runner's proof of the secret, bound to both nonces and its id. */
  public static byte[] runnerProof(byte[] secret, byte[] parentNonce, byte[] runnerNonce, String runnerId) {
    Mac mac = hmac(secret);
    mac.update("shepherd-pool runner proof".getBytes(StandardCharsets.US_ASCII));
    mac.update(parentNonce);
    mac.update(runnerNonce);
    return mac.doFinal(runnerId.getBytes(StandardCharsets.UTF_8));
  }

  /** The two session keys, parent-to-runner first, by HKDF-SHA256 (RFC 5869). */
  public static byte[][] sessionKeys(
      byte[] secret, byte[] parentNonce, byte[] runnerNonce, String runnerId) {
    byte[] salt = new byte[parentNonce.length + runnerNonce.length];
    System.arraycopy(parentNonce, 0, salt, 0, parentNonce.length);
    System.arraycopy(runnerNonce, 0, salt, parentNonce.length, runnerNonce.length);
    byte[] prk = hmac(salt).doFinal(secret);
    return new byte[][] {expand(prk, "parent to runner", runnerId), expand(prk, "runner to parent", runnerId)};
  }

  private static byte[] expand(byte[] prk, String direction, String runnerId) {
    Mac mac = hmac(prk);
    mac.update(("shepherd-pool v2 " + direction + " ").getBytes(StandardCharsets.US_ASCII));
    mac.update(runnerId.getBytes(StandardCharsets.UTF_8));
    mac.update((byte) 1);
    return mac.doFinal();
  }

  private static Mac hmac(byte[] key) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(key, "HmacSHA256"));
      return mac;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 unavailable", e);
    }
  }

  /**
   * Makes text from the wire safe for a log line or an exception message: control and format
   * characters (line breaks, terminal escapes, bidirectional overrides) become backslash-u
   * escapes, and anything past {@code max} characters is cut and marked.
   */
  public static String printable(@Nullable String text, int max) {
    if (text == null) {
      return "null";
    }
    StringBuilder b = new StringBuilder(Math.min(text.length(), max) + 16);
    int i = 0;
    for (; i < text.length() && b.length() < max; i++) {
      char c = text.charAt(i);
      int type = Character.getType(c);
      if (Character.isISOControl(c)
          || type == Character.FORMAT
          || type == Character.LINE_SEPARATOR
          || type == Character.PARAGRAPH_SEPARATOR
          || type == Character.SURROGATE && !validSurrogateAt(text, i)) {
        b.append(String.format("\\u%04x", (int) c));
      } else {
        b.append(c);
      }
    }
    if (i < text.length()) {
      b.append("...(").append(text.length() - i).append(" more chars)");
    }
    return b.toString();
  }

  private static boolean validSurrogateAt(String s, int i) {
    char c = s.charAt(i);
    if (Character.isHighSurrogate(c)) {
      return i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1));
    }
    return i > 0 && Character.isHighSurrogate(s.charAt(i - 1));
  }

  public static void writeString(DataOutputStream out, String s) throws IOException {
    byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
    out.writeInt(utf8.length);
    out.write(utf8);
  }

  public static String readString(DataInputStream in) throws IOException {
    int length = in.readInt();
    if (length < 0 || length > in.available()) {
      throw new EOFException("bad string length " + length);
    }
    byte[] utf8 = new byte[length];
    in.readFully(utf8);
    return new String(utf8, StandardCharsets.UTF_8);
  }

  public static void writeBytes(DataOutputStream out, byte[] bytes) throws IOException {
    out.writeInt(bytes.length);
    out.write(bytes);
  }

  public static byte[] readBytes(DataInputStream in) throws IOException {
    int length = in.readInt();
    if (length < 0 || length > in.available()) {
      throw new EOFException("bad byte array length " + length);
    }
    byte[] bytes = new byte[length];
    in.readFully(bytes);
    return bytes;
  }

  public static void writeException(DataOutputStream out, Throwable t, int depth) throws IOException {
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
    boolean hasCause = cause != null && cause != t && depth < 16;
    out.writeBoolean(hasCause);
    if (hasCause) {
      writeException(out, cause, depth + 1);
    }
  }

  public static RemoteException readException(DataInputStream in, int depth) throws IOException {
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
    RemoteException cause = in.readBoolean() ? readException(in, depth + 1) : null;
    return new RemoteException(className, message, frames, cause);
  }
}
