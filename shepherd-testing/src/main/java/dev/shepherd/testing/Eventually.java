package dev.shepherd.testing;

import dev.shepherd.core.internal.Require;
import java.time.Duration;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;
import org.awaitility.pollinterval.IterativePollInterval;

/**
 * Waiting in a test for what another thread, process or server will make true: Awaitility, set up
 * once the way real-server tests need it.
 *
 * <pre>{@code
 * Eventually.await("every subscriber has v2")
 *     .until(() -> sink.lastValues().stream().allMatch("v2"::equals));
 * }</pre>
 *
 * <p>What it adds to a bare {@code Awaitility.await()}:
 *
 * <ul>
 *   <li><b>A name.</b> A condition that does not come true fails with {@code Condition with alias
 *       'every subscriber has v2' didn't complete within 30 seconds}, not with a lambda's class name.
 *   <li><b>A bound for shared machines.</b> The bound (30 s unless given) is a ceiling that only a
 *       broken system reaches, never a performance claim: tests assert outcomes, not durations. On a
 *       slow CI machine, raise every bound at once with the system property {@value #TIME_SCALE}
 *       (a whole number from 1 to 20, for example {@code -Dshepherd.test.timeScale=3}).
 *   <li><b>A fast first look.</b> The condition is checked at once, then after 1 ms, doubling to
 *       at most 100 ms between checks: a condition that is already true costs nothing, and a long
 *       wait does not spin.
 * </ul>
 *
 * <p>Everything else is Awaitility's {@link ConditionFactory}: chain {@code until},
 * {@code untilAsserted}, {@code ignoreExceptions()} and the rest as usual.
 */
public final class Eventually {

  /** The system property that multiplies every bound: {@value}. */
  public static final String TIME_SCALE = "shepherd.test.timeScale";

  /** The bound used when none is given: 30 seconds (before scaling). */
  public static final Duration DEFAULT_BOUND = Duration.ofSeconds(30);

  private static final Duration FIRST_POLL = Duration.ofMillis(1);
  private static final Duration LONGEST_POLL = Duration.ofMillis(100);

  private Eventually() {}

  /**
   * Waits for a named condition, at most {@link #DEFAULT_BOUND} (scaled).
   *
   * @param what what is awaited, in words, as the failure should name it
   * @return an Awaitility condition factory; call {@code until} or {@code untilAsserted} on it
   * @throws IllegalArgumentException if {@code what} is blank, or {@value #TIME_SCALE} is not a
   *     whole number from 1 to 20
   */
  public static ConditionFactory await(String what) {
    return await(what, DEFAULT_BOUND);
  }

  /**
   * Waits for a named condition, at most {@code bound} (scaled).
   *
   * @param what what is awaited, in words, as the failure should name it
   * @param bound the longest wait before scaling; must be positive
   * @return an Awaitility condition factory; call {@code until} or {@code untilAsserted} on it
   * @throws IllegalArgumentException if {@code what} is blank, {@code bound} is not positive, or
   *     {@value #TIME_SCALE} is not a whole number from 1 to 20
   */
  public static ConditionFactory await(String what, Duration bound) {
    Require.argument(!Require.notEmpty(what, "what").isBlank(), "what must not be blank");
    return Awaitility.await(what)
        .atMost(scaled(bound))
        .pollDelay(Duration.ZERO)
        .pollInterval(new IterativePollInterval(
            previous -> min(previous.multipliedBy(2), LONGEST_POLL), FIRST_POLL));
  }

  /**
   * A bound multiplied by {@value #TIME_SCALE} (1 when the property is not set).
   *
   * @param bound the bound on a quiet machine; must be positive
   * @return the bound to use here
   * @throws IllegalArgumentException if {@code bound} is not positive, or the property is not a
   *     whole number from 1 to 20
   */
  public static Duration scaled(Duration bound) {
    Require.positive(bound, "bound");
    return bound.multipliedBy(timeScale());
  }

  private static int timeScale() {
    String text = System.getProperty(TIME_SCALE);
    if (text == null) {
      return 1;
    }
    int scale;
    try {
      scale = Integer.parseInt(text.strip());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          TIME_SCALE + " must be a whole number from 1 to 20, was \"" + text + "\"", e);
    }
    if (scale < 1 || scale > 20) {
      throw new IllegalArgumentException(TIME_SCALE + " must be from 1 to 20, was " + scale);
    }
    return scale;
  }

  private static Duration min(Duration a, Duration b) {
    return a.compareTo(b) <= 0 ? a : b;
  }
}
