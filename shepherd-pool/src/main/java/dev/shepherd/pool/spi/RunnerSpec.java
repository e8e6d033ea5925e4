package dev.shepherd.pool.spi;

import dev.shepherd.core.internal.Require;
import java.time.Duration;

/**
 * What a {@link Backend} needs to know to boot one runner.
 *
 * @param poolName the name of the pool the runner belongs to
 * @param runnerId the runner's id, unique in the pool (for example {@code "reports-3"}); backends
 *     tag logs and resources with it
 * @param bootTimeout how long the boot may take; a backend kills a runner that is not ready by then
 * @param shutdownTimeout how long a retiring runner may finish its calls
 * @param idleShutdownAfter how long a remote runner may sit without calls before it exits by itself
 *     (a backstop for a parent that can no longer tell it to stop); {@code
 *     Duration.ofNanos(Long.MAX_VALUE)} for never
 * @param maxConcurrency how many calls the pool runs on it at once
 */
public record RunnerSpec(
    String poolName,
    String runnerId,
    Duration bootTimeout,
    Duration shutdownTimeout,
    Duration idleShutdownAfter,
    int maxConcurrency) {

  /**
   * Checks the components.
   *
   * @throws NullPointerException if a component is null
   * @throws IllegalArgumentException if a duration is not positive or maxConcurrency is below 1
   */
  public RunnerSpec {
    Require.notEmpty(poolName, "poolName");
    Require.notEmpty(runnerId, "runnerId");
    Require.positive(bootTimeout, "bootTimeout");
    Require.positive(shutdownTimeout, "shutdownTimeout");
    Require.positive(idleShutdownAfter, "idleShutdownAfter");
    Require.atLeast(maxConcurrency, 1, "maxConcurrency");
  }
}
