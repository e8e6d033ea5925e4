package dev.shepherd.pool;

import dev.shepherd.core.internal.Durations;
import dev.shepherd.pool.spi.RunningCall;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.jspecify.annotations.Nullable;

/**
 * A pool of runners that boots runners when calls need them, spreads calls over them with per-call
 * deadlines, and shuts runners down when they sit idle. (The design follows the pool of Elixir's
 * FLAME library, which runs functions on short-lived copies of an application.)
 *
 * <pre>{@code
 * FunctionRegistry functions = FunctionRegistry.builder()
 *     .register("square", x -> (Long) x * (Long) x)
 *     .build();
 * try (ElasticPool pool = ElasticPool.builder()
 *     .name("squares")
 *     .backend(LocalBackend.of(functions))
 *     .min(0)
 *     .max(4)
 *     .maxConcurrency(10)
 *     .build()) {
 *   Object nine = pool.call("square", 3L, Duration.ofSeconds(5));   // 9L
 * }
 * }</pre>
 *
 * <p>A runner is whatever the {@link dev.shepherd.pool.spi.Backend} boots: threads in this JVM ({@link
 * LocalBackend}), a child JVM ({@link ProcessBackend}), a Kubernetes Pod. A call names a function
 * registered in the backend's {@link FunctionRegistry} and passes one argument.
 *
 * <h2>Checkout</h2>
 *
 * A call goes to the least-loaded ready runner that has fewer than {@code maxConcurrency} calls.
 * If there is none, the call waits in a FIFO queue; if the runners (ready, draining and booting)
 * are fewer than {@code max}, the pool boots one in the background for every {@code maxConcurrency}
 * waiters not already covered by a boot, and the caller waits in the queue, not on the boot: a slot
 * freed elsewhere first goes to it. A freed slot goes straight to the head waiter. A waiter whose
 * deadline passes, or whose future is cancelled, leaves the queue without disturbing the others,
 * with a {@link CallTimeoutException} whose cause is the pool's last boot failure, if any.
 *
 * <h2>Boots</h2>
 *
 * {@code min} runners boot at build time (in the background) and are kept: a runner retires when
 * idle past {@code idleShutdownAfter} (and the optional {@link IdleCheck} agrees) only while more
 * than {@code min} runners are ready; the last {@code min} retire only after {@code
 * minIdleShutdownAfter} (default never). A failed boot is retried after 1 s, and only while callers
 * wait or the pool is below {@code min}. In a JVM that is itself a runner ({@link
 * RunnerEnvironment#isRunner()}), {@code min} is forced to 0, so runners never boot runners at
 * start.
 *
 * <h2>Failures</h2>
 *
 * If a runner dies, every call on it fails at once with {@link RunnerDiedException}, it leaves the
 * pool, and another boots if callers wait or the pool is below {@code min}. An exception thrown by
 * the function reaches the caller as the cause of a {@link CallFailedException}. When a call's
 * deadline passes while it runs, the caller gets a {@link CallTimeoutException} at once and the
 * work on the runner is cancelled (its thread interrupted); the slot is free when the runner has
 * stopped it.
 *
 * <h2>Thread safety</h2>
 *
 * All methods are thread-safe. Hooks and event listeners run on the thread that caused the event,
 * never under the pool's lock; a hook that throws is logged and ignored.
 */
public final class ElasticPool extends PoolCheckout implements AutoCloseable {

  /*
   * The public face of the pool. The state machine lives in the package-private layers this class
   * extends, each documenting its part: PoolState (the lock and the rule), PoolEvents, PoolBoots,
   * PoolRetirement, PoolCheckout. Inheritance rather than composition so that every layer reads
   * the one guarded state directly, as the single class it replaced did, with no accessors.
   */

  ElasticPool(ElasticPoolConfig config) {
    super(config);
    Effects effects = new Effects();
    lock.lock();
    try {
      planBoots(effects);
    } finally {
      lock.unlock();
    }
    effects.run();
    long interval = Durations.toNanosSaturated(config.housekeepingInterval());
    // Runs until the scheduler shuts down; housekeep() catches its own failures.
    var unusedHousekeeping =
        scheduler.scheduleWithFixedDelay(this::housekeep, interval, interval, TimeUnit.NANOSECONDS);
  }

  /**
   * Returns a builder of a pool.
   *
   * @return a new builder with the defaults documented on each option
   */
  public static ElasticPoolBuilder builder() {
    return new ElasticPoolBuilder();
  }

  /**
   * Returns the pool's configuration as built. The current bounds, which {@link #resize}
   * changes, are in {@link #snapshot()}.
   *
   * @return the immutable configuration
   */
  public ElasticPoolConfig config() {
    return config;
  }

  /**
   * Returns the pool's name.
   *
   * @return the name
   */
  public String name() {
    return config.name();
  }

  // ------------------------------------------------------------------------------------------
  // Calls

  // ------------------------------------------------------------------------------------------
  // Calls

