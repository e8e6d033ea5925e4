package dev.shepherd.cache;

import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The default loader executor of every cache in the JVM: a load starts at once on a pooled
 * platform thread while fewer than {@link #PLATFORM_THREADS} loads run on them, and on a new
 * virtual thread beyond that. It runs the loads their callers do not run themselves (a blocking,
 * untimed leader runs its own: see {@code CoalescingCache.Builder#loadOnCallingThread}), so the
 * start latency measured below no longer applies to the stampede of {@code fetch} callers.
 *
 * <p>Why not only virtual threads: a virtual thread is never preempted. While every carrier runs
 * virtual threads that do not block (CPU-bound work), a virtual loader waits until one of them
 * ends, however long, and every caller of the key waits for that loader. A platform thread is
 * scheduled by the operating system beside the carriers and gets a core within its time slice
 * whatever they run. (Before Java 24, a virtual loader that blocks inside {@code synchronized}
 * also pins its carrier.) What it costs, measured on a quiet 2-core machine with Java 25 and
 * 10,000 virtual callers of one cold key (BENCHMARKS.md): in StampedeBenchmark, whose callers are
 * created and released at once, the platform loader started about 2.3 ms after the release, a
 * virtual loader about 1 ms, and the last caller was answered 1 to 3.6 ms later than with a
 * virtual thread per load in three runs; in benchmarks/adhoc/LoaderStart.java, whose callers are
 * parked long before one latch releases them, the platform loader started first (0.3 ms against
 * 1.4 to 1.8) and the stampede ended no later; with all 10,000 queued for a carrier at once the
 * virtual loader started at 0.25 ms, the platform one at 2.8, and the ends differed by less than
 * the runs' spread. An earlier note here said a virtual loader waited about 10 ms behind the
 * callers; that did not reproduce. Starting each load on both and running it on whichever starts
 * first was tried and not kept: the loader started sooner, but when the platform thread won,
 * waking the callers from it took longer, and the stampede as a whole was no faster.
 *
 * <p>Why not only platform threads: loaders block (a database call), so a JVM with many keys loading
 * at once would need one platform thread each; past the bound, virtual threads take them, as
 * before.
 *
 * <p>The pool has no queue ({@link SynchronousQueue}): a load either gets an idle or new platform
 * thread or is rejected and started on a virtual thread; it never waits behind another load. Idle
 * platform threads end after {@value #KEEP_ALIVE_SECONDS} s, so an idle JVM keeps none. Threads
 * are daemons named {@code shepherd-cache-loader-N}. A loader interrupted by its flight (load
 * timeout, abandoned) has its interrupt cleared by the flight before the thread returns here, and
 * the pool clears it again before the next task.
 */
final class LoaderThreads implements Executor {

  /** Loads at once on platform threads: 2 per core, at least 8. */
  static final int PLATFORM_THREADS = Math.max(8, 2 * Runtime.getRuntime().availableProcessors());

  static final long KEEP_ALIVE_SECONDS = 30;

  /** The JVM's loader threads, shared by every cache that keeps the default. */
  static final LoaderThreads SHARED = new LoaderThreads(PLATFORM_THREADS);

  private final ThreadPoolExecutor platform;

  LoaderThreads(int platformThreads) {
    AtomicInteger count = new AtomicInteger();
    ThreadFactory factory = task -> Thread.ofPlatform()
        .name("shepherd-cache-loader-" + count.incrementAndGet())
        .daemon(true)
        .unstarted(task);
    this.platform = new ThreadPoolExecutor(0, platformThreads, KEEP_ALIVE_SECONDS, TimeUnit.SECONDS,
        new SynchronousQueue<>(), factory, new ThreadPoolExecutor.AbortPolicy());
  }

  @Override
  public void execute(Runnable task) {
    try {
      platform.execute(task);
    } catch (RejectedExecutionException allBusy) {
      Thread.ofVirtual().name("shepherd-cache-loader").start(task);
    }
  }

  /** Platform threads running a load now (for tests). */
  int busyPlatformThreads() {
    return platform.getActiveCount();
  }
}
