package dev.shepherd.pool;

import com.google.errorprone.annotations.concurrent.GuardedBy;
import dev.shepherd.pool.spi.Backend;
import dev.shepherd.pool.spi.RunnerHandle;
import dev.shepherd.pool.spi.RunnerListener;
import dev.shepherd.pool.spi.RunnerSpec;
import dev.shepherd.pool.spi.RunningCall;
import dev.shepherd.core.Require;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
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
   * Why reusable threads first: starting a virtual thread per call costs a thread start and a
   * ForkJoinPool carrier wake-up on top of the two hand-offs any executor does (caller -> worker,
   * worker -> caller); handing a short call to a parked platform thread is the cheaper hand-off
   * (LocalCallBenchmark). A runner keeps at most REUSED of them (fewer if its maxConcurrency is
   * lower), idle ones end after KEEP_ALIVE, and calls beyond them spill to virtual threads, so
   * long-blocking calls never pin more than REUSED platform threads per runner, and a call that
   * blocks never makes another wait: there is no queue, a call either finds an idle reusable
   * thread or gets a new virtual one (LocalBackendTest: 40 blocked pool calls on one runner, the
   * next call still runs). The pool, not the runner, enforces maxConcurrency. A platform thread
   * also cannot pin a virtual-thread carrier, so calls that block in native code or inside
   * synchronized blocks starve nobody either.
   *
   * Per call, guarded by the call's monitor: thread is set when the call starts and cleared when
   * it ends, so cancel() interrupts only while this call runs, never the next call on the same
   * reused thread; the interrupt status is cleared when the call ends.
   */
  private static final int REUSED = Math.max(4, Runtime.getRuntime().availableProcessors());
  private static final long KEEP_ALIVE_SECONDS = 30;

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
  public FunctionRegistry functions() {
    return functions;
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

  private final class LocalRunner implements RunnerHandle {
    private final String id;
    private final RunnerListener listener;
    private final Set<LocalCall> calls = ConcurrentHashMap.newKeySet();
    private final AtomicBoolean ended = new AtomicBoolean();
    private final ThreadPoolExecutor executor;
    private volatile boolean stopping;

    LocalRunner(String id, RunnerListener listener, int reused) {
      this.id = id;
      this.listener = listener;
      this.executor =
          new ThreadPoolExecutor(
              0,
              Math.max(1, reused),
              KEEP_ALIVE_SECONDS,
              TimeUnit.SECONDS,
              new SynchronousQueue<>(),
              platformThreads,
              (task, pool) -> {
                if (pool.isShutdown()) {
                  throw new RejectedExecutionException("runner " + id + " has ended");
                }
                virtualThreads.newThread(task).start(); // every reusable thread is busy
              });
    }

    @Override
    public String id() {
      return id;
    }

    @Override
    public RunningCall start(String function, @Nullable Object argument, Duration timeout) {
      if (stopping) {
        throw new RunnerDiedException(id, "runner " + id + " is shutting down", null);
      }
      RunnerFunction fn = functions.get(function);
      LocalCall call = new LocalCall(function, fn, argument);
      calls.add(call);
      try {
        executor.execute(call);
      } catch (RejectedExecutionException e) {
        calls.remove(call);
        throw new RunnerDiedException(id, "runner " + id + " has ended", e);
      }
      return call;
    }

    @Override
    public void shutdown(Duration timeout) {
      stopping = true;
      Thread.ofVirtual()
          .name("shepherd-pool-local-shutdown-" + id)
          .start(
              () -> {
                long deadline = System.nanoTime() + timeout.toNanos();
                for (LocalCall call : calls) {
                  long left = deadline - System.nanoTime();
                  try {
                    call.result.handle((r, t) -> null).get(Math.max(0, left), TimeUnit.NANOSECONDS);
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

    private void end(Throwable cause) {
      if (ended.compareAndSet(false, true)) {
        // The pool hears of the death first, so callers see RunnerDiedException, not the cancel.
        listener.runnerDied(cause);
        for (LocalCall call : calls) {
          call.cancel();
        }
        executor.shutdown(); // idle reusable threads end; running calls were interrupted above
      }
    }

    private final class LocalCall implements RunningCall, Runnable {
      private final String function;
      private final RunnerFunction fn;
      private final @Nullable Object argument;
      private final CompletableFuture<@Nullable Object> result = new CompletableFuture<>();
      @GuardedBy("this") private @Nullable Thread thread; // non-null only while the call runs
      private volatile boolean cancelled;

      LocalCall(String function, RunnerFunction fn, @Nullable Object argument) {
        this.function = function;
        this.fn = fn;
        this.argument = argument;
      }

      @Override
      public void run() {
        synchronized (this) {
          thread = Thread.currentThread();
        }
        try {
          runFunction();
        } finally {
          synchronized (this) {
            thread = null;
          }
          Thread.interrupted(); // a cancel's interrupt must not reach the next call on this thread
          calls.remove(this);
          if (ended.get() && !result.isDone()) {
            result.completeExceptionally(
                new RunnerDiedException(id, "runner " + id + " ended during the call", null));
          }
        }
      }

      private void runFunction() {
        if (ended.get()) {
          result.completeExceptionally(
              new RunnerDiedException(id, "runner " + id + " ended during the call", null));
          return;
        }
        if (cancelled) {
          result.completeExceptionally(new CancellationException());
          return;
        }
        try {
          Object value = fn.apply(argument);
          if (cancelled) {
            completeCancelled();
          } else {
            result.complete(value);
          }
        } catch (Throwable t) {
          if (cancelled) {
            completeCancelled();
          } else {
            result.completeExceptionally(
                new CallFailedException(
                    "function \"" + function + "\" threw on runner " + id + ": " + t, t));
          }
        }
      }

      /** A call stopped by its runner's end reports the death; one stopped by a cancel, the cancel. */
      private void completeCancelled() {
        result.completeExceptionally(ended.get()
            ? new RunnerDiedException(id, "runner " + id + " ended during the call", null)
            : new CancellationException());
      }

      @Override
      public CompletableFuture<@Nullable Object> result() {
        return result;
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
