package dev.shepherd.idempotency.servlet;

/**
 * A part of a request that {@link RequestFingerprinter#of} hashes into the fingerprint; a key reused
 * with a request that differs in any hashed part is answered 422.
 */
public enum FingerprintPart {
  /** The method, for example {@code POST}. */
  METHOD,
  /** The request URI's path as sent ({@code getRequestURI()}, not decoded). */
  PATH,
  /** The raw query string, or its absence. */
  QUERY,
  /** The {@code Content-Type} header as sent, or its absence. */
  CONTENT_TYPE,
  /** The body's bytes. */
  BODY
}
