package dev.shepherd.core;

import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.Require;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.DoubleSupplier;

/**
 * Exponential backoff with a cap and random jitter; build it with {@link Backoff#exponential()}.
 *
 * <p>After {@code n} consecutive failures the wait is zero while {@code n <= graceFailures}; then,
 * with {@code k = n - graceFailures}, the base is {@code initial * multiplier^(k-1)} capped at
 * {@code max}, and the wait is {@code base + base * jitter * r} with {@code r} uniform in
 * {@code [0, 1)}. All arithmetic saturates, so {@code delay(Integer.MAX_VALUE)} is simply the cap
 * plus jitter. Immutable and thread-safe.
 */
public final class ExponentialBackoff implements Backoff {

  private final int graceFailures;
  private final long initialNanos;
  private final double multiplier;
  private final long maxNanos;
  private final double jitter;
  private final DoubleSupplier random;

  private ExponentialBackoff(Builder builder) {
    this.graceFailures = builder.graceFailures;
    this.initialNanos = Durations.toNanosSaturated(builder.initial);
    this.multiplier = builder.multiplier;
    this.maxNanos = Durations.toNanosSaturated(builder.max);
    this.jitter = builder.jitter;
    this.random = builder.random;
  }

  @Override
  public Duration delay(int consecutiveFailures) {
    return Duration.ofNanos(delayNanos(consecutiveFailures));
  }

  /**
   * Returns the wait in nanoseconds, as {@link #delay(int)}.
   *
   * @param consecutiveFailures the failures in a row, zero or more
   * @return the wait in nanoseconds, never negative
   * @throws IllegalArgumentException if {@code consecutiveFailures} is negative
   */
  public long delayNanos(int consecutiveFailures) {
    Require.atLeast(consecutiveFailures, 0, "consecutiveFailures");
    if (consecutiveFailures <= graceFailures) {
      return 0L;
    }
    long base = baseNanos(consecutiveFailures - graceFailures);
    if (jitter == 0.0 || base == 0L) {
      return base;
    }
    double r = random.getAsDouble();
    Require.argument(r >= 0.0 && r < 1.0, "random source must return a value in [0, 1), returned " + r);
    return Durations.saturatedAdd(base, (long) (base * jitter * r));
  }

  /** Returns {@code min(initial * multiplier^(k-1), max)} for {@code k >= 1}, saturated. */
  private long baseNanos(int k) {
    double base = initialNanos * Math.pow(multiplier, k - 1.0);
    if (!(base < maxNanos)) { // also catches infinity
      return maxNanos;
    }
    return (long) base;
  }

  @Override
  public String toString() {
    return "ExponentialBackoff[graceFailures=" + graceFailures
        + ", initial=" + Duration.ofNanos(initialNanos)
        + ", multiplier=" + multiplier
        + ", max=" + Duration.ofNanos(maxNanos)
        + ", jitter=" + jitter + "]";
  }

  /** Builder of {@link ExponentialBackoff}; not thread-safe. */
  public static final class Builder {
    private int graceFailures = 0;
    private Duration initial = Duration.ofMillis(100);
    private double multiplier = 2.0;
    private Duration max = Duration.ofSeconds(30);
    private double jitter = 0.2;
    private DoubleSupplier random = () -> ThreadLocalRandom.current().nextDouble();

    Builder() {}

    /**
     * Sets how many failures in a row pass with no wait at all (default 0; Consul uses 3).
     *
     * @param failures zero or more
     * @return this builder
     * @throws IllegalArgumentException if negative
     */
    public Builder graceFailures(int failures) {
      this.graceFailures = Require.atLeast(failures, 0, "graceFailures");
      return this;
    }

    /**
     * Sets the first non-zero wait (default 100 ms).
     *
     * @param initial a positive duration
     * @return this builder
     * @throws IllegalArgumentException if not positive
     */
    public Builder initial(Duration initial) {
      this.initial = Require.positive(initial, "initial");
      return this;
    }

    /**
     * Sets the factor between two consecutive waits (default 2).
     *
     * @param multiplier at least 1
     * @return this builder
     * @throws IllegalArgumentException if below 1 or not finite
     */
    public Builder multiplier(double multiplier) {
      this.multiplier = Require.inRange(multiplier, 1.0, 1_000.0, "multiplier");
      return this;
    }

    /**
     * Sets the cap of the wait before jitter (default 30 s).
     *
     * @param max a positive duration
     * @return this builder
     * @throws IllegalArgumentException if not positive
     */
    public Builder max(Duration max) {
      this.max = Require.positive(max, "max");
      return this;
    }

    /**
     * Sets the jitter: a random fraction in {@code [0, jitter)} of the wait is added (default 0.2;
     * Consul's stagger is 1.0, up to +100 %).
     *
     * @param jitter between 0 and 1
     * @return this builder
     * @throws IllegalArgumentException if outside {@code [0, 1]}
     */
    public Builder jitter(double jitter) {
      this.jitter = Require.inRange(jitter, 0.0, 1.0, "jitter");
      return this;
    }

    /**
     * Sets the source of uniform randoms in {@code [0, 1)} (default {@link ThreadLocalRandom}); a
     * test seam.
     *
     * @param random the source
     * @return this builder
     */
    public Builder random(DoubleSupplier random) {
      this.random = Require.nonNull(random, "random");
      return this;
    }

    /**
     * Builds the backoff.
     *
     * @return an immutable backoff
     * @throws IllegalArgumentException if {@code max} is less than {@code initial}
     */
    public ExponentialBackoff build() {
      Require.argument(max.compareTo(initial) >= 0,
          "max must be at least initial (" + initial + "), was " + max);
      return new ExponentialBackoff(this);
    }
  }
}
