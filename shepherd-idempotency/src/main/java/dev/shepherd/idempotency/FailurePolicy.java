package dev.shepherd.idempotency;

/**
 * What {@link IdempotencyTracker#fail} does with a claim whose request failed with an exception.
 */
public enum FailurePolicy {
  /**
   * The key is marked {@link Tracked.Halted} with the exception as reason until retention ends, as
   * in IdempotencyPlug: a retry learns that the first attempt failed instead of running again
   * (default).
   */
  HALT,
  /** The claim is released: the next request with the key runs again (AWS Powertools' choice). */
  RELEASE
}
