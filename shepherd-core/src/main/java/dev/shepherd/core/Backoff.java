package dev.shepherd.core;

import dev.shepherd.core.internal.Require;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.DoubleSupplier;

/**
 * A schedule of waits after consecutive failures: {@code delay(1)} after the first failure,
 * {@code delay(2)} after the second, and so on; a success resets the count to zero.
 *
 * <p>Two kinds are provided:
 *
 * <ul>
 *   <li>{@link #exponential()}: {@code initial * multiplier^(n-1)}, capped at {@code max}, plus a
 *       random jitter of up to a fraction of that wait;
 *   <li>{@link #consul()}: the schedule of HashiCorp Consul's agent cache: no wait for
 *       the first 3 consecutive failures, then {@code 2^(n-3)} seconds capped at 60 s, plus a random
 *       stagger of up to +100 % (so at most 120 s).
 * </ul>
 *
 * <p>Implementations are thread-safe; the provided ones are immutable and draw their randomness from
 * {@link ThreadLocalRandom} unless a source is given (a test seam).
 */
@FunctionalInterface
public interface Backoff {

  /**
   * Returns the wait after {@code consecutiveFailures} failures in a row.
   *
   * @param consecutiveFailures the failures in a row, zero or more; zero always gives no wait
   * @return the wait, never negative
   * @throws IllegalArgumentException if {@code consecutiveFailures} is negative
   */
  Duration delay(int consecutiveFailures);

  /**
   * Returns a builder of exponential backoff with defaults: initial 100 ms, multiplier 2, max 30 s,
   * jitter 0.2.
   *
   * @return a new builder
   */
  static ExponentialBackoff.Builder exponential() {
    return new ExponentialBackoff.Builder();
  }

  /**
   * Returns Consul's schedule: zero for failures 1 to 3, then {@code 2^(n-3)} s capped at 60 s, plus
   * a uniformly random stagger in {@code [0, wait)}.
   *
   * @return the Consul preset
   */
  static Backoff consul() {
    return consul(() -> ThreadLocalRandom.current().nextDouble());
  }

  /**
   * Returns Consul's schedule with the given source of uniform randoms in {@code [0, 1)}.
   *
   * @param random the random source, called once per non-zero delay
   * @return the Consul preset
   */
  static Backoff consul(DoubleSupplier random) {
    return exponential()
        .graceFailures(3)
        .initial(Duration.ofSeconds(1))
        .multiplier(2)
        .max(Duration.ofSeconds(60))
        .jitter(1.0)
        .random(random)
        .build();
  }

  /**
   * Returns a backoff that always waits the same time (no jitter).
   *
   * @param wait the wait after every failure
   * @return the fixed backoff
   * @throws IllegalArgumentException if {@code wait} is negative
   */
  static Backoff fixed(Duration wait) {
    Duration checked = Require.nonNegative(wait, "wait");
    return failures -> {
      Require.atLeast(failures, 0, "consecutiveFailures");
      return failures == 0 ? Duration.ZERO : checked;
    };
  }
}
