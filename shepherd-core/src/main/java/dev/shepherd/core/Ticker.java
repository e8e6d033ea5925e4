package dev.shepherd.core;

/**
 * A source of monotonic time in nanoseconds, read by every Shepherd component that measures a
 * duration (timeouts, leases, backoff, idle shutdown, statistics).
 *
 * <p>This is the test seam for time: production code uses {@link #system()}, which reads
 * {@link System#nanoTime()}; tests pass a fake ticker (see {@code dev.shepherd.testing.FakeTicker})
 * and advance it by hand, so a test of a 24-hour retention runs in microseconds and never sleeps.
 * Only differences between two readings are meaningful; the origin is arbitrary and readings may be
 * negative or wrap, exactly as with {@code System.nanoTime()}. Compare readings by subtracting them,
 * never with {@code <}.
 *
 * <p>Wall-clock time (for example an {@code Expires} header) is taken from a
 * {@link java.time.Clock}, never from a ticker.
 *
 * <p>Implementations must be thread-safe.
 */
@FunctionalInterface
public interface Ticker {

  /**
   * Returns the current reading in nanoseconds.
   *
   * @return nanoseconds since an arbitrary, fixed origin
   */
  long read();

  /**
   * Returns the ticker that reads {@link System#nanoTime()}.
   *
   * @return the system ticker, a singleton
   */
  static Ticker system() {
    return SystemTicker.INSTANCE;
  }
}

/** The ticker of {@link Ticker#system()}. */
enum SystemTicker implements Ticker {
  INSTANCE;

  @Override
  public long read() {
    return System.nanoTime();
  }

  @Override
  public String toString() {
    return "Ticker.system()";
  }
}
