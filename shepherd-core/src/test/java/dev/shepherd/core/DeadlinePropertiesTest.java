package dev.shepherd.core;

import dev.shepherd.core.internal.Durations;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;

class DeadlinePropertiesTest {

  @Property
  void remainingIsNeverNegativeNorMoreThanTheTimeout(
      @ForAll long start, @ForAll long timeoutSeconds, @ForAll @IntRange(min = 0, max = 999_999_999) int timeoutNanos, @ForAll long advance) {
    ManualTicker ticker = new ManualTicker(start);
    Duration timeout = Duration.ofSeconds(timeoutSeconds, timeoutNanos);
    Deadline deadline = Deadline.after(timeout, ticker);
    ticker.advance(advance);
    long remaining = deadline.remainingNanos();
    assertThat(remaining).isBetween(0L, Long.MAX_VALUE);
    assertThat(remaining).isLessThanOrEqualTo(Math.max(0L, Durations.toNanosSaturated(timeout)));
  }

  @Property
  void remainingPlusElapsedIsTheTimeoutUntilExpiry(
      @ForAll long start,
      @ForAll @LongRange(min = 1, max = Long.MAX_VALUE - 1) long timeout,
      @ForAll @LongRange(min = 0, max = Long.MAX_VALUE) long advance) {
    ManualTicker ticker = new ManualTicker(start);
    Deadline deadline = Deadline.after(Duration.ofNanos(timeout), ticker);
    ticker.advance(advance);
    if (advance < timeout) {
      assertThat(deadline.remainingNanos() + advance).isEqualTo(timeout);
      assertThat(deadline.isExpired()).isFalse();
    } else {
      assertThat(deadline.remainingNanos()).isZero();
      assertThat(deadline.isExpired()).isTrue();
    }
  }

  @Property
  void saturatedAddMatchesExactArithmeticClamped(@ForAll long a, @ForAll long b) {
    java.math.BigInteger exact = java.math.BigInteger.valueOf(a).add(java.math.BigInteger.valueOf(b));
    assertThat(Durations.saturatedAdd(a, b)).isEqualTo(clamp(exact));
  }

  @Property
  void saturatedSubtractMatchesExactArithmeticClamped(@ForAll long a, @ForAll long b) {
    java.math.BigInteger exact =
        java.math.BigInteger.valueOf(a).subtract(java.math.BigInteger.valueOf(b));
    assertThat(Durations.saturatedSubtract(a, b)).isEqualTo(clamp(exact));
  }

  @Property
  void saturatedMultiplyMatchesExactArithmeticClamped(@ForAll long a, @ForAll long b) {
    java.math.BigInteger exact =
        java.math.BigInteger.valueOf(a).multiply(java.math.BigInteger.valueOf(b));
    assertThat(Durations.saturatedMultiply(a, b)).isEqualTo(clamp(exact));
  }

  @Property
  void toNanosSaturatedMatchesExactConversionClamped(@ForAll long seconds, @ForAll @IntRange(min = 0, max = 999_999_999) int nanos) {
    Duration duration = Duration.ofSeconds(seconds, nanos);
    java.math.BigInteger exact = java.math.BigInteger.valueOf(duration.getSeconds())
        .multiply(java.math.BigInteger.valueOf(1_000_000_000L))
        .add(java.math.BigInteger.valueOf(duration.getNano()));
    assertThat(Durations.toNanosSaturated(duration)).isEqualTo(clamp(exact));
  }

  private static long clamp(java.math.BigInteger value) {
    if (value.compareTo(java.math.BigInteger.valueOf(Long.MAX_VALUE)) > 0) {
      return Long.MAX_VALUE;
    }
    if (value.compareTo(java.math.BigInteger.valueOf(Long.MIN_VALUE)) < 0) {
      return Long.MIN_VALUE;
    }
    return value.longValueExact();
  }
}
