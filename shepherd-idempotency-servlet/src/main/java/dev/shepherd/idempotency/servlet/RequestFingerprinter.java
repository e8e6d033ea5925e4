package dev.shepherd.idempotency.servlet;

import dev.shepherd.core.internal.Require;
import jakarta.servlet.http.HttpServletRequest;
import java.util.EnumSet;
import java.util.Set;

/**
 * Computes the fingerprint of a request: the value the tracker compares when a key is used again,
 * to tell a genuine retry (same fingerprint: replay) from a reused key (another fingerprint: 422).
 *
 * <p>The default, {@link #defaults()}, is a hex SHA-256 over the method, path, query, content type
 * and body. Implementations must be thread-safe and deterministic, and return 1 to 1,024 characters
 * without U+0000 (the tracker's limits); a hex digest always qualifies.
 */
@FunctionalInterface
public interface RequestFingerprinter {

  /**
   * Returns the fingerprint of a request.
   *
   * @param request the request (its body already consumed by the filter)
   * @param body the request's body bytes, at most the filter's body limit
   * @return the fingerprint
   */
  String fingerprint(HttpServletRequest request, byte[] body);

  /**
   * Returns the default fingerprinter: SHA-256 over every {@link FingerprintPart}.
   *
   * @return the default fingerprinter
   */
  static RequestFingerprinter defaults() {
    return of(EnumSet.allOf(FingerprintPart.class));
  }

  /**
   * Returns a fingerprinter that hashes the given parts with SHA-256 (hex). Each part is length
   * prefixed, so no two different requests hash the same input by shifting bytes between parts,
   * and an absent query or content type differs from an empty one.
   *
   * @param parts the parts to hash; may be empty (then every request with a key has the same
   *     fingerprint, and a reused key always replays)
   * @return the fingerprinter
   * @throws NullPointerException if {@code parts} or an element is null
   */
  static RequestFingerprinter of(Set<FingerprintPart> parts) {
    Require.nonNull(parts, "parts");
    EnumSet<FingerprintPart> copy = EnumSet.noneOf(FingerprintPart.class);
    for (FingerprintPart part : parts) {
      copy.add(Require.nonNull(part, "part"));
    }
    return new Sha256Fingerprinter(copy);
  }
}
