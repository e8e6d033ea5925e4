package dev.shepherd.replica;

/**
 * The poller's adaptive pause: the minimum after progress or a fresh wait, doubled after every poll
 * without progress, capped at the maximum. Confined to the poller thread; not thread-safe.
 */
final class PollInterval {

  private final long minNanos;
  private final long maxNanos;
  private long currentNanos;

  PollInterval(long minNanos, long maxNanos) {
    this.minNanos = minNanos;
    this.maxNanos = maxNanos;
    this.currentNanos = minNanos;
  }

  /** Replay moved or a fresh write is awaited: poll again soon. */
  void reset() {
    currentNanos = minNanos;
  }

  /** Nothing changed: wait twice as long next time, up to the maximum. */
  void backOff() {
    currentNanos = currentNanos > maxNanos / 2 ? maxNanos : Math.min(maxNanos, currentNanos * 2);
  }

  long nanos() {
    return currentNanos;
  }
}
