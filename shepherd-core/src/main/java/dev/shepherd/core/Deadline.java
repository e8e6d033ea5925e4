package dev.shepherd.core;

import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.Require;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * A point in time by which something must be done, measured with a {@link Ticker}.
 *
 * <p>A deadline is made from a timeout and the ticker's reading at that moment. All arithmetic
 * saturates: {@code Deadline.after(Duration.ofSeconds(Long.MAX_VALUE), ticker)} is simply a deadline
 * that never passes ({@link #isInfinite()}), and a zero or negative timeout gives a deadline that
 * has already passed. Readings are compared by subtraction, so a ticker that wraps around
 * {@code Long.MAX_VALUE} is handled as {@link System#nanoTime()} requires.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class Deadline {

  private final Ticker ticker;
  private final long startNanos;
  /** The timeout in nanoseconds, never negative; {@code Long.MAX_VALUE} means never. */
  private final long budgetNanos;

  private Deadline(Ticker ticker, long startNanos, long budgetNanos) {
    this.ticker = ticker;
    this.startNanos = startNanos;
    this.budgetNanos = budgetNanos;
  }

  /**
   * Returns a deadline that passes {@code timeout} after now, as read by {@code ticker}.
   *
   * @param timeout how long from now; zero or negative means already passed; values at or beyond
   *     {@code Duration.ofNanos(Long.MAX_VALUE)} mean never
   * @param ticker the time source
   * @return the deadline
   * @throws NullPointerException if an argument is null
   */
  public static Deadline after(Duration timeout, Ticker ticker) {
    Require.nonNull(timeout, "timeout");
    Require.nonNull(ticker, "ticker");
    long budget = Math.max(0L, Durations.toNanosSaturated(timeout));
    return new Deadline(ticker, ticker.read(), budget);
  }

  /**
   * Returns a deadline that passes {@code timeout} after now on the system ticker.
   *
   * @param timeout how long from now
   * @return the deadline
   * @throws NullPointerException if {@code timeout} is null
   */
  public static Deadline after(Duration timeout) {
    return after(timeout, Ticker.system());
  }

  /**
   * Returns a deadline that never passes.
   *
   * @param ticker the time source, used only for {@link #elapsed()}
   * @return the deadline
   */
  public static Deadline never(Ticker ticker) {
    Require.nonNull(ticker, "ticker");
    return new Deadline(ticker, ticker.read(), Long.MAX_VALUE);
  }

  /**
   * Returns whether this deadline never passes.
   *
   * @return true if the timeout was {@code Long.MAX_VALUE} nanoseconds or more
   */
  public boolean isInfinite() {
    return budgetNanos == Long.MAX_VALUE;
  }

  /**
   * Returns the time left, in nanoseconds: zero once passed, {@code Long.MAX_VALUE} if infinite.
   *
   * @return nanoseconds until the deadline, never negative
   */
  public long remainingNanos() {
    if (budgetNanos == Long.MAX_VALUE) {
      return Long.MAX_VALUE;
    }
    long elapsed = ticker.read() - startNanos;
    long remaining = Durations.saturatedSubtract(budgetNanos, elapsed);
    // A ticker that went backwards never grants more than the original budget.
    return Math.max(0L, Math.min(remaining, budgetNanos));
  }

  /**
   * Returns the time left: {@link Duration#ZERO} once passed.
   *
   * @return the time until the deadline, never negative
   */
  public Duration remaining() {
    return Duration.ofNanos(remainingNanos());
  }

  /**
   * Returns whether the deadline has passed.
   *
   * @return true once no time is left
   */
  public boolean isExpired() {
    return remainingNanos() == 0L;
  }

  /**
   * Returns the time since this deadline was made, saturated and never negative.
   *
   * @return the elapsed time
   */
  public Duration elapsed() {
    return Duration.ofNanos(Math.max(0L, ticker.read() - startNanos));
  }

  /**
   * Returns the timeout this deadline was made with.
   *
   * @return the original timeout, clamped to {@code [0, Long.MAX_VALUE]} nanoseconds
   */
  public Duration timeout() {
    return Duration.ofNanos(budgetNanos);
  }

  /**
   * Returns the earlier of this deadline and another one made with the same ticker.
   *
   * @param other the other deadline
   * @return the one with less time remaining
   */
  public Deadline min(Deadline other) {
    Require.nonNull(other, "other");
    return other.remainingNanos() < remainingNanos() ? other : this;
  }

  /**
   * Returns the remaining time in the given unit, rounded down, saturated.
   *
   * @param unit the unit
   * @return the remaining time in {@code unit}
   */
  public long remaining(TimeUnit unit) {
    return unit.convert(remainingNanos(), TimeUnit.NANOSECONDS);
  }

  @Override
  public String toString() {
    return isInfinite() ? "Deadline[never]" : "Deadline[remaining=" + remaining() + "]";
  }
}
