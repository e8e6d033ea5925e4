package dev.shepherd.idempotency.servlet;

import jakarta.servlet.http.HttpServletRequest;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.EnumSet;
import java.util.HexFormat;
import org.jspecify.annotations.Nullable;

/** The SHA-256 fingerprinter of {@link RequestFingerprinter#of}. Immutable. */
final class Sha256Fingerprinter implements RequestFingerprinter {

  /** Never updated: only cloned, see {@link #sha256()}. */
  private static final MessageDigest PROTOTYPE = newSha256();

  private final EnumSet<FingerprintPart> parts;

  Sha256Fingerprinter(EnumSet<FingerprintPart> parts) {
    this.parts = parts;
  }

  @Override
  public String fingerprint(HttpServletRequest request, byte[] body) {
    MessageDigest digest = sha256();
    for (FingerprintPart part : FingerprintPart.values()) {
      if (!parts.contains(part)) {
        continue;
      }
      switch (part) {
        case METHOD -> text(digest, request.getMethod());
        case PATH -> text(digest, request.getRequestURI());
        case QUERY -> text(digest, request.getQueryString());
        case CONTENT_TYPE -> text(digest, request.getContentType());
        case BODY -> bytes(digest, body);
      }
    }
    return HexFormat.of().formatHex(digest.digest());
  }

  /**
   * A fresh SHA-256 digest for one request. Cloned from a prototype that is never updated (so
   * concurrent clones are safe), which skips the provider lookup and reflective construction of
   * {@code MessageDigest.getInstance} on every request; falls back to {@code getInstance} on a
   * platform whose SHA-256 cannot be cloned. Still SHA-256: the fingerprint must stay
   * collision-resistant, since it is what stops a key from being reused with another payload.
   */
  static MessageDigest sha256() {
    try {
      return (MessageDigest) PROTOTYPE.clone();
    } catch (CloneNotSupportedException e) {
      return newSha256(); // not expected of the JDK's SHA-256
    }
  }

  private static MessageDigest newSha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java platform has SHA-256", e);
    }
  }

  private static void text(MessageDigest digest, @Nullable String value) {
    if (value == null) {
      digest.update((byte) 0);
      return;
    }
    bytes(digest, value.getBytes(StandardCharsets.UTF_8));
  }

  private static void bytes(MessageDigest digest, byte[] value) {
    digest.update((byte) 1);
    int n = value.length;
    digest.update(new byte[] {(byte) (n >>> 24), (byte) (n >>> 16), (byte) (n >>> 8), (byte) n});
    digest.update(value);
  }

  @Override
  public String toString() {
    return "RequestFingerprinter.of(" + parts + ")";
  }
}