  /**
   * Runs a function on a runner with the pool's call timeout and returns its result.
   *
   * @param function the registered name of the function
   * @param argument its argument, possibly null
   * @return the function's result, possibly null
   * @throws NullPointerException if {@code function} is null
   * @throws IllegalArgumentException if no function has that name (the message lists the
   *     registered ones) or the backend cannot carry the argument
   * @throws IllegalStateException if the pool is closed
   * @throws CallTimeoutException if the call timeout passed while waiting or running
   * @throws CallFailedException if the function threw; the cause is what it threw
   * @throws RunnerDiedException if the runner died during the call
   * @throws PoolClosedException if the pool closed before a slot was free
   * @throws TooManyWaitersException if no slot was free and {@link
   *     ElasticPoolBuilder#maxWaiters(int)} calls already waited (nothing was queued)
   * @throws InterruptedException if the calling thread was interrupted (the call is cancelled)
   */
  public @Nullable Object call(String function, @Nullable Object argument)
      throws InterruptedException {
    return call(function, argument, config.callTimeout());
  }
  /**
   * Runs a function on a runner and returns its result, waiting at most {@code timeout} in total
   * (for a slot, a boot, and the run).
   *
   * @param function the registered name of the function
   * @param argument its argument, possibly null
   * @param timeout the whole call's budget; must be positive
   * @return the function's result, possibly null
   * @throws NullPointerException if {@code function} or {@code timeout} is null
   * @throws IllegalArgumentException if no function has that name (the message lists the
   *     registered ones), the backend cannot carry the argument, or the timeout is not positive
   * @throws IllegalStateException if the pool is closed
   * @throws CallTimeoutException if the timeout passed while waiting or running
   * @throws CallFailedException if the function threw; the cause is what it threw
   * @throws RunnerDiedException if the runner died during the call
   * @throws PoolClosedException if the pool closed before a slot was free
   * @throws TooManyWaitersException if no slot was free and {@link
   *     ElasticPoolBuilder#maxWaiters(int)} calls already waited (nothing was queued)
   * @throws InterruptedException if the calling thread was interrupted (the call is cancelled)
   */
  public @Nullable Object call(String function, @Nullable Object argument, Duration timeout)
      throws InterruptedException {
    Call call = submit(function, argument, timeout, Kind.CALL);
    return await(call);
  }
  /**
   * Runs a function on a runner without blocking, with the pool's call timeout.
   *
   * @param function the registered name of the function
   * @param argument its argument, possibly null
   * @return a future of the result; it fails with the exceptions {@link #call(String, Object,
   *     Duration)} throws; cancelling it cancels the call
   * @throws NullPointerException if {@code function} is null
   * @throws IllegalArgumentException if no function has that name or the argument cannot be
   *     carried
   * @throws IllegalStateException if the pool is closed
   */
  public CompletableFuture<@Nullable Object> callAsync(String function, @Nullable Object argument) {
    return callAsync(function, argument, config.callTimeout());
  }
  /**
   * Runs a function on a runner without blocking.
   *
   * @param function the registered name of the function
   * @param argument its argument, possibly null
   * @param timeout the whole call's budget; must be positive
   * @return a future of the result; it fails with the exceptions {@link #call(String, Object,
   *     Duration)} throws (not wrapped); cancelling it cancels the call
   * @throws NullPointerException if an argument other than {@code argument} is null
   * @throws IllegalArgumentException if no function has that name, the argument cannot be carried,
   *     or the timeout is not positive
   * @throws IllegalStateException if the pool is closed
   */
  public CompletableFuture<@Nullable Object> callAsync(
      String function, @Nullable Object argument, Duration timeout) {
    Call call = submit(function, argument, timeout, Kind.CALL);
    armAsync(call);
    return call.future;
  }
  /**
   * Casts a function to a runner: runs it and forgets it (the name, from Erlang and Elixir,
   * means a message sent without waiting for a reply). There is no result, but the call holds its
   * slot until it ends, and it is bounded by the pool's call timeout (waiting included). A
   * failure is logged.
   *
   * @param function the registered name of the function
   * @param argument its argument, possibly null
   * @throws NullPointerException if {@code function} is null
   * @throws IllegalArgumentException if no function has that name or the argument cannot be
   *     carried
   * @throws IllegalStateException if the pool is closed
   */
  public void cast(String function, @Nullable Object argument) {
    Call call = submit(function, argument, config.callTimeout(), Kind.CAST);
    armAsync(call);
    var unusedCompletion = call.future.whenComplete(
        (result, failure) -> {
          if (failure != null) {
            LOG.log(
                System.Logger.Level.WARNING,
                "pool " + config.name() + ": cast of \"" + function + "\" failed",
                failure);
          }
        });
  }
  /**
   * Places a child on a runner: starts a long-lived task there (a "child" in the Erlang and Elixir
   * sense of a supervised process), waiting at most the pool's call timeout for a slot. The task
   * has no deadline; it holds its slot, and keeps its runner from idling out, until it ends or is
   * cancelled.
   *
   * @param function the registered name of the function
   * @param argument its argument, possibly null
   * @return the handle of the placed task
   * @throws NullPointerException if {@code function} is null
   * @throws IllegalArgumentException if no function has that name or the argument cannot be
   *     carried
   * @throws IllegalStateException if the pool is closed
   * @throws CallTimeoutException if no slot was free in time
   * @throws PoolClosedException if the pool closed before a slot was free
   * @throws TooManyWaitersException if no slot was free and {@link
   *     ElasticPoolBuilder#maxWaiters(int)} calls already waited (nothing was queued)
   * @throws InterruptedException if the calling thread was interrupted while waiting
   */
  public PlacedChild placeChild(String function, @Nullable Object argument)
      throws InterruptedException {
    return placeChild(function, argument, config.callTimeout());
  }
  /**
   * Starts a long-lived task on a runner, waiting at most {@code placementTimeout} for a slot.
   *
   * @param function the registered name of the function
   * @param argument its argument, possibly null
   * @param placementTimeout how long to wait for a slot; must be positive
   * @return the handle of the placed task
   * @throws NullPointerException if {@code function} or {@code placementTimeout} is null
   * @throws IllegalArgumentException if no function has that name, the argument cannot be carried,
   *     or the timeout is not positive
   * @throws IllegalStateException if the pool is closed
   * @throws CallTimeoutException if no slot was free in time
   * @throws PoolClosedException if the pool closed before a slot was free
   * @throws TooManyWaitersException if no slot was free and {@link
   *     ElasticPoolBuilder#maxWaiters(int)} calls already waited (nothing was queued)
   * @throws InterruptedException if the calling thread was interrupted while waiting
   */
  public PlacedChild placeChild(
      String function, @Nullable Object argument, Duration placementTimeout)
      throws InterruptedException {
    Call call = submit(function, argument, placementTimeout, Kind.CHILD);
    try {
      Runner runner = call.placed.get(Durations.toNanosSaturated(placementTimeout), TimeUnit.NANOSECONDS);
      return new Child(call, runner.id);
    } catch (TimeoutException e) {
      expire(call);
      Runner runner = awaitPlacement(call);
      return new Child(call, runner.id);
    } catch (InterruptedException e) {
      cancel(call);
      throw e;
    } catch (ExecutionException e) {
      throw rethrow(e.getCause());
    }
  }

