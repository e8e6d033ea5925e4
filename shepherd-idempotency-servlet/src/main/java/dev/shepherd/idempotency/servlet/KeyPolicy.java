package dev.shepherd.idempotency.servlet;

/**
 * What {@link IdempotencyFilter} does with a request, chosen per method and path.
 */
public enum KeyPolicy {
  /** The request must carry an {@code Idempotency-Key}; without one it is answered 400. */
  REQUIRED,
  /** A request with a key is tracked; one without runs untracked. */
  OPTIONAL,
  /** The filter lets the request through untouched, with or without a key. */
  IGNORED
}
