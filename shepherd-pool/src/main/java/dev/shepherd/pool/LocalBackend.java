package dev.shepherd.pool;

import com.google.errorprone.annotations.concurrent.GuardedBy;
import dev.shepherd.core.internal.Require;
import dev.shepherd.pool.spi.Backend;
import dev.shepherd.pool.spi.RunnerHandle;
import dev.shepherd.pool.spi.RunnerListener;
import dev.shepherd.pool.spi.RunnerSpec;
import dev.shepherd.pool.spi.RunningCall;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SortedSet;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * A {@link Backend} whose runners live in this JVM: each runner runs its calls on a few reusable
 * daemon platform threads of its own and, when those are all busy, each further call on a virtual
 * thread of its own, so a pool on this backend bounds the concurrency of in-process work
 * (maxConcurrency per runner, max runners) with the pool's deadlines, queueing and cancellation.
 * Useful in tests of code that uses a remote backend in production.
 *
 * <p>Arguments and results are passed as they are, not copied or encoded. Booting is immediate.
 * Cancelling a call interrupts its thread. A thread cannot be killed, so a call that ignores the
 * interrupt past the pool's cancel grace is written off instead ({@link RunningCall#abandon()}):
 * its slot is freed, its thread keeps running until the function returns, and the pool counts it
 * in {@link PoolSnapshot#stuckCalls()}; the runner and its other calls are not disturbed.
 * Thread-safe.
 */
public final class LocalBackend implements Backend {

  /*
   * Why reusable threads, and why this hand-off. A call costs what its thread hand-offs cost: the
   * caller wakes a worker, the worker wakes the caller with the result (two, as for
   * ThreadPoolExecutor submit + get; LocalCallBenchmark). Everything else is kept off that path:
   *
   * - The caller hands the call straight to an idle worker: it pops the worker from the runner's
   *   idle stack (most recently idle first, its thread the likeliest to be warm), writes the call
   *   into the worker's `task` field and unparks it. No queue node, no executor.
   * - A worker goes back on the idle stack only after it has reported the result, because
   *   reporting may run the caller's dependent stages (callAsync().thenApply(..)), which may
   *   block: a call handed to a worker still inside them would wait. (Its next call still finds
   *   it: the worker is back on the stack long before the woken caller gets there.)
   * - For the pool's own calls the worker reports straight to the pool (PoolCheckout.finished),
   *   which frees the slot and completes the caller's future: no future per call on the runner
   *   and no completion stage chained to it. The future of RunningCall.result() is made only when
   *   someone asks for it (backend users outside the pool, tests).
   *
   * - Both ends spin briefly before they park: a worker for its next call, a platform caller for
   *   a local result (PoolCheckout.await), each for at most SPIN_NANOS, about the cost of the park
   *   and unpark it may save, so a wait that ends up parking costs at most twice the best choice
   *   made in hindsight (the classic spin-then-block bound); a worker whose spin found no call
   *   parks at once for its next 15 idle periods, so rare calls cost one spin in 16. Back-to-back
   *   short calls then hand off with no thread woken at all; a caller unparks a worker only if it
   *   has parked. On a
   *   machine whose cores are all busy, spinning takes CPU from others: the SPIN_PROPERTY system
   *   property turns it down or off.
   *
   * Blocking calls stay safe: a runner keeps at most `reusable` workers (max(4, cores), fewer if
   * its maxConcurrency is lower); when none is idle the call gets a virtual thread of its own.
   * There is no queue, so a call that blocks never makes another wait (LocalBackendTest: 40
   * blocked pool calls on one runner, the next call still runs), and long-blocking calls pin at
   * most `reusable` platform threads per runner. The pool, not the runner, enforces
   * maxConcurrency. A platform thread cannot pin a virtual-thread carrier, so calls that block in
   * native code or inside synchronized blocks starve nobody either.
   *
   * Worker (class Worker), its `idle` flag guarded by the runner's lock:
   *   RUNNING --call ended, reported--> IDLE     (pushed on `idle`)
   *   IDLE    --popped by a caller----> HANDED   (off the stack; `task` is written next, then
   *                                               an unpark; the worker waits for it untimed)
   *   HANDED  --task seen-------------> RUNNING
   *   IDLE    --keep-alive passed or runner ended, still on the stack--> GONE (removed under lock)
   * A popped worker never leaves before its task arrives, so no call is lost; a task handed to
   * a worker of an ended runner runs into the `ended` check and fails with RunnerDiedException.
   *
   * Call (class LocalCall), its fields guarded by its monitor: `thread` is set when the call
   * starts and cleared when it ends, so cancel() interrupts only while this call runs, never the
   * next call on the same reused thread; the interrupt status is cleared when the call ends.
   * `finished` with its outcome is written once; result() made before or after it sees it.
   */
  private static final int REUSED = Math.max(4, Runtime.getRuntime().availableProcessors());
  private static final long KEEP_ALIVE_NANOS = TimeUnit.SECONDS.toNanos(30);
  /** After a worker's spin found no call, the idle periods in which it parks at once. */
  private static final int SPINS_SKIPPED_AFTER_A_MISS = 15;
  /** The system property that sets how long local hand-offs spin, in microseconds. */
  public static final String SPIN_PROPERTY = "dev.shepherd.pool.local.spinMicros";
  /**
   * How long a waiting worker, and a platform caller waiting for a local call's result, spin
   * before they park: by default 10 us, about what one park and unpark cost (see the comment
   * above); the system property {@value #SPIN_PROPERTY} sets it in microseconds (0 to 1,000; 0
   * never spins, for machines whose cores are all taken by other work).
   */
  static final long SPIN_NANOS =
      TimeUnit.MICROSECONDS.toNanos(Math.clamp(Integer.getInteger(SPIN_PROPERTY, 10), 0, 1_000));
  private static final System.Logger LOG = System.getLogger(LocalBackend.class.getName());

  private final FunctionRegistry functions;
  private final ThreadFactory virtualThreads;
  private final ThreadFactory platformThreads;

  private LocalBackend(FunctionRegistry functions) {
    this.functions = functions;
    this.virtualThreads = Thread.ofVirtual().name("shepherd-pool-local-", 0).factory();
    this.platformThreads = Thread.ofPlatform().daemon().name("shepherd-pool-local-p-", 0).factory();
  }

  /**
   * Returns a local backend running the given functions.
   *
   * @param functions the registry
   * @return the backend
   * @throws NullPointerException if {@code functions} is null
   */
  public static LocalBackend of(FunctionRegistry functions) {
    return new LocalBackend(Require.nonNull(functions, "functions"));
  }

  @Override
  public SortedSet<String> functionNames() {
    return functions.names();
  }

  @Override
  public @Nullable Object prepare(String function, @Nullable Object argument) {
    return argument;
  }

  @Override
  public RunnerHandle boot(RunnerSpec spec, RunnerListener listener) {
    return new LocalRunner(spec.runnerId(), listener, Math.min(REUSED, spec.maxConcurrency()));
  }

  @Override
  public String toString() {
    return "LocalBackend" + functions.names();
  }

  /** A runner of this backend; package-private so the pool can start its calls directly. */
  final class LocalRunner implements RunnerHandle {
    private final String id;
    private final RunnerListener listener;
    private final int reusable;
    private final ReentrantLock lock = new ReentrantLock();
    @GuardedBy("lock") private final ArrayDeque<Worker> idle = new ArrayDeque<>();
    @GuardedBy("lock") private final List<Worker> workers = new ArrayList<>();
    /** Calls on virtual threads of their own (every worker was busy). */
    private final Set<LocalCall> spilled = ConcurrentHashMap.newKeySet();
    private final AtomicBoolean ended = new AtomicBoolean();
    private volatile boolean stopping;

    LocalRunner(String id, RunnerListener listener, int reusable) {
      this.id = id;
      this.listener = listener;
      this.reusable = Math.max(1, reusable);
    }

    @Override
    public String id() {
      return id;
    }

    @Override
    public RunningCall start(String function, @Nullable Object argument, Duration timeout) {
      LocalCall call = new LocalCall(function, functions.get(function), argument, null, null, null);
      dispatch(call);
      return call;
    }

    /**
     * Starts a call of the pool: the worker reports the outcome to {@code pool} itself, with no
     * future in between.
     */
    RunningCall startForPool(PoolCheckout pool, PoolState.Call call, PoolState.Runner runner) {
      LocalCall local =
          new LocalCall(call.function, functions.get(call.function), call.prepared, pool, call, runner);
      dispatch(local);
      return local;
    }

    private void dispatch(LocalCall call) {
      if (stopping) {
        throw new RunnerDiedException(id, "runner " + id + " is shutting down", null);
      }
      Worker worker;
      boolean fresh = false;
      lock.lock();
      try {
        worker = idle.pollLast();
        if (worker != null) {
          worker.idle = false;
        } else if (workers.size() < reusable) {
          worker = new Worker();
          workers.add(worker);
          fresh = true;
        }
      } finally {
        lock.unlock();
      }
      if (worker == null) {
        spilled.add(call);
        try {
          virtualThreads.newThread(
                  () -> {
                    try {
                      call.run();
                    } finally {
                      spilled.remove(call);
                    }
                    call.report();
                  })
              .start();
        } catch (RuntimeException | Error e) {
          spilled.remove(call);
          throw new RunnerDiedException(id, "runner " + id + " could not start a thread", e);
        }
        return;
      }
      worker.task = call;
      if (fresh) {
        try {
          worker.thread.start();
        } catch (RuntimeException | Error e) {
          lock.lock();
          try {
            workers.remove(worker);
          } finally {
            lock.unlock();
          }
          throw new RunnerDiedException(id, "runner " + id + " could not start a thread", e);
        }
      } else if (worker.parked) {
        LockSupport.unpark(worker.thread); // a spinning worker sees `task` without it
      }
    }

    @Override
    public void shutdown(Duration timeout) {
      stopping = true;
      Thread.ofVirtual()
          .name("shepherd-pool-local-shutdown-" + id)
          .start(
              () -> {
                long deadline = System.nanoTime() + timeout.toNanos();
                for (LocalCall call : running()) {
                  long left = deadline - System.nanoTime();
                  try {
                    call.result().handle((r, t) -> null).get(Math.max(0, left), TimeUnit.NANOSECONDS);
                  } catch (Exception e) {
                    break;
                  }
                }
                end(new IllegalStateException("runner " + id + " shut down"));
              });
    }

    @Override
    public void kill() {
      stopping = true;
      end(new IllegalStateException("runner " + id + " killed"));
    }

    /** The calls running now, on workers and on virtual threads. */
    private List<LocalCall> running() {
      List<LocalCall> calls = new ArrayList<>(spilled);
      lock.lock();
      try {
        for (Worker worker : workers) {
          LocalCall current = worker.current;
          if (current != null) {
            calls.add(current);
          }
        }
      } finally {
        lock.unlock();
      }
      return calls;
    }

    private void end(Throwable cause) {
      if (ended.compareAndSet(false, true)) {
        // The pool hears of the death first, so callers see RunnerDiedException, not the cancel.
        listener.runnerDied(cause);
        for (LocalCall call : running()) {
          call.cancel();
        }
        List<Worker> sleeping;
        lock.lock();
        try {
          sleeping = new ArrayList<>(idle);
        } finally {
          lock.unlock();
        }
        for (Worker worker : sleeping) {
          LockSupport.unpark(worker.thread); // it sees `ended` and leaves
        }
      }
    }

    /** A reusable platform thread of this runner; see the state machine above. */
    private final class Worker implements Runnable {
      final Thread thread;
      /** The next call, written by the caller that popped this worker; read and cleared by it. */
      volatile @Nullable LocalCall task;
      /**
       * Idle periods in which this worker parks without spinning, after a spin that found no call:
       * calls that come seldom, or a machine too busy to run the caller soon, cost no spinning
       * beyond one probe in {@code SPINS_SKIPPED_AFTER_A_MISS + 1}. Read and written by the worker's
       * own thread only.
       */
      private int skipSpins;
      /** True while the worker parks (or is about to): only then does a caller unpark it. */
      volatile boolean parked;
      /** The call running now, for kill and shutdown. */
      volatile @Nullable LocalCall current;
      /** On the idle stack; guarded by the runner's lock (which ErrorProne cannot name from here). */
      boolean idle;

      Worker() {
        this.thread = platformThreads.newThread(this);
      }

      @Override
      public void run() {
        LocalCall call = take();
        while (call != null) {
          current = call;
          call.run();
          current = null;
          call.report();
          call = parkable() ? take() : null;
        }
      }

      /** Back on the idle stack after the result is reported; false if the runner ended. */
      private boolean parkable() {
        lock.lock();
        try {
          if (ended.get()) {
            workers.remove(this);
            return false;
          }
          idle = true;
          LocalRunner.this.idle.addLast(this);
          return true;
        } finally {
          lock.unlock();
        }
      }

      /** Waits for the next call; null if the worker leaves (keep-alive passed, runner ended). */
      private @Nullable LocalCall take() {
        LocalCall next = spinForTask();
        if (next != null) {
          return next;
        }
        long deadline = System.nanoTime() + KEEP_ALIVE_NANOS;
        boolean mayLeave = true;
        for (;;) {
          Thread.interrupted(); // a stray interrupt must not turn the park into a spin
          long left = deadline - System.nanoTime();
          if (mayLeave && (left <= 0 || ended.get())) {
            lock.lock();
            try {
              if (idle) {
                idle = false;
                LocalRunner.this.idle.remove(this);
                workers.remove(this);
                return null;
              }
            } finally {
              lock.unlock();
            }
            mayLeave = false; // popped by a caller: its call is on the way
          }
          parked = true; // then re-check: a caller writes `task` before it reads `parked`
          next = task;
          if (next == null) {
            if (mayLeave) {
              LockSupport.parkNanos(this, left);
            } else {
              LockSupport.park(this);
            }
            next = task;
          }
          parked = false;
          if (next != null) {
            task = null;
            return next;
          }
        }
      }

      /** Waits for the next call for up to {@link #SPIN_NANOS} without parking. */
      private @Nullable LocalCall spinForTask() {
        if (SPIN_NANOS == 0) {
          return null; // take() reads `task` before it parks
        }
        if (skipSpins > 0) {
          skipSpins--; // the last spin found no call: park at once for a while
          return null;
        }
        long until = System.nanoTime() + SPIN_NANOS;
        for (int i = 0; ; i++) {
          LocalCall next = task;
          if (next != null) {
            task = null;
            return next;
          }
          if ((i & 63) == 63 && (System.nanoTime() - until >= 0 || ended.get())) {
            skipSpins = SPINS_SKIPPED_AFTER_A_MISS;
            return null;
          }
          Thread.onSpinWait();
        }
      }
    }

    private final class LocalCall implements RunningCall {
      private final String function;
      private final RunnerFunction fn;
      private final @Nullable Object argument;
      // The pool's call, when the pool started it: the outcome goes straight to the pool.
      private final @Nullable PoolCheckout pool;
      private final PoolState.@Nullable Call poolCall;
      private final PoolState.@Nullable Runner poolRunner;
      @GuardedBy("this") private @Nullable Thread thread; // non-null only while the call runs
      @GuardedBy("this") private boolean finished;
      @GuardedBy("this") private @Nullable Object value;
      @GuardedBy("this") private @Nullable Throwable failure;
      @GuardedBy("this") private @Nullable CompletableFuture<@Nullable Object> result;
      private volatile boolean cancelled;

      LocalCall(
          String function,
          RunnerFunction fn,
          @Nullable Object argument,
          @Nullable PoolCheckout pool,
          PoolState.@Nullable Call poolCall,
          PoolState.@Nullable Runner poolRunner) {
        this.function = function;
        this.fn = fn;
        this.argument = argument;
        this.pool = pool;
        this.poolCall = poolCall;
        this.poolRunner = poolRunner;
      }

      /** Runs the function on this thread and records the outcome; {@link #report} tells it. */
      void run() {
        synchronized (this) {
          thread = Thread.currentThread();
        }
        Object outcome = null;
        Throwable thrown = null;
        try {
          if (ended.get()) {
            thrown = died();
          } else if (cancelled) {
            thrown = new CancellationException();
          } else {
            try {
              outcome = fn.apply(argument);
              if (cancelled) {
                thrown = cancelledOutcome();
              }
            } catch (Throwable t) {
              thrown = cancelled
                  ? cancelledOutcome()
                  : new CallFailedException(
                      "function \"" + function + "\" threw on runner " + id + ": " + t, t);
            }
          }
        } finally {
          synchronized (this) {
            thread = null;
            finished = true;
            value = thrown == null ? outcome : null;
            failure = thrown;
          }
          Thread.interrupted(); // a cancel's interrupt must not reach the next call on this thread
        }
      }

      /** Tells the pool (or the future, if someone asked for one) how the call ended. */
      void report() {
        Object outcome;
        Throwable thrown;
        CompletableFuture<@Nullable Object> future;
        synchronized (this) {
          outcome = value;
          thrown = failure;
          future = result;
        }
        if (pool != null && poolCall != null && poolRunner != null) {
          try {
            pool.finished(poolCall, poolRunner, outcome, thrown);
          } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "pool failed to take a result of runner " + id, e);
          }
        }
        if (future != null) {
          complete(future, outcome, thrown);
        }
      }

      private RunnerDiedException died() {
        return new RunnerDiedException(id, "runner " + id + " ended during the call", null);
      }

      /** A call stopped by its runner's end reports the death; one stopped by a cancel, the cancel. */
      private RuntimeException cancelledOutcome() {
        return ended.get() ? died() : new CancellationException();
      }

      @Override
      public CompletableFuture<@Nullable Object> result() {
        CompletableFuture<@Nullable Object> future;
        boolean done;
        Object outcome;
        Throwable thrown;
        synchronized (this) {
          if (result == null) {
            result = new CompletableFuture<>();
          }
          future = result;
          done = finished;
          outcome = value;
          thrown = failure;
        }
        if (done) {
          complete(future, outcome, thrown);
        }
        return future;
      }

      private void complete(
          CompletableFuture<@Nullable Object> future, @Nullable Object outcome, @Nullable Throwable thrown) {
        if (thrown == null) {
          future.complete(outcome);
        } else {
          future.completeExceptionally(thrown);
        }
      }

      @Override
      public boolean abandon() {
        return true;
      }

      @Override
      public void cancel() {
        cancelled = true;
        synchronized (this) {
          if (thread != null) {
            thread.interrupt();
          }
        }
      }
    }
  }
}
