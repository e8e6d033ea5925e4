package dev.shepherd.pool;

import com.google.errorprone.annotations.concurrent.GuardedBy;
import dev.shepherd.core.Deadline;
import dev.shepherd.core.internal.Require;
import dev.shepherd.core.Ticker;
import dev.shepherd.pool.spi.Backend;
import dev.shepherd.pool.spi.RunnerHandle;
import dev.shepherd.pool.spi.RunningCall;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/** The state of an {@link ElasticPool} and the lock that guards it; see the layers below. */
abstract class PoolState {

  /*
   * The pool's state, and the rule every part follows. One ReentrantLock guards everything below
   * marked "guarded by lock"; nothing under it calls user code, a backend, or completes a future:
   * each operation collects its side effects (start a call, complete a future, fire an event,
   * boot, shut a runner down) in an Effects list and runs them after unlocking.
   *
   * The pool is built in layers, each a package-private class that adds one part of the state
   * machine and documents it in its own comment:
   *   PoolEvents      hooks and listeners, never under the lock;
   *   PoolBoots       Runner BOOTING -> READY | gone, boot retries;
   *   PoolRetirement  Runner READY -> DRAINING -> DEAD (idle, resize, single use, close) and
   *                   READY|DRAINING -> DEAD on death; the housekeeping sweep;
   *   PoolCheckout    Call NEW -> WAITING -> RUNNING -> DONE: slots, waiters, deadlines, cancel;
   *   ElasticPool     the public API over them.
   * A layer calls a later one only through the abstract methods declared here.
   *
   * Runner (class Runner): BOOTING -> READY -> DRAINING -> DEAD; a failed or timed-out boot never
   * becomes READY; a DEAD runner stays dead: a late death report or a late call result is ignored.
   * Call (class Call): NEW -> RUNNING, or NEW -> WAITING -> RUNNING | DONE, RUNNING -> DONE, or
   * NEW -> DONE when refused (maxWaiters calls already wait).
   */

  static final System.Logger LOG = System.getLogger(ElasticPool.class.getName());


  // ---- implemented by later layers ----

  /** Hands free slots of ready runners to waiters, head first (PoolCheckout). */
  abstract void drainWaitersLocked(Effects effects);

  /** A waiter's deadline passed: it leaves with a timeout (PoolCheckout). */
  abstract void timeOutWaiterLocked(Call call, Effects effects);

  /** Removes an idle runner being retired and shuts it down (PoolRetirement). */
  abstract void retireNowLocked(Runner runner, Effects effects);

  /** A runner ended: fail its calls, boot a replacement if needed (PoolRetirement). */
  abstract void runnerDied(Runner runner, Throwable cause);

  /** The sweep for expired waiters, due boot retries and idle runners (PoolRetirement). */
  abstract void housekeep();

  /** Async calls whose deferred deadline timer is now due (PoolCheckout). */
  abstract void collectNearDeadlinesLocked(List<Call> due);

  /** Arms the timers collected by collectNearDeadlinesLocked, outside the lock (PoolCheckout). */
  abstract void armNearTimers(List<Call> due);


  static final Duration BOOT_RETRY_DELAY = Duration.ofSeconds(1);

  final ElasticPoolConfig config;
  final Backend backend;
  final Ticker ticker;
  final ScheduledExecutorService scheduler;
  final ThreadFactory bootThreads;
  /** Virtual threads for what the timer thread finds due; see {@link #offTimerThread}. */
  final ThreadFactory timerTasks;
  /** Takes a remote call's result, each on a virtual thread of its own (PoolCheckout.startOnRunner). */
  final Executor results;
  /** The scheduler's thread, which runs the housekeeping sweep and every timer. */
  private volatile @Nullable Thread timerThread;

  final ReentrantLock lock = new ReentrantLock();
  final Condition changed = lock.newCondition();
  // ---- guarded by lock ----
  // written under the lock; volatile so boot threads may read them without it
  volatile int min;
  volatile int max;
  @GuardedBy("lock") final List<Runner> runners = new ArrayList<>();
  @GuardedBy("lock") final Set<BootAttempt> boots = new LinkedHashSet<>();
  @GuardedBy("lock") final ArrayDeque<Call> waiters = new ArrayDeque<>();
  @GuardedBy("lock") int waiting;
  @GuardedBy("lock") int busy;
  @GuardedBy("lock") boolean retryPending;
  @GuardedBy("lock") long retryAtNanos;
  @GuardedBy("lock") @Nullable Throwable lastBootFailure;
  @GuardedBy("lock") long bootCount;
  @GuardedBy("lock") long bootFailureCount;
  @GuardedBy("lock") long deathCount;
  @GuardedBy("lock") int runnerSequence;
  @GuardedBy("lock") int stuck;
  /** Min runners retired after minIdleShutdownAfter: not re-booted until demand boots them. */
  @GuardedBy("lock") int idledOutMin;
  @GuardedBy("lock") boolean closed;
  @GuardedBy("lock") boolean terminated;

  enum Kind {
    CALL,
    CAST,
    CHILD
  }
  // ---- end guarded ----

