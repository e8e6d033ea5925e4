package dev.shepherd.pool;

import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.Require;
import dev.shepherd.core.Ticker;
import dev.shepherd.pool.spi.Backend;
import java.time.Duration;
import java.util.Map;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * Builds an {@link ElasticPool}. Not thread-safe; {@link #build()} copies every option, so a
 * builder may be reused.
 */
public final class ElasticPoolBuilder {
  private String name = "pool";
  private @Nullable Backend backend;
  private Ticker ticker = Ticker.system();
  private int min = 0;
  private int max = 1;
  private int maxConcurrency = 100;
  private int maxWaiters = Integer.MAX_VALUE;
  private boolean singleUse;
  private Duration callTimeout = Duration.ofSeconds(30);
  private Duration bootTimeout = Duration.ofSeconds(30);
  private Duration shutdownTimeout = Duration.ofSeconds(30);
  private Duration idleShutdownAfter = Duration.ofSeconds(30);
  private @Nullable IdleCheck idleCheck;
  private Duration minIdleShutdownAfter = Durations.MAX_NANOS;
  private Duration housekeepingInterval = Duration.ofMillis(250);
  private Duration cancelGrace = Duration.ofSeconds(10);
  private @Nullable Map<String, String> environment;
  private @Nullable Consumer<PoolEvent.BootStarted> onGrowStart;
  private @Nullable Consumer<PoolEvent.GrowResult> onGrowEnd;
  private @Nullable Consumer<PoolEvent.Shrink> onShrink;
  private @Nullable Consumer<PoolEvent> eventListener;

  ElasticPoolBuilder() {}

  /**
   * Sets the pool's name, used in runner ids, thread names, logs and events. Default {@code
   * "pool"}.
   *
   * @param name the name, not empty
   * @return this builder
   * @throws NullPointerException if null
   * @throws IllegalArgumentException if empty
   */
  public ElasticPoolBuilder name(String name) {
    this.name = Require.notEmpty(name, "name");
    return this;
  }

  /**
   * Sets the backend that boots runners. Required.
   *
   * @param backend the backend; the pool closes it on {@link ElasticPool#close()}
   * @return this builder
   * @throws NullPointerException if null
   */
  public ElasticPoolBuilder backend(Backend backend) {
    this.backend = Require.nonNull(backend, "backend");
    return this;
  }

  /**
   * Sets the number of runners booted at start and kept while idle. Default 0 (scale to zero).
   * Forced to 0 in a JVM that is itself a runner.
   *
   * @param min 0 or more, at most {@link #max(int)}
   * @return this builder
   * @throws IllegalArgumentException if negative
   */
  public ElasticPoolBuilder min(int min) {
    this.min = Require.atLeast(min, 0, "min");
    return this;
  }

  /**
   * Sets the most runners the pool grows to (booting ones included). Default 1.
   *
   * @param max 1 or more, at least {@link #min(int)}
   * @return this builder
   * @throws IllegalArgumentException if below 1
   */
  public ElasticPoolBuilder max(int max) {
    this.max = Require.atLeast(max, 1, "max");
    return this;
  }

  /**
   * Sets how many calls run on one runner at once before the pool boots another or queues.
   * Default 100.
   *
   * @param maxConcurrency 1 or more
   * @return this builder
   * @throws IllegalArgumentException if below 1
   */
  public ElasticPoolBuilder maxConcurrency(int maxConcurrency) {
    this.maxConcurrency = Require.atLeast(maxConcurrency, 1, "maxConcurrency");
    return this;
  }

  /**
   * Sets how many calls may wait for a runner slot at once (all slots busy, or the pool still
   * booting). A call that finds no free slot while that many wait is refused at once, without
   * being queued, started or booting a runner: {@code call} and {@code placeChild} throw {@link
   * TooManyWaitersException}, the future of {@code callAsync} fails with it, and a {@code cast}
   * logs it. A waiter that leaves (it got a slot, timed out or was cancelled) frees its place.
   * Default {@link Integer#MAX_VALUE}: no bound, as before this option.
   *
   * @param maxWaiters 1 or more
   * @return this builder
   * @throws IllegalArgumentException if below 1
   */
  public ElasticPoolBuilder maxWaiters(int maxWaiters) {
    this.maxWaiters = Require.atLeast(maxWaiters, 1, "maxWaiters");
    return this;
  }

  /**
   * Sets whether each runner runs one call and is then shut down. Default false.
   *
   * @param singleUse true for one call per runner
   * @return this builder
   */
  public ElasticPoolBuilder singleUse(boolean singleUse) {
    this.singleUse = singleUse;
    return this;
  }

  /**
   * Sets the timeout of {@link ElasticPool#call(String, Object)}, {@link ElasticPool#cast} and
   * of waiting for {@link ElasticPool#placeChild(String, Object)}. Default 30 s.
   *
   * @param callTimeout positive
   * @return this builder
   * @throws NullPointerException if null
   * @throws IllegalArgumentException if not positive
   */
  public ElasticPoolBuilder callTimeout(Duration callTimeout) {
    this.callTimeout = Require.positive(callTimeout, "callTimeout");
    return this;
  }

  /**
   * Sets how long a runner may take to boot before it is killed and counted as a failed boot.
   * Default 30 s.
   *
   * @param bootTimeout positive
   * @return this builder
   * @throws NullPointerException if null
   * @throws IllegalArgumentException if not positive
   */
  public ElasticPoolBuilder bootTimeout(Duration bootTimeout) {
    this.bootTimeout = Require.positive(bootTimeout, "bootTimeout");
    return this;
  }

  /**
   * Sets how long {@link ElasticPool#close()} and a retiring runner let calls finish before
   * killing. Default 30 s.
   *
   * @param shutdownTimeout positive
   * @return this builder
   * @throws NullPointerException if null
   * @throws IllegalArgumentException if not positive
   */
  public ElasticPoolBuilder shutdownTimeout(Duration shutdownTimeout) {
    this.shutdownTimeout = Require.positive(shutdownTimeout, "shutdownTimeout");
    return this;
  }

  /**
   * Sets how long a runner beyond {@code min} may sit without calls before it retires. Default
   * 30 s; {@code Duration.ofNanos(Long.MAX_VALUE)} for never.
   *
   * @param idleShutdownAfter positive
   * @return this builder
   * @throws NullPointerException if null
   * @throws IllegalArgumentException if not positive
   */
  public ElasticPoolBuilder idleShutdownAfter(Duration idleShutdownAfter) {
    this.idleShutdownAfter = Require.positive(idleShutdownAfter, "idleShutdownAfter");
    this.idleCheck = null;
    return this;
  }

  /**
   * Sets the idle limit together with an extra check that must also agree before a runner
   * retires.
   *
   * @param idleShutdownAfter positive
   * @param idleCheck asked, outside the lock, once a runner has been idle that long
   * @return this builder
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if the duration is not positive
   */
  public ElasticPoolBuilder idleShutdownAfter(Duration idleShutdownAfter, IdleCheck idleCheck) {
    this.idleShutdownAfter = Require.positive(idleShutdownAfter, "idleShutdownAfter");
    this.idleCheck = Require.nonNull(idleCheck, "idleCheck");
    return this;
  }

  /**
   * Sets how long the last {@code min} runners may sit idle before they retire too. Default
   * never ({@code Duration.ofNanos(Long.MAX_VALUE)}).
   *
   * @param minIdleShutdownAfter positive
   * @return this builder
   * @throws NullPointerException if null
   * @throws IllegalArgumentException if not positive
   */
  public ElasticPoolBuilder minIdleShutdownAfter(Duration minIdleShutdownAfter) {
    this.minIdleShutdownAfter = Require.positive(minIdleShutdownAfter, "minIdleShutdownAfter");
    return this;
  }

  /**
   * Sets the time source for deadlines, idle limits and boot retries. Default {@link
   * Ticker#system()}; tests pass a fake ticker.
   *
   * @param ticker the ticker
   * @return this builder
   * @throws NullPointerException if null
   */
  public ElasticPoolBuilder ticker(Ticker ticker) {
    this.ticker = Require.nonNull(ticker, "ticker");
    return this;
  }

  /**
   * Sets how often the pool sweeps for expired waiters, due boot retries and idle runners.
   * Default 250 ms. Callers blocked in {@code call} time out on their own; the sweep is what
   * notices time read from a fake ticker.
   *
   * @param interval positive
   * @return this builder
   * @throws NullPointerException if null
   * @throws IllegalArgumentException if not positive
   */
  public ElasticPoolBuilder housekeepingInterval(Duration interval) {
    this.housekeepingInterval = Require.positive(interval, "housekeepingInterval");
    return this;
  }

  /**
   * Sets how long a call may keep running after its deadline passed or it was cancelled (a
   * function that ignores interrupts) before the pool gives up on it. Then a remote runner that
   * holds it is killed and replaced (its other calls fail with {@link RunnerDiedException}); on
   * the local backend, whose threads cannot be killed, the call is written off instead: its
   * slot is freed and it counts in {@link PoolSnapshot#stuckCalls()} until it returns. Default
   * 10 s.
   *
   * @param cancelGrace positive
   * @return this builder
   * @throws NullPointerException if null
   * @throws IllegalArgumentException if not positive
   */
  public ElasticPoolBuilder cancelGrace(Duration cancelGrace) {
    this.cancelGrace = Require.positive(cancelGrace, "cancelGrace");
    return this;
  }

  /**
   * Sets the hook called when a runner starts booting.
   *
   * @param onGrowStart the hook, on the boot's thread
   * @return this builder
   * @throws NullPointerException if null
   */
  public ElasticPoolBuilder onGrowStart(Consumer<PoolEvent.BootStarted> onGrowStart) {
    this.onGrowStart = Require.nonNull(onGrowStart, "onGrowStart");
    return this;
  }

  /**
   * Sets the hook called when a boot ends, with its result.
   *
   * @param onGrowEnd the hook, on the boot's thread
   * @return this builder
   * @throws NullPointerException if null
   */
  public ElasticPoolBuilder onGrowEnd(Consumer<PoolEvent.GrowResult> onGrowEnd) {
    this.onGrowEnd = Require.nonNull(onGrowEnd, "onGrowEnd");
    return this;
  }

  /**
   * Sets the hook called when a runner leaves the pool, retired or dead.
   *
   * @param onShrink the hook
   * @return this builder
   * @throws NullPointerException if null
   */
  public ElasticPoolBuilder onShrink(Consumer<PoolEvent.Shrink> onShrink) {
    this.onShrink = Require.nonNull(onShrink, "onShrink");
    return this;
  }

  /**
   * Sets a listener for every {@link PoolEvent}.
   *
   * @param eventListener the listener
   * @return this builder
   * @throws NullPointerException if null
   */
  public ElasticPoolBuilder eventListener(Consumer<PoolEvent> eventListener) {
    this.eventListener = Require.nonNull(eventListener, "eventListener");
    return this;
  }

  /** Test seam: the environment in which runner detection looks for {@code SHEPHERD_POOL_PARENT}. */
  ElasticPoolBuilder environment(Map<String, String> environment) {
    this.environment = Map.copyOf(environment);
    return this;
  }

  /**
   * Builds and starts the pool: {@code min} runners start booting in the background.
   *
   * @return the running pool
   * @throws NullPointerException if no backend was set
   * @throws IllegalArgumentException if {@code min > max}
   */
  public ElasticPool build() {
    return new ElasticPool(config());
  }

  /**
   * Returns the configuration {@link #build()} would use, checked, without starting anything.
   *
   * @return the immutable configuration ({@code min} forced to 0 in a JVM that is a runner)
   * @throws NullPointerException if no backend was set
   * @throws IllegalArgumentException if {@code min > max}
   */
  public ElasticPoolConfig config() {
    Backend b = Require.nonNull(backend, "backend");
    PoolState.checkBounds(min, max);
    Map<String, String> env = environment == null ? System.getenv() : environment;
    boolean isRunner = RunnerEnvironment.isRunner(env);
    return new ElasticPoolConfig(
        name,
        b,
        ticker,
        isRunner ? 0 : min,
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
        maxWaiters);
  }
}
