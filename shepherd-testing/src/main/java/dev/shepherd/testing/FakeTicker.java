package dev.shepherd.testing;

import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.Require;
import dev.shepherd.core.Ticker;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A {@link Ticker} that only moves when a test advances it, so time-dependent behaviour (expiry,
 * leases, backoff, idle shutdown) is tested without sleeping.
 *
 * <p>Starts at an arbitrary non-zero reading (so code that wrongly treats 0 as "unset" is caught)
 * unless told otherwise. Thread-safe: readers on other threads see every advance at once.
 */
public final class FakeTicker implements Ticker {

  private final AtomicLong nanos;

  /** Creates a ticker reading 1,000,000,000 ns. */
  public FakeTicker() {
    this(1_000_000_000L);
  }

  /**
   * Creates a ticker with the given first reading.
   *
   * @param startNanos the first reading, any value (readings may wrap like {@code nanoTime})
   */
  public FakeTicker(long startNanos) {
    this.nanos = new AtomicLong(startNanos);
  }

  @Override
  public long read() {
    return nanos.get();
  }

  /**
   * Moves time forward.
   *
   * @param duration how far; must not be negative
   * @return this ticker
   * @throws IllegalArgumentException if {@code duration} is negative
   */
  public FakeTicker advance(Duration duration) {
    Require.nonNegative(duration, "duration");
    nanos.addAndGet(Durations.toNanosSaturated(duration));
    return this;
  }

  /**
   * Moves time forward by a number of nanoseconds.
   *
   * @param nanoseconds how far; must not be negative
   * @return this ticker
   * @throws IllegalArgumentException if negative
   */
  public FakeTicker advanceNanos(long nanoseconds) {
    Require.atLeast(nanoseconds, 0L, "nanoseconds");
    nanos.addAndGet(nanoseconds);
    return this;
  }

  @Override
  public String toString() {
    return "FakeTicker[" + nanos.get() + "ns]";
  }
}
