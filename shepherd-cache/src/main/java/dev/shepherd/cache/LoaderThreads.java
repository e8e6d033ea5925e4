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
 * virtual thread beyond that.
 *
 * <p>Why not only virtual threads: a stampede is thousands of callers, often on virtual threads,
 * missing one key at once. A virtual loader thread is queued for a carrier behind every runnable
 * one of them (about 10 ms for 10,000 callers on 2 cores all runnable at once), and every caller
 * waits for that loader. A platform thread is scheduled by the operating system beside the
 * carriers: it waits for a core the busy carriers hold (about 2.5 ms in StampedeBenchmark, where a
 * latch releases the callers one after another and a virtual loader started after 1.2 to 1.8 ms),
 * but never behind the queue of virtual threads, however long it is.
 * Why not only platform threads: loaders block (a database call), so a JVM with many keys loading
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
