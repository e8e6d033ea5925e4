package dev.shepherd.pool;

import dev.shepherd.core.internal.Require;
import dev.shepherd.core.Ticker;
import dev.shepherd.pool.spi.Backend;
import java.time.Duration;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * The configuration of an {@link ElasticPool}, as its {@link ElasticPoolBuilder} produced it:
 * immutable, readable through {@link ElasticPool#config()} (to log it, or to derive metrics from
 * it instead of repeating the settings). Each component is documented on the builder option of
 * the same name.
 *
 * @param name the pool's name
 * @param backend what boots runners
 * @param ticker the time source of deadlines, idle limits and boot retries
 * @param min runners booted at start and kept (0 in a JVM that is itself a runner); {@link
 *     ElasticPool#resize} changes the live value, shown in {@link PoolSnapshot#min()}
 * @param max most runners at build time; the live value is {@link PoolSnapshot#max()}
 * @param maxConcurrency calls per runner at once
 * @param singleUse whether a runner runs one call and retires
 * @param callTimeout default timeout of a call, a cast, and the placement of a child
 * @param bootTimeout how long a boot may take
 * @param shutdownTimeout grace for a retiring runner and for close
 * @param idleShutdownAfter idle time after which runners beyond min retire
 * @param idleCheck the extra check before an idle runner retires, or null
 * @param minIdleShutdownAfter idle time after which the last min runners retire too
 * @param housekeepingInterval how often expired waiters, boot retries and idle runners are swept
 * @param cancelGrace how long a call may run on after its deadline or cancel
 * @param isRunner whether this JVM is itself a runner ({@link RunnerEnvironment#isRunner()})
 * @param onGrowStart hook on a boot's start, or null
 * @param onGrowEnd hook on a boot's end, or null
 * @param onShrink hook on a runner leaving, or null
 * @param eventListener listener of every event, or null
 * @param maxWaiters most calls that wait for a runner slot at once; one more is refused with
 *     {@link TooManyWaitersException} ({@link Integer#MAX_VALUE}, the default, for no bound)
 */
public record ElasticPoolConfig(
    String name,
    Backend backend,
    Ticker ticker,
    int min,
    int max,
    int maxConcurrency,
    boolean singleUse,
    Duration callTimeout,
    Duration bootTimeout,
    Duration shutdownTimeout,
    Duration idleShutdownAfter,
    @Nullable IdleCheck idleCheck,
    Duration minIdleShutdownAfter,
    Duration housekeepingInterval,
    Duration cancelGrace,
    boolean isRunner,
    @Nullable Consumer<PoolEvent.BootStarted> onGrowStart,
    @Nullable Consumer<PoolEvent.GrowResult> onGrowEnd,
    @Nullable Consumer<PoolEvent.Shrink> onShrink,
    @Nullable Consumer<PoolEvent> eventListener,
    int maxWaiters) {

  /**
   * Checks the components.
   *
   * @throws NullPointerException if a required component is null
   * @throws IllegalArgumentException if a bound or duration is out of range
   */
  public ElasticPoolConfig {
    Require.notEmpty(name, "name");
    Require.nonNull(backend, "backend");
    Require.nonNull(ticker, "ticker");
    PoolState.checkBounds(min, max);
    Require.atLeast(maxConcurrency, 1, "maxConcurrency");
    Require.positive(callTimeout, "callTimeout");
    Require.positive(bootTimeout, "bootTimeout");
    Require.positive(shutdownTimeout, "shutdownTimeout");
    Require.positive(idleShutdownAfter, "idleShutdownAfter");
    Require.positive(minIdleShutdownAfter, "minIdleShutdownAfter");
    Require.positive(housekeepingInterval, "housekeepingInterval");
    Require.positive(cancelGrace, "cancelGrace");
    Require.atLeast(maxWaiters, 1, "maxWaiters");
  }

  /**
   * The configuration without a bound on waiting calls ({@code maxWaiters} {@link
   * Integer#MAX_VALUE}), as before that component existed; kept for source and binary
   * compatibility.
   *
   * @param name the pool's name
   * @param backend what boots runners
   * @param ticker the time source of deadlines, idle limits and boot retries
   * @param min runners booted at start and kept
   * @param max most runners at build time
   * @param maxConcurrency calls per runner at once
   * @param singleUse whether a runner runs one call and retires
   * @param callTimeout default timeout of a call, a cast, and the placement of a child
   * @param bootTimeout how long a boot may take
   * @param shutdownTimeout grace for a retiring runner and for close
   * @param idleShutdownAfter idle time after which runners beyond min retire
   * @param idleCheck the extra check before an idle runner retires, or null
   * @param minIdleShutdownAfter idle time after which the last min runners retire too
   * @param housekeepingInterval how often expired waiters, boot retries and idle runners are swept
   * @param cancelGrace how long a call may run on after its deadline or cancel
   * @param isRunner whether this JVM is itself a runner
   * @param onGrowStart hook on a boot's start, or null
   * @param onGrowEnd hook on a boot's end, or null
   * @param onShrink hook on a runner leaving, or null
   * @param eventListener listener of every event, or null
   * @throws NullPointerException if a required component is null
   * @throws IllegalArgumentException if a bound or duration is out of range
   */
  public ElasticPoolConfig(
      String name,
      Backend backend,
      Ticker ticker,
      int min,
      int max,
      int maxConcurrency,
      boolean singleUse,
      Duration callTimeout,
      Duration bootTimeout,
      Duration shutdownTimeout,
      Duration idleShutdownAfter,
      @Nullable IdleCheck idleCheck,
      Duration minIdleShutdownAfter,
      Duration housekeepingInterval,
      Duration cancelGrace,
      boolean isRunner,
      @Nullable Consumer<PoolEvent.BootStarted> onGrowStart,
      @Nullable Consumer<PoolEvent.GrowResult> onGrowEnd,
      @Nullable Consumer<PoolEvent.Shrink> onShrink,
      @Nullable Consumer<PoolEvent> eventListener) {
    this(
        name,
        backend,
        ticker,
        min,
        max,
        maxConcurrency,
        singleUse,
        callTimeout,
        bootTimeout,
        shutdownTimeout,
        idleShutdownAfter,
        idleCheck,
        minIdleShutdownAfter,
        housekeepingInterval,
        cancelGrace,
        isRunner,
        onGrowStart,
        onGrowEnd,
        onShrink,
        eventListener,
        Integer.MAX_VALUE);
  }
}