  // ------------------------------------------------------------------------------------------
  // Resize, snapshot, close


  /**
   * Changes the pool's bounds at run time. Growing {@code min} boots runners; lowering {@code max}
   * below the current runner count retires idle runners first, then busy ones once their calls end
   * (they take no new calls meanwhile).
   *
   * @param min the new minimum, 0 or more (forced to 0 in a runner JVM, as at build)
   * @param max the new maximum, at least 1 and at least {@code min}
   * @throws IllegalArgumentException if {@code min < 0}, {@code max < 1} or {@code min > max}
   * @throws IllegalStateException if the pool is closed
   */
  public void resize(int min, int max) {
    resizeTo(min, max);
  }

  /**
   * Returns a consistent picture of the pool's runners, slots and counters.
   *
   * @return the snapshot
   */
  public PoolSnapshot snapshot() {
    lock.lock();
    try {
      List<RunnerInfo> infos = new ArrayList<>(runners.size());
      int ready = 0;
      int draining = 0;
      for (Runner r : runners) {
        infos.add(new RunnerInfo(r.id, r.state, r.active));
        if (r.state == RunnerState.READY) {
          ready++;
        } else {
          draining++;
        }
      }
      return new PoolSnapshot(
          config.name(),
          min,
          max,
          config.maxConcurrency(),
          ready,
          draining,
          boots.size(),
          busy,
          waiting,
          bootCount,
          bootFailureCount,
          deathCount,
          infos,
          stuck);
    } finally {
      lock.unlock();
    }
  }

  /**
   * Closes the pool: new calls fail with {@link IllegalStateException} at once; calls running and
   * waiting may finish for up to {@code shutdownTimeout}; then waiters still queued fail with
   * {@link PoolClosedException}, runners still busy are killed (their calls fail with {@link
   * RunnerDiedException}), idle runners are shut down, and the backend is closed. Idempotent;
   * blocks until done.
   */
  @Override
  public void close() {
    shutdownPool();
  }

  @Override
  public String toString() {
    lock.lock();
    try {
      return "ElasticPool[" + config.name() + ", " + describeLocked() + "]";
    } finally {
      lock.unlock();
    }
  }

  final class Child implements PlacedChild {
    private final Call call;
    private final String runnerId;

    Child(Call call, String runnerId) {
      this.call = call;
      this.runnerId = runnerId;
    }

    @Override
    public String runnerId() {
      return runnerId;
    }

    @Override
    public CompletableFuture<@Nullable Object> completion() {
      return call.future;
    }

    @Override
    public void cancel() {
      call.cancelRequested = true;
      RunningCall remote = call.remote;
      if (remote != null) {
        armGrace(call);
        remote.cancel();
      }
    }
  }
}
