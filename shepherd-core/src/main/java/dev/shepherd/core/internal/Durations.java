package dev.shepherd.core.internal;

import java.time.Duration;

/**
 * Saturating conversions and arithmetic for nanosecond quantities.
 *
 * <p>{@link Duration} spans about 292 billion years, {@code long} nanoseconds about 292 years, so a
 * plain {@link Duration#toNanos()} throws on large values such as {@code Duration.ofDays(Long.MAX_VALUE / 86400)}.
 * Shepherd converts once, at the edge, with {@link #toNanosSaturated(Duration)}, and treats
 * {@link Long#MAX_VALUE} nanoseconds as "forever" everywhere.
 */
public final class Durations {

  /** The largest duration Shepherd distinguishes from forever: {@code Long.MAX_VALUE} nanoseconds. */
  public static final Duration MAX_NANOS = Duration.ofNanos(Long.MAX_VALUE);

  private Durations() {}

  /**
   * Converts a duration to nanoseconds, clamping to {@link Long#MIN_VALUE} / {@link Long#MAX_VALUE}
   * instead of throwing.
   *
   * @param duration the duration
   * @return the nanoseconds, saturated
   * @throws NullPointerException if {@code duration} is null
   */
  public static long toNanosSaturated(Duration duration) {
    long seconds = duration.toSeconds();
    // 9_223_372_035 s is the largest whole second count whose nanos (plus up to 999_999_999) fit.
    if (seconds < 9_223_372_035L && seconds > -9_223_372_035L) {
      return duration.toNanos();
    }
    try {
      return duration.toNanos();
    } catch (ArithmeticException overflow) {
      return duration.isNegative() ? Long.MIN_VALUE : Long.MAX_VALUE;
    }
  }

  /**
   * Adds two longs, clamping to the long range instead of wrapping.
   *
   * @param a the first addend
   * @param b the second addend
   * @return {@code a + b}, saturated
   */
  public static long saturatedAdd(long a, long b) {
    long sum = a + b;
    // Overflow happened iff both operands have the same sign and the sum's sign differs.
    if (((a ^ sum) & (b ^ sum)) < 0) {
      return a < 0 ? Long.MIN_VALUE : Long.MAX_VALUE;
    }
    return sum;
  }

  /**
   * Subtracts two longs, clamping to the long range instead of wrapping.
   *
   * @param a the minuend
   * @param b the subtrahend
   * @return {@code a - b}, saturated
   */
  public static long saturatedSubtract(long a, long b) {
    long difference = a - b;
    // Overflow happened iff the operands have different signs and the result's sign differs from a.
    if (((a ^ b) & (a ^ difference)) < 0) {
      return a < 0 ? Long.MIN_VALUE : Long.MAX_VALUE;
    }
    return difference;
  }

  /**
   * Multiplies two longs, clamping to the long range instead of wrapping.
   *
   * @param a the first factor
   * @param b the second factor
   * @return {@code a * b}, saturated
   */
  public static long saturatedMultiply(long a, long b) {
    long high = Math.multiplyHigh(a, b);
    long low = a * b;
    if ((high == 0 && low >= 0) || (high == -1 && low < 0)) {
      return low;
    }
    return (a < 0) == (b < 0) ? Long.MAX_VALUE : Long.MIN_VALUE;
  }
}
