package dev.shepherd.cache;

import dev.shepherd.core.internal.Durations;
import org.jspecify.annotations.Nullable;

/**
 * What the cache keeps in Caffeine for one key when a read must check it: a value with its own time
 * to live or with stale grace (with the {@link Fetched} a hit returns, made once here so a hit
 * allocates nothing), or a failure kept by negative caching (possibly with
 * the stale value that it answers with).
 *
 * <p>A value with the default time to live and no stale grace is not wrapped: Caffeine keeps its
 * {@code Fetched} alone (see {@code CoalescingCache.stored}).
 *
 * <p>Times are ticker readings compared by subtraction. {@link #storageNanos} is how long Caffeine
 * keeps the entry: the value's time to live plus the stale grace, or the failure's time to live.
 * Immutable.
 */
final class Entry<V> {

  /** The answer to a hit; null for a failure entry. */
  final @Nullable Fetched<V> hit;
  /** The value, fresh or stale; for a failure entry, the stale value it answers with, if any. */
  final @Nullable V value;
  /** The kept failure, or null for a value entry. */
  final @Nullable Throwable failure;
  /** Ticker reading when the value was loaded. */
  final long writtenAt;
  /** How long the value is fresh. */
  final long ttlNanos;
  /** How long after {@link #writtenAt} the value may still be served as stale. */
  final long staleNanos;
  /** Ticker reading when this entry was stored (differs from {@link #writtenAt} for a failure). */
  final long storedAt;
  /** How long Caffeine keeps this entry after {@link #storedAt}. */
  final long storageNanos;

  private Entry(
      @Nullable Fetched<V> hit,
      @Nullable V value,
      @Nullable Throwable failure,
      long writtenAt,
      long ttlNanos,
      long staleNanos,
      long storedAt,
      long storageNanos) {
    this.hit = hit;
    this.value = value;
    this.failure = failure;
    this.writtenAt = writtenAt;
    this.ttlNanos = ttlNanos;
    this.staleNanos = staleNanos;
    this.storedAt = storedAt;
    this.storageNanos = storageNanos;
  }

  static <V> Entry<V> value(V value, long now, long ttlNanos, long graceNanos) {
    long stale = Durations.saturatedAdd(ttlNanos, graceNanos);
    return new Entry<>(
        new Fetched<>(value, Fetched.Source.HIT), value, null, now, ttlNanos, stale, now, stale);
  }

  /** A kept failure, carrying {@code staleFrom}'s value if it may still be served as stale. */
  static <V> Entry<V> failure(Throwable failure, @Nullable Entry<V> staleFrom, long now, long keepNanos) {
    if (staleFrom != null && staleFrom.staleValueAt(now) != null) {
      return new Entry<>(
          null,
          staleFrom.value,
          failure,
          staleFrom.writtenAt,
          staleFrom.ttlNanos,
          staleFrom.staleNanos,
          now,
          keepNanos);
    }
    return new Entry<>(null, null, failure, now, 0L, 0L, now, keepNanos);
  }

  /** How much longer Caffeine should keep this entry, as of {@code now}; never negative. */
  long storageRemainingAt(long now) {
    if (storageNanos == Long.MAX_VALUE) {
      return Long.MAX_VALUE;
    }
    return Math.max(0L, storageNanos - Math.max(0L, now - storedAt));
  }

  boolean isFreshAt(long now) {
    return now - writtenAt < ttlNanos;
  }

  /** The value if it may be served as stale at {@code now} (fresh values qualify too). */
  @Nullable V staleValueAt(long now) {
    return value != null && now - writtenAt < staleNanos ? value : null;
  }
}