  PoolState(ElasticPoolConfig config) {
    this.config = config;
    this.backend = config.backend();
    this.ticker = config.ticker();
    this.min = config.min();
    this.max = config.max();
    String name = config.name();
    ScheduledThreadPoolExecutor executor =
        new ScheduledThreadPoolExecutor(
            1,
            r -> {
              Thread t = new Thread(r, "shepherd-pool-" + name + "-housekeeping");
              t.setDaemon(true);
              timerThread = t;
              return t;
            });
    executor.setRemoveOnCancelPolicy(true);
    this.scheduler = executor;
    this.bootThreads = Thread.ofVirtual().name("shepherd-pool-" + name + "-boot-", 0).factory();
    this.timerTasks = Thread.ofVirtual().name("shepherd-pool-" + name + "-timer-", 0).factory();
    ThreadFactory resultThreads = Thread.ofVirtual().name("shepherd-pool-" + name + "-result-", 0).factory();
    this.results = task -> resultThreads.newThread(task).start();
  }

  /**
   * Runs {@code task} now, or, on the pool's one timer thread, on a virtual thread of its own. What
   * a deadline, a cancel grace, a boot timeout, a boot the sweep starts or an idle retirement does
   * completes callers' futures, whose dependent stages run on the completing thread, and calls
   * hooks: one that blocked on the timer thread would hold up every other deadline, grace and
   * boot timeout of the pool.
   */
  void offTimerThread(Runnable task) {
    if (Thread.currentThread() == timerThread) {
      timerTasks
          .newThread(
              () -> {
                try {
                  task.run();
                } catch (RuntimeException e) {
                  LOG.log(System.Logger.Level.ERROR, "pool action failed", e);
                }
              })
          .start();
    } else {
      task.run();
    }
  }

  IllegalStateException closedError() {
    return new IllegalStateException("pool " + config.name() + " is closed");
  }

  volatile boolean closedVolatile;

  @GuardedBy("lock")
  int countReady() {
    int ready = 0;
    for (int i = 0, n = runners.size(); i < n; i++) {
      if (runners.get(i).state == RunnerState.READY) {
        ready++;
      }
    }
    return ready;
  }

  @GuardedBy("lock")
  String describeLocked() {
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
        + config.maxConcurrency();
  }

  static void checkBounds(int min, int max) {
    Require.atLeast(min, 0, "min");
    Require.atLeast(max, 1, "max");
    Require.argument(
        min <= max, "min must be at most max (" + max + "), was " + min);
  }

  // ------------------------------------------------------------------------------------------
  // Internal state

  enum CallState {
    NEW,
    WAITING,
    RUNNING,
    DONE
  }

  static final class Call {
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
    long enqueuedAt;
    // set outside the lock; see startOnRunner / expire
    volatile @Nullable RunningCall remote;
    volatile boolean cancelRequested;
    /** An async call whose deadline timer waits for the sweep to find it near (armAsync). */
    volatile boolean timerDeferred;
    /** Started on an in-process runner, whose result may be worth a short spin (await). */
    volatile boolean local;
    /** 1 once the cancel grace timer is armed; set through {@link #GRACE_ARMED}. */
    volatile int graceArmed;

    /** Arms the grace once without an object per call (most calls never need it). */
    static final java.util.concurrent.atomic.AtomicIntegerFieldUpdater<Call> GRACE_ARMED =
        java.util.concurrent.atomic.AtomicIntegerFieldUpdater.newUpdater(Call.class, "graceArmed");
    /** Written off after its cancel grace; written under the pool's lock. */
    volatile boolean stuck;

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

  static final CompletableFuture<Runner> DONE_PLACEMENT = new CompletableFuture<>();

  static final class Runner {
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

  static final RunnerHandle NO_HANDLE =
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

  static final class BootAttempt {
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

  /** Side effects collected under the lock and run after it. */
  static final class Effects {
    private static final ThreadFactory HANDOVERS =
        Thread.ofVirtual().name("shepherd-pool-handover-", 0).factory();

    private @Nullable ArrayList<Runnable> actions;
    private @Nullable ArrayList<Runnable> handovers;

    void add(Runnable action) {
      if (actions == null) {
        actions = new ArrayList<>(4);
      }
      actions.add(action);
    }

    /**
     * Adds the start of a waiter's call on a remote runner, which writes its frame: run() starts
     * these, in order, on a virtual thread of their own, so the thread that freed the slot (one
     * that holds another caller's result, a boot, a resize) does not wait for that write.
     */
    void addHandover(Runnable start) {
      if (handovers == null) {
        handovers = new ArrayList<>(2);
      }
      handovers.add(start);
    }

    void run() {
      ArrayList<Runnable> starts = handovers;
      if (starts != null) {
        HANDOVERS.newThread(() -> runAll(starts)).start();
      }
      ArrayList<Runnable> list = actions;
      if (list != null) {
        runAll(list);
      }
    }

    private static void runAll(List<Runnable> list) {
      for (int i = 0; i < list.size(); i++) {
        try {
          list.get(i).run();
        } catch (RuntimeException e) {
          LOG.log(System.Logger.Level.ERROR, "pool action failed", e);
        }
      }
    }
  }
}
