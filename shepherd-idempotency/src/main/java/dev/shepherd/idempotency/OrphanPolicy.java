package dev.shepherd.idempotency;

/**
 * What {@link IdempotencyTracker#track} does with a key whose owner vanished: its lease ran out
 * (no heartbeat renewed it) without a response, for example because the owner's JVM was killed.
 */
public enum OrphanPolicy {
  /** The next request with the same fingerprint claims the key with a new fencing token (default). */
  TAKE_OVER,
  /**
   * The key is marked {@link Tracked.Halted} ("owner vanished") for the rest of its retention, and
   * the request never runs again: for operations that must not run twice even after a crash.
   */
  HALT
}
