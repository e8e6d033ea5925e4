package dev.shepherd.pool;

import dev.shepherd.core.Deadline;
import dev.shepherd.core.Durations;
import dev.shepherd.core.Require;
import dev.shepherd.core.Ticker;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * A pool of runners that boots runners when calls need them, spreads calls over them with per-call
 * deadlines, and shuts runners down when they sit idle: the JVM form of FLAME's pool.
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
 * <p>A runner is whatever the {@link Backend} boots: virtual threads in this JVM ({@link
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
public final class ElasticPool implements AutoCloseable {

  /*
   * State machine. One ReentrantLock guards everything below; nothing under it calls user code,
   * a backend, or completes a future: each operation collects its side effects (start a call,
   * complete a future, fire an event, boot, shut a runner down) in an Effects list and runs them
   * after unlocking.
   *
   * Runner (class Runner):
   *   BOOTING --boot ok-------------------> READY   (added to `runners`; takes waiters at once;
   *                                                  retired at once instead if a resize() left
   *                                                  the pool at max meanwhile)
   *   BOOTING --boot failed / timed out---> gone    (bootFailures++, retry in 1 s while needed)
   *   READY   --retire (idle, resize,
   *             single-use, close)--------> DRAINING (no new calls; shutdown when active == 0)
   *   DRAINING --active reaches 0---------> DEAD    (removed; backend.shutdown)
   *   READY|DRAINING --backend death------> DEAD    (removed; its calls fail RunnerDiedException)
   *     (reported by the listener, or by a call failing with RunnerDiedException, whichever
   *     comes first: the freed slots must not go to waiters)
   *   A DEAD runner stays dead: a late death report or a late call result is ignored.
   *
   * Call (class Call), for call, callAsync, cast and placeChild alike:
   *   NEW --slot free-------------> RUNNING (runner.active++; started outside the lock)
   *   NEW --no slot---------------> WAITING (in `waiters`, FIFO)
   *   WAITING --slot freed/booted-> RUNNING (head first; a freed slot is handed over directly)
   *   WAITING --deadline/cancel---> DONE    (counted out of `waiting`; the deque entry is skipped
   *                                          lazily, so no other waiter is touched)
   *   RUNNING --result from runner-> DONE   (runner.active--, slot to the head waiter)
   *   RUNNING --deadline/cancel---> RUNNING (caller's future fails now, runner cancels the work;
   *                                          the slot is freed when the runner reports the end)
   *   RUNNING --runner died-------> DONE    (RunnerDiedException)
   *
   * Who wakes whom: a caller blocks only on its own future. Whoever frees a slot (a result, a
   * boot, a resize) pops the head waiter under the lock and starts its call after unlocking. Time
   * is noticed three ways, all funnelled into expire(call): a blocked caller's own timed wait, a
   * timer for async callers, and the housekeeping sweep, which reads the Ticker (so a FakeTicker
   * drives expiry in tests without real waits).
   */

  private static final System.Logger LOG = System.getLogger(ElasticPool.class.getName());

  static final Duration BOOT_RETRY_DELAY = Duration.ofSeconds(1);

  private final Config config;
  private final Backend backend;
  private final Ticker ticker;
  private final ScheduledExecutorService scheduler;
  private final ThreadFactory bootThreads;

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  // ---- guarded by lock ----
  // written under the lock; volatile so boot threads may read them without it
  private volatile int min;
  private volatile int max;
  private final List<Runner> runners = new ArrayList<>();
  private final Set<BootAttempt> boots = new LinkedHashSet<>();
  private final ArrayDeque<Call> waiters = new ArrayDeque<>();
  private int waiting;
  private int busy;
  private boolean retryPending;
  private long retryAtNanos;
  private @Nullable Throwable lastBootFailure;
  private long bootCount;
  private long bootFailureCount;
  private long deathCount;
  private int runnerSequence;
  /** Min runners retired after minIdleShutdownAfter: not re-booted until demand boots them. */
  private int idledOutMin;
  private boolean closed;
  private boolean terminated;
  // ---- end guarded ----

  private ElasticPool(Config config, int min) {
    this.config = config;
    this.backend = config.backend;
    this.ticker = config.ticker;
    this.min = min;
    this.max = config.max;
    String name = config.name;
    ScheduledThreadPoolExecutor executor =
        new ScheduledThreadPoolExecutor(
            1,
            r -> {
              Thread t = new Thread(r, "shepherd-pool-" + name + "-housekeeping");
              t.setDaemon(true);
              return t;
            });
    executor.setRemoveOnCancelPolicy(true);
    this.scheduler = executor;
    this.bootThreads = Thread.ofVirtual().name("shepherd-pool-" + name + "-boot-", 0).factory();
  }

  /**
   * Returns a builder of a pool.
   *
   * @return a new builder with the defaults documented on each option
   */
  public static Builder builder() {
    return new Builder();
  }

  private void start() {
    Effects effects = new Effects();
    lock.lock();
    try {
      planBoots(effects);
    } finally {
      lock.unlock();
    }
    effects.run();
    long interval = Durations.toNanosSaturated(config.housekeepingInterval);
    // Runs until the scheduler shuts down; housekeep() catches its own failures.
    var unusedHousekeeping =
        scheduler.scheduleWithFixedDelay(this::housekeep, interval, interval, TimeUnit.NANOSECONDS);
  }

  /**
   * Returns the pool's name.
   *
   * @return the name
   */
  public String name() {
    return config.name;
  }

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
   * @throws InterruptedException if the calling thread was interrupted (the call is cancelled)
   */
  public @Nullable Object call(String function, @Nullable Object argument)
      throws InterruptedException {
    return call(function, argument, config.callTimeout);
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
    return callAsync(function, argument, config.callTimeout);
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
   * Runs a function on a runner and forgets it: no result, but the call holds its slot until it
   * ends, and it is bounded by the pool's call timeout (waiting included). A failure is logged.
   *
   * @param function the registered name of the function
   * @param argument its argument, possibly null
   * @throws NullPointerException if {@code function} is null
   * @throws IllegalArgumentException if no function has that name or the argument cannot be
   *     carried
   * @throws IllegalStateException if the pool is closed
   */
  public void cast(String function, @Nullable Object argument) {
    Call call = submit(function, argument, config.callTimeout, Kind.CAST);
    armAsync(call);
    var unusedCompletion = call.future.whenComplete(
        (result, failure) -> {
          if (failure != null) {
            LOG.log(
                System.Logger.Level.WARNING,
                "pool " + config.name + ": cast of \"" + function + "\" failed",
                failure);
          }
        });
  }

  /**
   * Starts a long-lived task on a runner, waiting at most the pool's call timeout for a slot. The
   * task has no deadline; it holds its slot, and keeps its runner from idling out, until it ends or
   * is cancelled.
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
   * @throws InterruptedException if the calling thread was interrupted while waiting
   */
  public PlacedChild placeChild(String function, @Nullable Object argument)
      throws InterruptedException {
    return placeChild(function, argument, config.callTimeout);
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

  private Runner awaitPlacement(Call call) throws InterruptedException {
    try {
      return call.placed.get();
    } catch (ExecutionException e) {
      throw rethrow(e.getCause());
    }
  }

  private enum Kind {
    CALL,
    CAST,
    CHILD
  }

  private Call submit(String function, @Nullable Object argument, Duration timeout, Kind kind) {
    Require.nonNull(function, "function");
    Require.positive(timeout, "timeout");
    if (closedVolatile) {
      throw closedError();
    }
    FunctionRegistry registry = backend.functions();
    if (!registry.contains(function)) {
      throw registry.unknown(function);
    }
    Object prepared = backend.prepare(function, argument);
    Call call =
        new Call(
            function,
            prepared,
            Deadline.after(timeout, ticker),
            kind,
            Durations.toNanosSaturated(timeout));
    Effects effects = new Effects();
    Runner runner;
    lock.lock();
    try {
      if (closed) {
        throw closedError();
      }
      runner = leastLoaded();
      if (runner != null) {
        assign(call, runner);
      } else {
        call.state = CallState.WAITING;
        waiters.addLast(call);
        waiting++;
        planBoots(effects);
      }
    } finally {
      lock.unlock();
    }
    if (runner != null) {
      startOnRunner(call, runner); // the fast path: no effect list
    } else {
      effects.run();
    }
    return call;
  }

  private IllegalStateException closedError() {
    return new IllegalStateException("pool " + config.name + " is closed");
  }

  private volatile boolean closedVolatile;

  /** Blocks for a call's outcome, expiring it when its deadline passes. */
  private @Nullable Object await(Call call) throws InterruptedException {
    try {
      long remaining = call.deadline.remainingNanos();
      return call.future.get(remaining, TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      expire(call);
      return awaitDone(call);
    } catch (InterruptedException e) {
      cancel(call);
      throw e;
    } catch (ExecutionException e) {
      throw rethrow(e.getCause());
    }
  }

  /** Waits for a future that expire() has already completed (or a result that won the race). */
  private @Nullable Object awaitDone(Call call) throws InterruptedException {
    try {
      return call.future.get();
    } catch (ExecutionException e) {
      throw rethrow(e.getCause());
    }
  }

  private static RuntimeException rethrow(@Nullable Throwable cause) {
    if (cause instanceof RuntimeException runtime) {
      return runtime;
    }
    if (cause instanceof Error error) {
      throw error;
    }
    return new CallFailedException("call failed", cause == null ? new IllegalStateException() : cause);
  }

  /** Arms the deadline timer and cancellation of an async call. */
  private void armAsync(Call call) {
    long remaining = call.deadline.remainingNanos();
    if (remaining != Long.MAX_VALUE && !call.future.isDone()) {
      ScheduledFuture<?> timer =
          scheduler.schedule(() -> expire(call), remaining, TimeUnit.NANOSECONDS);
      var unusedTimerCancel = call.future.whenComplete((r, t) -> timer.cancel(false));
    }
    var unusedCancelHook = call.future.whenComplete(
        (r, t) -> {
          if (t instanceof CancellationException) {
            cancel(call);
          }
        });
  }

  /** The deadline of a call passed: fail its future, leave the queue or cancel on the runner. */
  private void expire(Call call) {
    Effects effects = new Effects();
    RunningCall toCancel = null;
    Throwable failure = null;
    lock.lock();
    try {
      if (call.state == CallState.WAITING) {
        timeOutWaiterLocked(call, effects);
      } else if (call.state == CallState.RUNNING && call.kind != Kind.CHILD) {
        call.cancelRequested = true;
        toCancel = call.remote;
        failure =
            new CallTimeoutException(
                "pool "
                    + config.name
                    + ": \""
                    + call.function
                    + "\" did not finish on runner "
                    + (call.runner == null ? "?" : call.runner.id)
                    + " within "
                    + Duration.ofNanos(call.timeoutNanos)
                    + "; cancelled on the runner",
                true,
                null);
      } else {
        return;
      }
    } finally {
      lock.unlock();
    }
    effects.run();
    // The caller's outcome first: the cancel may complete the runner's result at once.
    if (failure != null) {
      call.fail(failure);
    }
    if (toCancel != null) {
      toCancel.cancel();
    }
  }

  /** The caller gave up (interrupt or cancelled future). */
  private void cancel(Call call) {
    RunningCall toCancel = null;
    lock.lock();
    try {
      switch (call.state) {
        case WAITING -> {
          call.state = CallState.DONE;
          waiting--;
          if (closed) {
            changed.signalAll();
          }
        }
        case RUNNING -> {
          call.cancelRequested = true;
          toCancel = call.remote;
        }
        default -> {
          return;
        }
      }
    } finally {
      lock.unlock();
    }
    call.fail(new CancellationException("call of \"" + call.function + "\" cancelled"));
    if (toCancel != null) {
      toCancel.cancel();
    }
  }

  // ------------------------------------------------------------------------------------------
  // Slots (all *Locked / assign / planBoots run under the lock)

  private @Nullable Runner leastLoaded() {
    Runner best = null;
    int limit = config.maxConcurrency;
    for (int i = 0, n = runners.size(); i < n; i++) {
      Runner r = runners.get(i);
      if (r.state == RunnerState.READY && r.active < limit && (best == null || r.active < best.active)) {
        best = r;
        if (r.active == 0) {
          break;
        }
      }
    }
    return best;
  }

  private void assign(Call call, Runner runner) {
    call.state = CallState.RUNNING;
    call.runner = runner;
    runner.active++;
    busy++;
    runner.calls.add(call);
    if (config.singleUse) {
      runner.state = RunnerState.DRAINING;
      runner.retireReason = PoolEvent.RetireReason.SINGLE_USE;
    }
  }

  /** Hands free slots of ready runners to waiters, head first. */
  private void drainWaitersLocked(Effects effects) {
    while (waiting > 0) {
      Call head = waiters.peekFirst();
      if (head == null) {
        break;
      }
      if (head.state != CallState.WAITING) {
        waiters.pollFirst();
        continue;
      }
      if (head.deadline.isExpired()) {
        // Noticed here (a fake ticker, or a caller not yet woken): it leaves, the slot moves on.
        waiters.pollFirst();
        timeOutWaiterLocked(head, effects);
        continue;
      }
      Runner runner = leastLoaded();
      if (runner == null) {
        break;
      }
      waiters.pollFirst();
      waiting--;
      assign(head, runner);
      effects.add(() -> startOnRunner(head, runner));
    }
  }

  /** A waiter's deadline passed: it leaves (its deque entry is skipped later) with a timeout. */
  private void timeOutWaiterLocked(Call call, Effects effects) {
    call.state = CallState.DONE;
    waiting--;
    CallTimeoutException failure =
        new CallTimeoutException(
            "pool "
                + config.name
                + ": no runner slot for \""
                + call.function
                + "\" within "
                + Duration.ofNanos(call.timeoutNanos)
                + " ("
                + describeLocked()
                + ")",
            false,
            lastBootFailure);
    effects.add(() -> call.fail(failure));
    if (closed) {
      changed.signalAll();
    }
  }

  /** Starts the boots the current demand needs. */
  private void planBoots(Effects effects) {
    if (closed) {
      return;
    }
    if (retryPending) {
      if (ticker.read() - retryAtNanos < 0) {
        return;
      }
      retryPending = false;
    }
    int perRunner = config.singleUse ? 1 : config.maxConcurrency;
    while (runners.size() + boots.size() < max) {
      int ready = countReady();
      boolean belowMin = ready + boots.size() + idledOutMin < min;
      boolean demand = (long) boots.size() * perRunner < waiting;
      if (!belowMin && !demand) {
        break;
      }
      BootAttempt boot = new BootAttempt(config.name + "-" + ++runnerSequence);
      boots.add(boot);
      int count = runners.size() + boots.size();
      effects.add(() -> launch(boot, count));
      if (lastBootFailure != null) {
        break; // after a failure, one boot at a time until one succeeds
      }
    }
  }

  private int countReady() {
    int ready = 0;
    for (int i = 0, n = runners.size(); i < n; i++) {
      if (runners.get(i).state == RunnerState.READY) {
        ready++;
      }
    }
    return ready;
  }

  private String describeLocked() {
    return "runners="
        + runners.size()
        + ", booting="
        + boots.size()
        + ", busy="
        + busy
        + ", waiters="
        + waiting
        + ", max="
        + max
        + "x"
        + config.maxConcurrency;
  }

  // ------------------------------------------------------------------------------------------
  // Running a call on a runner (outside the lock)

  private void startOnRunner(Call call, Runner runner) {
    if (call.kind == Kind.CHILD) {
      call.placed.complete(runner);
    }
    RunningCall remote;
    try {
      Duration runFor =
          call.kind == Kind.CHILD ? Durations.MAX_NANOS : call.deadline.remaining();
      remote = runner.handle.start(call.function, call.prepared, runFor);
    } catch (RunnerDiedException e) {
      // The runner is gone though its listener may not have said so yet. The call was never sent,
      // so it ran nowhere: it goes back to the head of the queue for the replacement instead of
      // failing. Then the runner is taken out of service now, or its freed slot would go to the
      // next waiter, fail the same way, and so on down the whole queue.
      requeueUnsent(call, runner);
      runnerGone(runner, e);
      return;
    } catch (RuntimeException e) {
      RunnerDiedException failure =
          new RunnerDiedException(
              runner.id, "could not send \"" + call.function + "\" to runner " + runner.id, e);
      finished(call, runner, null, failure);
      return;
    }
    call.remote = remote;
    if (call.cancelRequested) {
      remote.cancel();
    }
    var unusedFinish =
        remote.result().whenComplete((result, failure) -> finished(call, runner, result, failure));
  }

  /** A call ended on its runner (or could not be sent): free the slot, complete the caller. */
  private void finished(
      Call call, Runner runner, @Nullable Object result, @Nullable Throwable failure) {
    if (failure != null && unwrap(failure) instanceof RunnerDiedException died) {
      // A backend may fail a dead runner's calls before its listener reports the death (the
      // remote connection does): the runner leaves the pool first, so no waiter is handed a slot
      // on it.
      runnerGone(runner, died);
      return;
    }
    Effects effects = new Effects();
    lock.lock();
    try {
      if (call.state != CallState.RUNNING) {
        return; // the runner died first and already failed it
      }
      call.state = CallState.DONE;
      runner.calls.remove(call);
      runner.active--;
      busy--;
      if (runner.active == 0) {
        runner.idleSinceNanos = ticker.read();
        runner.idleGeneration++;
      }
      if (runner.state == RunnerState.DRAINING && runner.active == 0) {
        retireNowLocked(runner, effects);
      } else if (runner.state == RunnerState.READY) {
        drainWaitersLocked(effects);
      }
      if (closed) {
        changed.signalAll();
      }
    } finally {
      lock.unlock();
    }
    effects.run();
    if (failure == null) {
      call.succeed(result);
    } else {
      Throwable cause = unwrap(failure);
      if (cause instanceof CancellationException) {
        call.fail(new CancellationException("call of \"" + call.function + "\" cancelled"));
      } else {
        call.fail(cause);
      }
    }
  }

  private static Throwable unwrap(Throwable failure) {
    Throwable t = failure;
    while ((t instanceof java.util.concurrent.CompletionException
            || t instanceof ExecutionException)
        && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  /** Removes an idle runner being retired, shuts it down and reports it to onShrink. */
  private void retireNowLocked(Runner runner, Effects effects) {
    runner.state = RunnerState.DEAD;
    runner.shutdownRequested = true;
    runners.remove(runner);
    Duration timeout = config.shutdownTimeout;
    PoolEvent.RetireReason reason =
        runner.retireReason == null ? PoolEvent.RetireReason.IDLE : runner.retireReason;
    PoolEvent.RunnerRetired event =
        new PoolEvent.RunnerRetired(config.name, runner.id, runners.size() + boots.size(), reason);
    effects.add(() -> runner.handle.shutdown(timeout));
    effects.add(() -> emitShrink(event));
    planBoots(effects);
    changed.signalAll();
  }

  // ------------------------------------------------------------------------------------------
  // Boots (outside the lock)

  private void launch(BootAttempt boot, int count) {
    Thread thread = bootThreads.newThread(() -> runBoot(boot));
    boot.thread = thread;
    emit(new PoolEvent.BootStarted(config.name, boot.runnerId, count), config.onGrowStart);
    long timeoutNanos = Durations.toNanosSaturated(config.bootTimeout);
    boot.timer =
        scheduler.schedule(() -> bootTimedOut(boot), timeoutNanos, TimeUnit.NANOSECONDS);
    thread.start();
  }

  private void runBoot(BootAttempt boot) {
    long started = ticker.read();
    Runner runner = new Runner(boot.runnerId);
    RunnerSpec spec =
        new RunnerSpec(
            config.name,
            boot.runnerId,
            config.bootTimeout,
            config.shutdownTimeout,
            runnerIdleBackstop(),
            config.maxConcurrency);
    RunnerHandle handle;
    try {
      handle = backend.boot(spec, cause -> runnerDied(runner, cause));
    } catch (Throwable e) {
      if (boot.state.compareAndSet(BootAttempt.RUNNING, BootAttempt.DONE)) {
        bootFailed(
            boot,
            e instanceof RunnerBootException
                ? e
                : new RunnerBootException(
                    "pool " + config.name + ": runner " + boot.runnerId + " failed to boot", e));
      }
      return;
    }
    if (!boot.state.compareAndSet(BootAttempt.RUNNING, BootAttempt.DONE)) {
      handle.kill(); // timed out or closed meanwhile
      return;
    }
    ScheduledFuture<?> timer = boot.timer;
    if (timer != null) {
      timer.cancel(false);
    }
    runner.handle = handle;
    booted(boot, runner, Duration.ofNanos(Math.max(0, ticker.read() - started)));
  }

  private Duration runnerIdleBackstop() {
    // A remote runner exits by itself if the parent leaves it idle much longer than the pool
    // would: twice the longer idle limit plus a margin, or never if min runners never idle out.
    long idle = Durations.toNanosSaturated(config.idleShutdownAfter);
    long minIdle = Durations.toNanosSaturated(config.minIdleShutdownAfter);
    if (min > 0 || minIdle == Long.MAX_VALUE || idle == Long.MAX_VALUE) {
      return Durations.MAX_NANOS;
    }
    long longest = Math.max(idle, minIdle);
    return Duration.ofNanos(
        Durations.saturatedAdd(Durations.saturatedMultiply(longest, 2), 10_000_000_000L));
  }

  private void bootTimedOut(BootAttempt boot) {
    if (boot.state.compareAndSet(BootAttempt.RUNNING, BootAttempt.TIMED_OUT)) {
      Thread thread = boot.thread;
      if (thread != null) {
        thread.interrupt();
      }
      bootFailed(
          boot,
          new RunnerBootException(
              "pool "
                  + config.name
                  + ": runner "
                  + boot.runnerId
                  + " not ready within bootTimeout "
                  + config.bootTimeout,
              null));
    }
  }

  private void booted(BootAttempt boot, Runner runner, Duration took) {
    Effects effects = new Effects();
    boolean killNow = false;
    Throwable diedEarly;
    int count;
    lock.lock();
    try {
      diedEarly = runner.diedDuringBoot;
      if (diedEarly == null) {
        boots.remove(boot);
      }
      if (terminated || diedEarly != null) {
        killNow = true;
      } else {
        bootCount++;
        lastBootFailure = null;
        if (idledOutMin > 0) {
          idledOutMin--; // a runner booted for demand takes the place of an idled-out min runner
        }
        runner.state = RunnerState.READY;
        runner.idleSinceNanos = ticker.read();
        runners.add(runner);
        if (runners.size() > max) {
          // resize() lowered max while this boot ran: retire it before it takes any call, or the
          // waiters would pin it and the pool would stay above max.
          runner.retireReason = PoolEvent.RetireReason.RESIZE;
          retireNowLocked(runner, effects);
        } else {
          drainWaitersLocked(effects);
        }
        planBoots(effects);
      }
      count = runners.size() + boots.size();
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    if (killNow) {
      runner.handle.kill();
      if (diedEarly != null) {
        // It died between the backend's "ready" and the pool taking it: a failed boot.
        bootFailed(
            boot,
            new RunnerBootException(
                "pool " + config.name + ": runner " + runner.id + " died right after booting",
                diedEarly));
      }
      return;
    }
    emit(new PoolEvent.BootSucceeded(config.name, runner.id, count, took), config.onGrowEnd);
    effects.run();
  }

  private void bootFailed(BootAttempt boot, Throwable cause) {
    Effects effects = new Effects();
    int count;
    boolean scheduleRetry = false;
    lock.lock();
    try {
      boots.remove(boot);
      bootFailureCount++;
      lastBootFailure = cause;
      count = runners.size() + boots.size();
      if (!closed && (waiting > 0 || countReady() + boots.size() < min)) {
        retryPending = true;
        retryAtNanos = ticker.read() + Durations.toNanosSaturated(BOOT_RETRY_DELAY);
        scheduleRetry = true;
      }
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    LOG.log(System.Logger.Level.WARNING, cause.getMessage(), cause);
    emit(new PoolEvent.BootFailed(config.name, boot.runnerId, count, cause), config.onGrowEnd);
    if (scheduleRetry) {
      var unusedRetry = scheduler.schedule(
          this::housekeep, Durations.toNanosSaturated(BOOT_RETRY_DELAY), TimeUnit.NANOSECONDS);
    }
    effects.run();
  }

  // ------------------------------------------------------------------------------------------
  // Death

  /**
   * Puts a call that could not be sent to its (dead) runner back at the head of the queue, so the
   * runner's death does not fail it: it never ran. Placed children are not re-queued (their
   * placement already named the runner), nor is anything once the pool is closed; those fail with
   * the runner's death as before.
   */
  private void requeueUnsent(Call call, Runner runner) {
    if (call.kind == Kind.CHILD) {
      return;
    }
    lock.lock();
    try {
      if (closed || call.state != CallState.RUNNING || call.runner != runner || !runner.calls.remove(call)) {
        return;
      }
      runner.active--;
      busy--;
      call.runner = null;
      call.state = CallState.WAITING;
      waiters.addFirst(call);
      waiting++;
    } finally {
      lock.unlock();
    }
  }

  /** The backend said, through a call, that a runner is gone: as if its listener had reported. */
  private void runnerGone(Runner runner, RunnerDiedException cause) {
    runnerDied(runner, cause);
    try {
      runner.handle.kill(); // the listener will follow (and be ignored); make sure nothing lingers
    } catch (RuntimeException e) {
      LOG.log(System.Logger.Level.WARNING, "killing runner " + runner.id + " failed", e);
    }
  }

  private void runnerDied(Runner runner, Throwable cause) {
    Effects effects = new Effects();
    List<Call> victims;
    boolean unexpected;
    int count;
    lock.lock();
    try {
      if (runner.state == RunnerState.BOOTING) {
        runner.diedDuringBoot = cause;
        return;
      }
      if (runner.state == RunnerState.DEAD && !runners.contains(runner)) {
        return;
      }
      unexpected = !runner.shutdownRequested;
      runner.state = RunnerState.DEAD;
      runners.remove(runner);
      victims = new ArrayList<>(runner.calls);
      runner.calls.clear();
      for (Call call : victims) {
        call.state = CallState.DONE;
        busy--;
      }
      runner.active = 0;
      if (unexpected) {
        deathCount++;
      }
      planBoots(effects);
      count = runners.size() + boots.size();
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    for (Call call : victims) {
      RunnerDiedException failure =
          new RunnerDiedException(
              runner.id,
              "runner "
                  + runner.id
                  + " of pool "
                  + config.name
                  + " died while running \""
                  + call.function
                  + "\"",
              cause);
      call.fail(failure);
    }
    if (unexpected) {
      LOG.log(
          System.Logger.Level.WARNING,
          "pool " + config.name + ": runner " + runner.id + " died: " + cause);
      emitShrink(new PoolEvent.RunnerDied(config.name, runner.id, count, cause));
    }
    effects.run();
  }

  // ------------------------------------------------------------------------------------------
  // Housekeeping: expiry by ticker, boot retries, idle retirement

  void housekeep() {
    try {
      Effects effects = new Effects();
      List<Runner> idleCandidates = new ArrayList<>();
      List<Long> generations = new ArrayList<>();
      lock.lock();
      try {
        for (Iterator<Call> it = waiters.iterator(); it.hasNext(); ) {
          Call call = it.next();
          if (call.state != CallState.WAITING) {
            it.remove();
          } else if (call.deadline.isExpired()) {
            it.remove();
            timeOutWaiterLocked(call, effects);
          }
        }
        planBoots(effects);
        if (!closed) {
          collectIdleLocked(idleCandidates, generations);
        }
      } finally {
        lock.unlock();
      }
      effects.run();
      for (int i = 0; i < idleCandidates.size(); i++) {
        Runner runner = idleCandidates.get(i);
        IdleCheck check = config.idleCheck;
        boolean idle = true;
        if (check != null) {
          try {
            idle = check.isIdle(runner.id);
          } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "idle check of " + runner.id + " threw", e);
            idle = false;
          }
        }
        if (idle) {
          retireIdle(runner, generations.get(i));
        }
      }
    } catch (RuntimeException | Error e) {
      LOG.log(System.Logger.Level.ERROR, "pool " + config.name + " housekeeping failed", e);
    }
  }

  private void collectIdleLocked(List<Runner> candidates, List<Long> generations) {
    long now = ticker.read();
    long idleNanos = Durations.toNanosSaturated(config.idleShutdownAfter);
    long minIdleNanos = Durations.toNanosSaturated(config.minIdleShutdownAfter);
    int ready = countReady();
    // Oldest idle first, so the runners idle longest retire first.
    List<Runner> idle = new ArrayList<>();
    for (Runner r : runners) {
      if (r.state == RunnerState.READY && r.active == 0) {
        idle.add(r);
      }
    }
    idle.sort((a, b) -> Long.compare(a.idleSinceNanos - now, b.idleSinceNanos - now));
    int remaining = ready;
    for (Runner r : idle) {
      long limit = remaining > min ? idleNanos : minIdleNanos;
      if (limit != Long.MAX_VALUE && now - r.idleSinceNanos >= limit) {
        candidates.add(r);
        generations.add(r.idleGeneration);
        remaining--;
      }
    }
  }

  private void retireIdle(Runner runner, long generation) {
    Effects effects = new Effects();
    lock.lock();
    try {
      if (runner.state != RunnerState.READY
          || runner.active != 0
          || runner.idleGeneration != generation
          || closed) {
        return;
      }
      // Re-check the bound under the lock: another runner may have retired meanwhile.
      long minIdleNanos = Durations.toNanosSaturated(config.minIdleShutdownAfter);
      if (countReady() <= min) {
        if (minIdleNanos == Long.MAX_VALUE || ticker.read() - runner.idleSinceNanos < minIdleNanos) {
          return;
        }
        idledOutMin++;
      }
      runner.retireReason = PoolEvent.RetireReason.IDLE;
      retireNowLocked(runner, effects);
    } finally {
      lock.unlock();
    }
    effects.run();
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
    checkBounds(min, max);
    Effects effects = new Effects();
    lock.lock();
    try {
      Require.state(!closed, "pool " + config.name + " is closed");
      this.min = config.isRunner ? 0 : min;
      this.max = max;
      idledOutMin = 0;
      int excess = countReady() + boots.size() - max;
      if (excess > 0) {
        // Idle runners first (longest idle first), then the least busy.
        List<Runner> ready = new ArrayList<>();
        for (Runner r : runners) {
          if (r.state == RunnerState.READY) {
            ready.add(r);
          }
        }
        ready.sort(
            (a, b) ->
                a.active != b.active
                    ? Integer.compare(a.active, b.active)
                    : Long.compare(a.idleSinceNanos - b.idleSinceNanos, 0));
        for (int i = 0; i < ready.size() && excess > 0; i++, excess--) {
          Runner r = ready.get(i);
          r.retireReason = PoolEvent.RetireReason.RESIZE;
          if (r.active == 0) {
            retireNowLocked(r, effects);
          } else {
            r.state = RunnerState.DRAINING;
          }
        }
      }
      planBoots(effects);
      drainWaitersLocked(effects);
    } finally {
      lock.unlock();
    }
    effects.run();
  }

  private static void checkBounds(int min, int max) {
    Require.atLeast(min, 0, "min");
    Require.atLeast(max, 1, "max");
    Require.argument(
        min <= max, "min must be at most max (" + max + "), was " + min);
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
          config.name,
          min,
          max,
          config.maxConcurrency,
          ready,
          draining,
          boots.size(),
          busy,
          waiting,
          bootCount,
          bootFailureCount,
          deathCount,
          infos);
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
    Effects effects = new Effects();
    List<Call> abandoned = new ArrayList<>();
    List<Runner> toKill = new ArrayList<>();
    List<BootAttempt> toStop;
    lock.lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      closedVolatile = true;
      long deadlineNanos = Durations.toNanosSaturated(config.shutdownTimeout);
      long start = System.nanoTime();
      // Drain: calls in flight and waiters that can still get a slot.
      while (busy > 0 || (waiting > 0 && (!runners.isEmpty() || !boots.isEmpty()))) {
        long left = deadlineNanos - (System.nanoTime() - start);
        if (left <= 0) {
          break;
        }
        try {
          changed.awaitNanos(left);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          break;
        }
      }
      for (Call call : waiters) {
        if (call.state == CallState.WAITING) {
          call.state = CallState.DONE;
          abandoned.add(call);
        }
      }
      waiters.clear();
      waiting = 0;
      terminated = true;
      for (Runner r : new ArrayList<>(runners)) {
        r.retireReason = PoolEvent.RetireReason.CLOSE;
        if (r.active == 0) {
          retireNowLocked(r, effects);
        } else {
          r.shutdownRequested = true;
          toKill.add(r);
        }
      }
      toStop = new ArrayList<>(boots);
      boots.clear();
    } finally {
      lock.unlock();
    }
    for (Call call : abandoned) {
      call.fail(new PoolClosedException("pool " + config.name + " closed before a slot was free"));
    }
    effects.run();
    for (BootAttempt boot : toStop) {
      if (boot.state.compareAndSet(BootAttempt.RUNNING, BootAttempt.TIMED_OUT)) {
        Thread thread = boot.thread;
        if (thread != null) {
          thread.interrupt();
        }
      }
    }
    for (Runner r : toKill) {
      r.handle.kill();
      runnerDied(r, new PoolClosedException("pool " + config.name + " closed; runner killed"));
    }
    scheduler.shutdownNow();
    try {
      backend.close();
    } catch (Exception e) {
      LOG.log(System.Logger.Level.WARNING, "closing backend of pool " + config.name + " failed", e);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Events

  private <E extends PoolEvent> void emit(E event, @Nullable Consumer<? super E> hook) {
    if (hook != null) {
      try {
        hook.accept(event);
      } catch (RuntimeException e) {
        LOG.log(System.Logger.Level.WARNING, "pool " + config.name + " hook threw", e);
      }
    }
    Consumer<PoolEvent> listener = config.eventListener;
    if (listener != null) {
      try {
        listener.accept(event);
      } catch (RuntimeException e) {
        LOG.log(System.Logger.Level.WARNING, "pool " + config.name + " event listener threw", e);
      }
    }
  }

  private void emitShrink(PoolEvent.@Nullable Shrink event) {
    if (event == null) {
      return;
    }
    Consumer<PoolEvent.Shrink> hook = config.onShrink;
    if (hook != null) {
      try {
        hook.accept(event);
      } catch (RuntimeException e) {
        LOG.log(System.Logger.Level.WARNING, "pool " + config.name + " onShrink hook threw", e);
      }
    }
    Consumer<PoolEvent> listener = config.eventListener;
    if (listener != null) {
      try {
        listener.accept(event);
      } catch (RuntimeException e) {
        LOG.log(System.Logger.Level.WARNING, "pool " + config.name + " event listener threw", e);
      }
    }
  }

  @Override
  public String toString() {
    lock.lock();
    try {
      return "ElasticPool[" + config.name + ", " + describeLocked() + "]";
    } finally {
      lock.unlock();
    }
  }

  // ------------------------------------------------------------------------------------------
  // Internal state

  private enum CallState {
    NEW,
    WAITING,
    RUNNING,
    DONE
  }

  private static final class Call {
    final String function;
    final @Nullable Object prepared;
    final Deadline deadline;
    final Kind kind;
    final long timeoutNanos;
    final CompletableFuture<@Nullable Object> future = new CompletableFuture<>();
    /** For placeChild: completed with the runner once started. */
    final CompletableFuture<Runner> placed;
    // guarded by the pool's lock
    CallState state = CallState.NEW;
    @Nullable Runner runner;
    // set outside the lock; see startOnRunner / expire
    volatile @Nullable RunningCall remote;
    volatile boolean cancelRequested;

    Call(String function, @Nullable Object prepared, Deadline deadline, Kind kind, long timeoutNanos) {
      this.function = function;
      this.prepared = prepared;
      this.deadline = deadline;
      this.kind = kind;
      this.timeoutNanos = timeoutNanos;
      this.placed = kind == Kind.CHILD ? new CompletableFuture<>() : DONE_PLACEMENT;
    }

    void succeed(@Nullable Object result) {
      future.complete(result);
    }

    void fail(Throwable failure) {
      if (kind == Kind.CHILD) {
        placed.completeExceptionally(failure);
      }
      future.completeExceptionally(failure);
    }
  }

  private static final CompletableFuture<Runner> DONE_PLACEMENT = new CompletableFuture<>();

  private static final class Runner {
    final String id;
    // assigned by the boot thread before the runner is published under the lock
    RunnerHandle handle;
    // guarded by the pool's lock
    RunnerState state = RunnerState.BOOTING;
    int active;
    long idleSinceNanos;
    long idleGeneration;
    boolean shutdownRequested;
    PoolEvent.@Nullable RetireReason retireReason;
    @Nullable Throwable diedDuringBoot;
    final Set<Call> calls = new LinkedHashSet<>();

    Runner(String id) {
      this.id = id;
      this.handle = NO_HANDLE;
    }
  }

  private static final RunnerHandle NO_HANDLE =
      new RunnerHandle() {
        @Override
        public String id() {
          return "booting";
        }

        @Override
        public RunningCall start(String function, @Nullable Object preparedArgument, Duration timeout) {
          throw new IllegalStateException("runner not booted");
        }

        @Override
        public void shutdown(Duration timeout) {}

        @Override
        public void kill() {}
      };

  private static final class BootAttempt {
    static final int RUNNING = 0;
    static final int DONE = 1;
    static final int TIMED_OUT = 2;
    final String runnerId;
    final AtomicInteger state = new AtomicInteger(RUNNING);
    volatile @Nullable Thread thread;
    volatile @Nullable ScheduledFuture<?> timer;

    BootAttempt(String runnerId) {
      this.runnerId = runnerId;
    }
  }

  private static final class Child implements PlacedChild {
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
        remote.cancel();
      }
    }
  }

  /** Side effects collected under the lock and run after it. */
  private static final class Effects {
    private @Nullable ArrayList<Runnable> actions;

    void add(Runnable action) {
      if (actions == null) {
        actions = new ArrayList<>(4);
      }
      actions.add(action);
    }

    void run() {
      ArrayList<Runnable> list = actions;
      if (list == null) {
        return;
      }
      for (int i = 0; i < list.size(); i++) {
        try {
          list.get(i).run();
        } catch (RuntimeException e) {
          LOG.log(System.Logger.Level.ERROR, "pool action failed", e);
        }
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // Configuration

  private static final class Config {
    final String name;
    final Backend backend;
    final Ticker ticker;
    final int max;
    final int maxConcurrency;
    final boolean singleUse;
    final Duration callTimeout;
    final Duration bootTimeout;
    final Duration shutdownTimeout;
    final Duration idleShutdownAfter;
    final @Nullable IdleCheck idleCheck;
    final Duration minIdleShutdownAfter;
    final Duration housekeepingInterval;
    final boolean isRunner;
    final @Nullable Consumer<PoolEvent.BootStarted> onGrowStart;
    final @Nullable Consumer<PoolEvent.GrowResult> onGrowEnd;
    final @Nullable Consumer<PoolEvent.Shrink> onShrink;
    final @Nullable Consumer<PoolEvent> eventListener;

    Config(Builder b, Backend backend, boolean isRunner) {
      this.name = b.name;
      this.backend = backend;
      this.ticker = b.ticker;
      this.max = b.max;
      this.maxConcurrency = b.maxConcurrency;
      this.singleUse = b.singleUse;
      this.callTimeout = b.callTimeout;
      this.bootTimeout = b.bootTimeout;
      this.shutdownTimeout = b.shutdownTimeout;
      this.idleShutdownAfter = b.idleShutdownAfter;
      this.idleCheck = b.idleCheck;
      this.minIdleShutdownAfter = b.minIdleShutdownAfter;
      this.housekeepingInterval = b.housekeepingInterval;
      this.isRunner = isRunner;
      this.onGrowStart = b.onGrowStart;
      this.onGrowEnd = b.onGrowEnd;
      this.onShrink = b.onShrink;
      this.eventListener = b.eventListener;
    }
  }

  /**
   * Builds an {@link ElasticPool}. Not thread-safe; {@link #build()} copies every option, so a
   * builder may be reused.
   */
  public static final class Builder {
    private String name = "pool";
    private @Nullable Backend backend;
    private Ticker ticker = Ticker.system();
    private int min = 0;
    private int max = 1;
    private int maxConcurrency = 100;
    private boolean singleUse;
    private Duration callTimeout = Duration.ofSeconds(30);
    private Duration bootTimeout = Duration.ofSeconds(30);
    private Duration shutdownTimeout = Duration.ofSeconds(30);
    private Duration idleShutdownAfter = Duration.ofSeconds(30);
    private @Nullable IdleCheck idleCheck;
    private Duration minIdleShutdownAfter = Durations.MAX_NANOS;
    private Duration housekeepingInterval = Duration.ofMillis(250);
    private @Nullable Map<String, String> environment;
    private @Nullable Consumer<PoolEvent.BootStarted> onGrowStart;
    private @Nullable Consumer<PoolEvent.GrowResult> onGrowEnd;
    private @Nullable Consumer<PoolEvent.Shrink> onShrink;
    private @Nullable Consumer<PoolEvent> eventListener;

    private Builder() {}

    /**
     * Sets the pool's name, used in runner ids, thread names, logs and events. Default {@code
     * "pool"}.
     *
     * @param name the name, not empty
     * @return this builder
     * @throws NullPointerException if null
     * @throws IllegalArgumentException if empty
     */
    public Builder name(String name) {
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
    public Builder backend(Backend backend) {
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
    public Builder min(int min) {
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
    public Builder max(int max) {
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
    public Builder maxConcurrency(int maxConcurrency) {
      this.maxConcurrency = Require.atLeast(maxConcurrency, 1, "maxConcurrency");
      return this;
    }

    /**
     * Sets whether each runner runs one call and is then shut down. Default false.
     *
     * @param singleUse true for one call per runner
     * @return this builder
     */
    public Builder singleUse(boolean singleUse) {
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
    public Builder callTimeout(Duration callTimeout) {
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
    public Builder bootTimeout(Duration bootTimeout) {
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
    public Builder shutdownTimeout(Duration shutdownTimeout) {
      this.shutdownTimeout = Require.positive(shutdownTimeout, "shutdownTimeout");
      return this;
    }

    /**
     * Sets how long a runner beyond {@code min} may sit without calls before it retires. Default
     * 30 s; {@link Durations#MAX_NANOS} for never.
     *
     * @param idleShutdownAfter positive
     * @return this builder
     * @throws NullPointerException if null
     * @throws IllegalArgumentException if not positive
     */
    public Builder idleShutdownAfter(Duration idleShutdownAfter) {
      this.idleShutdownAfter = Require.positive(idleShutdownAfter, "idleShutdownAfter");
      this.idleCheck = null;
      return this;
    }

    /**
     * Sets the idle limit together with an extra check that must also agree before a runner
     * retires (the seed's {@code {millis, fn}} form).
     *
     * @param idleShutdownAfter positive
     * @param idleCheck asked, outside the lock, once a runner has been idle that long
     * @return this builder
     * @throws NullPointerException if an argument is null
     * @throws IllegalArgumentException if the duration is not positive
     */
    public Builder idleShutdownAfter(Duration idleShutdownAfter, IdleCheck idleCheck) {
      this.idleShutdownAfter = Require.positive(idleShutdownAfter, "idleShutdownAfter");
      this.idleCheck = Require.nonNull(idleCheck, "idleCheck");
      return this;
    }

    /**
     * Sets how long the last {@code min} runners may sit idle before they retire too. Default
     * never ({@link Durations#MAX_NANOS}).
     *
     * @param minIdleShutdownAfter positive
     * @return this builder
     * @throws NullPointerException if null
     * @throws IllegalArgumentException if not positive
     */
    public Builder minIdleShutdownAfter(Duration minIdleShutdownAfter) {
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
    public Builder ticker(Ticker ticker) {
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
    public Builder housekeepingInterval(Duration interval) {
      this.housekeepingInterval = Require.positive(interval, "housekeepingInterval");
      return this;
    }

    /**
     * Sets the hook called when a runner starts booting (the seed's {@code on_grow_start}).
     *
     * @param onGrowStart the hook, on the boot's thread
     * @return this builder
     * @throws NullPointerException if null
     */
    public Builder onGrowStart(Consumer<PoolEvent.BootStarted> onGrowStart) {
      this.onGrowStart = Require.nonNull(onGrowStart, "onGrowStart");
      return this;
    }

    /**
     * Sets the hook called when a boot ends, with its result (the seed's {@code on_grow_end}).
     *
     * @param onGrowEnd the hook, on the boot's thread
     * @return this builder
     * @throws NullPointerException if null
     */
    public Builder onGrowEnd(Consumer<PoolEvent.GrowResult> onGrowEnd) {
      this.onGrowEnd = Require.nonNull(onGrowEnd, "onGrowEnd");
      return this;
    }

    /**
     * Sets the hook called when a runner leaves the pool, retired or dead (the seed's {@code
     * on_shrink}).
     *
     * @param onShrink the hook
     * @return this builder
     * @throws NullPointerException if null
     */
    public Builder onShrink(Consumer<PoolEvent.Shrink> onShrink) {
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
    public Builder eventListener(Consumer<PoolEvent> eventListener) {
      this.eventListener = Require.nonNull(eventListener, "eventListener");
      return this;
    }

    /** Test seam: the environment in which runner detection looks for {@code SHEPHERD_POOL_PARENT}. */
    Builder environment(Map<String, String> environment) {
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
      Backend b = Require.nonNull(backend, "backend");
      checkBounds(min, max);
      Map<String, String> env = environment == null ? System.getenv() : environment;
      boolean isRunner = RunnerEnvironment.isRunner(env);
      ElasticPool pool = new ElasticPool(new Config(this, b, isRunner), isRunner ? 0 : min);
      pool.start();
      return pool;
    }
  }
}
