package dev.shepherd.pool.internal;

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
 * KNOCK      runner→parent  plain   byte version, string runnerId, 32 random bytes (the runner's
 *                                   nonce), 32 bytes HMAC-SHA256(secret, "knock" || nonce || id)
 * CHALLENGE  parent→runner  plain   byte version, 32 random bytes (the parent's nonce)
 * REFUSED    parent→runner  plain   boolean tryAgain, string reason (instead of CHALLENGE)
 * PROOF      runner→parent  plain   32 bytes HMAC-SHA256(secret, "runner" || nonces || runnerId)
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
 * <p>The runner speaks first, in the same moment it connects, so that the parent can tell a runner
 * from a connection that sends nothing (or junk) before it has spent anything but a few hundred
 * bytes on it: a KNOCK that checks moves the connection out of the crowd of unauthenticated ones
 * the parent cuts to make room under a flood. The KNOCK's tag is not the proof: it carries no
 * nonce of the parent's, so a recorded KNOCK could be replayed; it only earns a CHALLENGE.
 *
 * <p>Mutual authentication: the runner proves the per-runner secret in PROOF (bound to both
 * nonces, so a recorded PROOF is worthless on another connection); the parent proves it by
 * sending a WELCOME that opens under a key derived from the secret. Both ends derive the session
 * keys with HKDF-SHA256 (salt: both nonces; input: the secret; info: direction and runner id). A
 * runner runs nothing before the WELCOME opens; a parent hands out no call before the proof checks.
 *
 * <p>An exception is: string className, boolean hasMessage [string message], int frames, each frame
 * (string declaringClass, string methodName, boolean hasFile [string fileName], int line), boolean
 * hasCause [exception].
 */
public final class RemoteProtocol {

  /** Parent to runner, plain: the protocol version and the parent's nonce. */
  public static final byte CHALLENGE = 1;
  /** Runner to parent, plain: its proof of the secret, bound to both nonces. */
  public static final byte PROOF = 2;
  /** Parent to runner, the first sealed frame: limits and the idle backstop. */
  public static final byte WELCOME = 3;
  /** Parent to runner: call id, function name, payload. */
  public static final byte CALL = 4;
  /** Parent to runner: the call id to interrupt. */
  public static final byte CANCEL = 5;
  /** Parent to runner: the grace in milliseconds before the runner exits. */
  public static final byte SHUTDOWN = 6;
  /** Runner to parent: call id and the result's payload. */
  public static final byte RESULT = 7;
  /** Runner to parent: call id, kind and the exception. */
  public static final byte FAILURE = 8;
  /** Runner to parent, plain, the first frame: version, runner id, its nonce and a knock tag. */
  public static final byte KNOCK = 9;
  /** Parent to runner, plain, instead of CHALLENGE: whether to try again, and why not now. */
  public static final byte REFUSED = 10;

  /** Failure kind: the function threw. */
  public static final byte FAILURE_THREW = 0;
  /** Failure kind: the call stopped after a cancel. */
  public static final byte FAILURE_CANCELLED = 1;
  /** Failure kind: the runner refused the call (unknown function, shutting down). */
  public static final byte FAILURE_REJECTED = 2;

  /** The handshake's version; each end refuses a peer of another version. */
  public static final byte VERSION = 3;

  /** Bytes of each side's handshake nonce. */
  public static final int NONCE_BYTES = 32;
  /** The longest runner id accepted in a KNOCK, in characters. */
  public static final int MAX_RUNNER_ID_BYTES = 253;
  /** The most stack frames carried per exception. */
  public static final int MAX_STACK_FRAMES = 256;
  /** Bytes of a RESULT frame besides its payload: type, call id, payload length. */
  public static final int RESULT_OVERHEAD = 1 + 8 + 4;
  /** Longest text from the wire kept in an exception or a log line. */
  public static final int MAX_TEXT = 1024;

  private RemoteProtocol() {}

  /**
   * Computes the tag of a runner's KNOCK: that it knows the secret of the id it names, over its own
   * nonce only (the parent has sent nothing yet).
   *
   * @param secret the per-runner secret
   * @param runnerNonce the runner's nonce
   * @param runnerId the runner's id
   * @return HMAC-SHA256 over a label, the nonce and the id, keyed by the secret
   */
  public static byte[] knockTag(byte[] secret, byte[] runnerNonce, String runnerId) {
    Mac mac = hmac(secret);
    mac.update("shepherd-pool runner knock".getBytes(StandardCharsets.US_ASCII));
    mac.update(runnerNonce);
    return mac.doFinal(runnerId.getBytes(StandardCharsets.UTF_8));
  }

  /**
   * Computes the runner's proof of the secret, bound to both nonces and its id.
   *
   * @param secret the per-runner secret
   * @param parentNonce the parent's nonce from CHALLENGE
   * @param runnerNonce the runner's nonce from KNOCK
   * @param runnerId the runner's id
   * @return HMAC-SHA256 over a label, both nonces and the id, keyed by the secret
   */
  public static byte[] runnerProof(byte[] secret, byte[] parentNonce, byte[] runnerNonce, String runnerId) {
    Mac mac = hmac(secret);
    mac.update("shepherd-pool runner proof".getBytes(StandardCharsets.US_ASCII));
    mac.update(parentNonce);
    mac.update(runnerNonce);
    return mac.doFinal(runnerId.getBytes(StandardCharsets.UTF_8));
  }

  /**
   * Derives the two session keys by HKDF-SHA256 (RFC 5869): extract with both nonces as salt and
   * the secret as input, expand once per direction with the runner id.
   *
   * @param secret the per-runner secret
   * @param parentNonce the parent's nonce
   * @param runnerNonce the runner's nonce
   * @param runnerId the runner's id
   * @return the parent-to-runner key, then the runner-to-parent key, 32 bytes each
   */
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
    mac.update(("shepherd-pool v3 " + direction + " ").getBytes(StandardCharsets.US_ASCII));
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
   *
   * @param text the text, possibly null
   * @param max how many characters to keep
   * @return the printable text
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
          || (type == Character.SURROGATE && !validSurrogateAt(text, i))) {
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

  /**
   * Writes a string as length and UTF-8 bytes.
   *
   * @param out the frame body
   * @param s the string
   * @throws IOException if the write fails
   */
  public static void writeString(DataOutputStream out, String s) throws IOException {
    byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
    out.writeInt(utf8.length);
    out.write(utf8);
  }

  /**
   * Reads a string written by {@link #writeString}, bounded by what the frame holds.
   *
   * @param in the frame body
   * @return the string
   * @throws IOException if the length is negative or beyond the frame
   */
  public static String readString(DataInputStream in) throws IOException {
    int length = in.readInt();
    if (length < 0 || length > in.available()) {
      throw new EOFException("bad string length " + length);
    }
    byte[] utf8 = new byte[length];
    in.readFully(utf8);
    return new String(utf8, StandardCharsets.UTF_8);
  }

  /**
   * Writes bytes as length and content.
   *
   * @param out the frame body
   * @param bytes the bytes
   * @throws IOException if the write fails
   */
  public static void writeBytes(DataOutputStream out, byte[] bytes) throws IOException {
    out.writeInt(bytes.length);
    out.write(bytes);
  }

  /**
   * Reads bytes written by {@link #writeBytes}, bounded by what the frame holds.
   *
   * @param in the frame body
   * @return the bytes
   * @throws IOException if the length is negative or beyond the frame
   */
  public static byte[] readBytes(DataInputStream in) throws IOException {
    int length = in.readInt();
    if (length < 0 || length > in.available()) {
      throw new EOFException("bad byte array length " + length);
    }
    byte[] bytes = new byte[length];
    in.readFully(bytes);
    return bytes;
  }
}
