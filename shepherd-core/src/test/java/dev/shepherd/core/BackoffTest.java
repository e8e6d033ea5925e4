package dev.shepherd.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.DoubleRange;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class BackoffTest {

  @Test
  void consulWaitsNothingForTheFirstThreeFailures() {
    Backoff consul = Backoff.consul(() -> 0.0);
    assertThat(consul.delay(0)).isZero();
    assertThat(consul.delay(1)).isZero();
    assertThat(consul.delay(2)).isZero();
    assertThat(consul.delay(3)).isZero();
  }

  @Test
  void consulDoublesFromOneSecondAndCapsAtSixtySeconds() {
    Backoff consul = Backoff.consul(() -> 0.0);
    assertThat(consul.delay(4)).isEqualTo(Duration.ofSeconds(1));
    assertThat(consul.delay(5)).isEqualTo(Duration.ofSeconds(2));
    assertThat(consul.delay(6)).isEqualTo(Duration.ofSeconds(4));
    assertThat(consul.delay(8)).isEqualTo(Duration.ofSeconds(16));
    assertThat(consul.delay(9)).isEqualTo(Duration.ofSeconds(32));
    assertThat(consul.delay(10)).isEqualTo(Duration.ofSeconds(60));
    assertThat(consul.delay(Integer.MAX_VALUE)).isEqualTo(Duration.ofSeconds(60));
  }

  @Test
  void consulStaggerAddsUpToOneHundredPercent() {
    Backoff consul = Backoff.consul(() -> 0.5);
    assertThat(consul.delay(5)).isEqualTo(Duration.ofSeconds(3));
    Backoff almostDouble = Backoff.consul(() -> Math.nextDown(1.0));
    assertThat(almostDouble.delay(20)).isLessThan(Duration.ofSeconds(120)).isGreaterThan(Duration.ofSeconds(119));
  }

  @Test
  void exponentialGrowsByTheMultiplier() {
    Backoff backoff = Backoff.exponential()
        .initial(Duration.ofMillis(100)).multiplier(3).max(Duration.ofSeconds(5)).jitter(0).build();
    assertThat(backoff.delay(1)).isEqualTo(Duration.ofMillis(100));
    assertThat(backoff.delay(2)).isEqualTo(Duration.ofMillis(300));
    assertThat(backoff.delay(3)).isEqualTo(Duration.ofMillis(900));
    assertThat(backoff.delay(5)).isEqualTo(Duration.ofSeconds(5));
  }

  @Test
  void fixedWaitsTheSameAfterEveryFailure() {
    Backoff fixed = Backoff.fixed(Duration.ofSeconds(10));
    assertThat(fixed.delay(0)).isZero();
    assertThat(fixed.delay(1)).isEqualTo(Duration.ofSeconds(10));
    assertThat(fixed.delay(1_000)).isEqualTo(Duration.ofSeconds(10));
  }

  @Test
  void badArgumentsNameTheValueAndTheLimit() {
    assertThatThrownBy(() -> Backoff.exponential().initial(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("initial must be positive, was PT0S");
    assertThatThrownBy(() -> Backoff.exponential().jitter(1.5))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("jitter must be between 0.0 and 1.0, was 1.5");
    assertThatThrownBy(() -> Backoff.exponential().multiplier(0.5))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("multiplier must be between 1.0");
    assertThatThrownBy(() -> Backoff.exponential().initial(Duration.ofSeconds(10)).max(Duration.ofSeconds(1)).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessage("max must be at least initial (PT10S), was PT1S");
    assertThatThrownBy(() -> Backoff.consul().delay(-1))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("consecutiveFailures must be at least 0, was -1");
    assertThatThrownBy(() -> Backoff.fixed(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("wait must not be negative, was PT-1S");
  }

  @Property
  void consulDelayStaysWithinItsBounds(
      @ForAll @IntRange(min = 0, max = Integer.MAX_VALUE) int failures,
      @ForAll @DoubleRange(min = 0.0, max = 1.0, maxIncluded = false) double random) {
    Duration delay = Backoff.consul(() -> random).delay(failures);
    if (failures <= 3) {
      assertThat(delay).isZero();
    } else {
      long base = failures - 3 >= 7 ? 60 : 1L << (failures - 4);
      assertThat(delay).isBetween(Duration.ofSeconds(base), Duration.ofSeconds(2 * base));
    }
  }

  @Property
  void exponentialBaseNeverDecreasesAsFailuresGrow(
      @ForAll @IntRange(min = 1, max = 10_000) int failures,
      @ForAll @DoubleRange(min = 1.0, max = 10.0) double multiplier) {
    Backoff backoff = Backoff.exponential()
        .initial(Duration.ofNanos(1)).multiplier(multiplier).max(Duration.ofDays(365)).jitter(0).build();
    assertThat(backoff.delay(failures + 1)).isGreaterThanOrEqualTo(backoff.delay(failures));
    assertThat(backoff.delay(failures)).isLessThanOrEqualTo(Duration.ofDays(365));
  }
}
