package dev.shepherd.cache;

import dev.shepherd.core.internal.Require;

/**
 * The answer to a {@link CoalescingCache#fetch fetch}: the value and where it came from.
 *
 * <p>A hit returns the instance kept beside the stored value, so answering a hit allocates nothing.
 * Instances are immutable and thread-safe.
 *
 * @param value the value, never null
 * @param source where the value came from
 * @param <V> the value's type
 */
public record Fetched<V>(V value, Source source) {

  /**
   * Checks the components.
   *
   * @throws NullPointerException if an argument is null
   */
  public Fetched {
    Require.nonNull(value, "value");
    Require.nonNull(source, "source");
  }

  /** Where a fetched value came from. */
  public enum Source {
    /** It was stored and fresh; no loader ran and no lock was taken. */
    HIT,
    /** This caller's fetch started the load that produced it (Cachex's {@code :commit}). */
    LOADED,
    /** This caller waited on a load another caller had started (Cachex's {@code :ok}). */
    JOINED,
    /**
     * The load failed and the cache answered with an expired value kept for
     * {@link CoalescingCache.Builder#serveStaleOnError(java.time.Duration)}.
     */
    STALE
  }
}
