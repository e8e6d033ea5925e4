package dev.shepherd.benchmarks.cache;

import com.github.benmanes.caffeine.cache.AsyncCache;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.google.common.cache.CacheBuilder;
import com.google.common.cache.CacheLoader;
import com.google.common.cache.LoadingCache;
import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.cache.Load;
import dev.shepherd.cache.Loader;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Stampede: 10,000 virtual threads ask for one cold key at once; the loader takes 20 ms. Each
 * invocation is one stampede on fresh caches; its time is until the last caller is answered, and the
 * {@code loaderRuns} counter is how many times the loader ran, {@code msToLastAnswer} the time from
 * releasing the callers (all started and parked on one latch) to the last answer. Side by side: Shepherd's fetch,
 * Caffeine's synchronous {@code get(k, fn)}, Caffeine's {@code AsyncCache.get(k, fn).join()} and
 * Guava's {@code LoadingCache.get}. {@code msToLastCall}, {@code msToLoadStart} and
 * {@code msToLoadEnd} split that time: arrival of the callers, the wait for the loader to start
 * (Guava and Shepherd's default run it on the first caller's thread; Caffeine async, and Shepherd
 * with {@code loadOnCallingThread(false)} in {@link #shepherdLoaderThread}, on a pooled platform
 * thread, which must wait for a core held by the busy carriers), the load, and the wake-up of
 * every waiter after it.
 *
 * <p>The {@code ...Failing} methods: the loader throws after 20 ms. Callers that reach the cache
 * after a failed load ended start a new one unless failures are kept (Shepherd's
 * {@code cacheFailuresFor}, in {@link #shepherdFailingCached}); 10,000 callers released at once on
 * two cores take longer than 20 ms to all arrive. Caffeine's synchronous get runs it again
 * in every blocked thread, one after another (about 200 s for 10,000 callers), so that pair runs
 * once with no warm-up ({@link #caffeineSyncFailing}); everything else uses the class settings.
 * Run without {@code -wi}/{@code -i} on the command line so the annotations apply.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2)
@Measurement(iterations = 5)
@Fork(value = 1, jvmArgsAppend = "-Xmx4g")
public class StampedeBenchmark {

  static final int CALLERS = 10_000;
  static final long LOAD_NANOS = TimeUnit.MILLISECONDS.toNanos(20);

  /** How many times the loader ran in the measured invocation, reported beside the time. */
  @State(Scope.Thread)
  @AuxCounters(AuxCounters.Type.EVENTS)
  public static class Runs {
    public long loaderRuns;
    public long callersAnswered;
    /** Milliseconds from the release of the callers to the last answer. */
    public double msToLastAnswer;
    /**
     * Milliseconds from the release of the callers to the last one calling the cache: past the
     * loader's 20 ms, callers are still arriving when the load ends (and find the value stored, or
     * with a failing loader start a new load).
     */
    public double msToLastCall;
    /** Milliseconds from the release of the callers to the (first) loader run starting. */
    public double msToLoadStart;
    /** Milliseconds from the release of the callers to the (last) loader run ending. */
    public double msToLoadEnd;
  }

  private final AtomicInteger runs = new AtomicInteger();
  private final AtomicLong answered = new AtomicLong();
  private final AtomicLong loadStarted = new AtomicLong();
  private final AtomicLong loadEnded = new AtomicLong();

  private CoalescingCache<String, String> shepherd;
  private CoalescingCache<String, String> shepherdCachingFailures;
  private CoalescingCache<String, String> shepherdOnCommonPool;
  private CoalescingCache<String, String> shepherdLoaderThread;
  private Cache<String, String> caffeine;
  private AsyncCache<String, String> caffeineAsync;
  private CoalescingCache<String, String> shepherdVirtual;
  private LoadingCache<String, String> guava;
  private LoadingCache<String, String> guavaFailing;

  @Setup(Level.Invocation)
  public void freshCaches() {
    runs.set(0);
    answered.set(0);
    loadStarted.set(0);
    loadEnded.set(0);
    shepherd = CoalescingCache.<String, String>builder().build();
    shepherdCachingFailures =
        CoalescingCache.<String, String>builder().cacheFailuresFor(Duration.ofSeconds(10)).build();
    shepherdOnCommonPool =
        CoalescingCache.<String, String>builder().executor(ForkJoinPool.commonPool()).build();
    shepherdLoaderThread =
        CoalescingCache.<String, String>builder().loadOnCallingThread(false).build();
    shepherdVirtual = CoalescingCache.<String, String>builder().executor(VIRTUAL).build();
    caffeine = Caffeine.newBuilder().build();
    caffeineAsync = Caffeine.newBuilder().buildAsync();
    guava = CacheBuilder.newBuilder().build(CacheLoader.from(k -> load(k)));
    guavaFailing = CacheBuilder.newBuilder().build(CacheLoader.from(k -> fail(k)));
  }

  /** A new virtual thread per load: the executor the default's platform threads stand in for. */
  private static final Executor VIRTUAL =
      task -> Thread.ofVirtual().name("stampede-loader").start(task);

  /** Shepherd's loaders: the shared {@link #load} and {@link #fail} as a {@link Loader}. */
  private final Loader<String, String> loading = k -> Load.commit(load(k));

  private final Loader<String, String> failing = k -> Load.commit(fail(k));

  String load(String key) {
    runs.incrementAndGet();
    loadStarted.compareAndSet(0L, System.nanoTime());
    sleep();
    loadEnded.accumulateAndGet(System.nanoTime(), Math::max);
    return "value-of-" + key;
  }

  String fail(String key) {
    runs.incrementAndGet();
    loadStarted.compareAndSet(0L, System.nanoTime());
    sleep();
    loadEnded.accumulateAndGet(System.nanoTime(), Math::max);
    throw new IllegalStateException("source down for " + key);
  }

  private static void sleep() {
    try {
      TimeUnit.NANOSECONDS.sleep(LOAD_NANOS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /**
   * Starts 10,000 virtual threads parked on one latch, releases them together, and waits for every
   * one of them; the time from the release to the last answer goes into {@code msToLastAnswer}.
   */
  private void stampede(Runs counters, ThrowingRunnable call) throws InterruptedException {
    CountDownLatch go = new CountDownLatch(1);
    AtomicLong lastAnswer = new AtomicLong();
    AtomicLong lastCall = new AtomicLong();
    List<Thread> threads = new ArrayList<>(CALLERS);
    for (int i = 0; i < CALLERS; i++) {
      threads.add(
          Thread.ofVirtual()
              .start(
                  () -> {
                    try {
                      go.await();
                      lastCall.accumulateAndGet(System.nanoTime(), Math::max);
                      call.run();
                    } catch (Exception expectedWhenFailing) {
                      // A failure is an answer too.
                    }
                    answered.incrementAndGet();
                    lastAnswer.accumulateAndGet(System.nanoTime(), Math::max);
                  }));
    }
    long released = System.nanoTime();
    go.countDown();
    for (Thread t : threads) {
      t.join();
    }
    counters.loaderRuns = runs.get();
    counters.callersAnswered = answered.get();
    counters.msToLastAnswer = (lastAnswer.get() - released) / 1e6;
    counters.msToLastCall = (lastCall.get() - released) / 1e6;
    counters.msToLoadStart = (loadStarted.get() - released) / 1e6;
    counters.msToLoadEnd = (loadEnded.get() - released) / 1e6;
  }

  @FunctionalInterface
  interface ThrowingRunnable {
    void run() throws Exception;
  }

  // ---- loader succeeds ----

  @Benchmark
  public void shepherd(Runs counters) throws InterruptedException {
    stampede(counters, () -> shepherd.fetch("cold", loading));
  }

  /**
   * Shepherd with its loaders on {@code ForkJoinPool.commonPool()}, Caffeine's default executor:
   * like for like with {@link #caffeineAsync} on where the loader runs (Shepherd's default is its
   * own pooled platform loader threads).
   */
  @Benchmark
  public void shepherdCommonPool(Runs counters) throws InterruptedException {
    stampede(counters, () -> shepherdOnCommonPool.fetch("cold", loading));
  }

  /**
   * Shepherd with a new virtual thread per load (the executor set, so the leader does not run its
   * own): against {@link #shepherdLoaderThread}, what the pooled platform threads' start latency
   * costs (see LoaderThreads for why they are the default executor).
   */
  @Benchmark
  public void shepherdVirtual(Runs counters) throws InterruptedException {
    stampede(counters, () -> shepherdVirtual.fetch("cold", loading));
  }

  /** {@link #shepherdVirtual} with the failing loader. */
  @Benchmark
  public void shepherdFailingVirtual(Runs counters) throws InterruptedException {
    stampede(counters, () -> shepherdVirtual.fetch("cold", failing));
  }

  /**
   * Shepherd with {@code loadOnCallingThread(false)}: the leader hands its load to the shared
   * loader threads, as every load did before the leader ran its own (the default, like Guava).
   */
  @Benchmark
  public void shepherdLoaderThread(Runs counters) throws InterruptedException {
    stampede(counters, () -> shepherdLoaderThread.fetch("cold", loading));
  }

  @Benchmark
  public void caffeineSync(Runs counters) throws InterruptedException {
    stampede(counters, () -> {
      String unused = caffeine.get("cold", this::load);
    });
  }

  @Benchmark
  public void caffeineAsync(Runs counters) throws InterruptedException {
    stampede(counters, () -> caffeineAsync.get("cold", this::load).join());
  }

  @Benchmark
  public void guava(Runs counters) throws InterruptedException {
    stampede(counters, () -> guava.get("cold"));
  }

  // ---- loader fails ----

  @Benchmark
  public void shepherdFailing(Runs counters) throws InterruptedException {
    stampede(counters, () -> shepherd.fetch("cold", failing));
  }

  /** A failing loader on the common pool, as {@link #caffeineAsyncFailing}'s runs. */
  @Benchmark
  public void shepherdFailingCommonPool(Runs counters) throws InterruptedException {
    stampede(counters, () -> shepherdOnCommonPool.fetch("cold", failing));
  }

  /** A failing loader on the shared loader threads ({@code loadOnCallingThread(false)}). */
  @Benchmark
  public void shepherdFailingLoaderThread(Runs counters) throws InterruptedException {
    stampede(counters, () -> shepherdLoaderThread.fetch("cold", failing));
  }

  /** The same with negative caching on: late callers get the kept failure instead of a new load. */
  @Benchmark
  public void shepherdFailingCached(Runs counters) throws InterruptedException {
    stampede(counters, () -> shepherdCachingFailures.fetch("cold", failing));
  }

  @Benchmark
  @Warmup(iterations = 0)
  @Measurement(iterations = 1)
  public void caffeineSyncFailing(Runs counters) throws InterruptedException {
    stampede(counters, () -> {
      String unused = caffeine.get("cold", this::fail);
    });
  }

  @Benchmark
  public void caffeineAsyncFailing(Runs counters) throws InterruptedException {
    stampede(counters, () -> caffeineAsync.get("cold", this::fail).join());
  }

  @Benchmark
  public void guavaFailing(Runs counters) throws InterruptedException {
    stampede(counters, () -> guavaFailing.get("cold"));
  }
}
