package dev.shepherd.benchmarks.cachecluster;

import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.cache.Load;
import dev.shepherd.cache.Loader;
import dev.shepherd.cache.redis.KeyCodec;
import dev.shepherd.cache.redis.RedisCourier;
import dev.shepherd.cache.redis.ValueCodec;
import io.lettuce.core.RedisClient;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One JVM of {@link ClusterStampedeBenchmark}: a cache in cluster mode (Redis) or local-only.
 * Arguments: {@code cluster|local}, Redis URI, callers per stampede, warm-up loads. On {@code GO key startAtMillis}
 * it releases its callers at that wall-clock millisecond on one cold key (loader: 20 ms) and answers
 * {@code DONE runs lastAnswerMicros failedCallers loadStartMicros loadEndMicros}, each measured
 * with {@link System#nanoTime()} from this JVM's own release (the load times are -1 in a JVM that
 * did not load). The wall clock only schedules the release: it can jump (a 9 s jump once showed
 * up as a 9 s stampede when these times were wall-clock differences).
 */
public final class StampedeNode {

  private StampedeNode() {}

  /**
   * Runs {@code loads} misses through the cache before the JVM says READY, the same key names in
   * every JVM (so the JVMs also wait on each other's loads and take values from the shared tier),
   * with a loader that answers at once. A service's JVM talks to its Redis all day: its Redis
   * client and the courier's paths are compiled code, not the interpreter's first runs, and a
   * single-shot stampede measured on a JVM that has run each of those paths a few times only would
   * time the interpreter. Local mode runs the same warm-up through its own path.
   */
  static void warmUp(CoalescingCache<String, String> cache, int loads) throws Exception {
    Loader<String, String> quick = k -> Load.commit("w-" + k);
    for (int i = 0; i < loads; i++) {
      cache.fetch("warm-up-" + i, quick);
    }
  }

  /** Microseconds from {@code released} to {@code nanos}, or -1 if {@code nanos} was never set. */
  private static long micros(long nanos, long released) {
    return nanos == 0L ? -1L : (nanos - released) / 1_000L;
  }

  public static void main(String[] args) throws Exception {
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    boolean cluster = args[0].equals("cluster");
    int callers = Integer.parseInt(args[2]);
    CoalescingCache.Builder<String, String> builder = CoalescingCache.<String, String>builder()
        .timeToLive(Duration.ofMinutes(10));
    RedisCourier<String, String> courier = null;
    if (cluster) {
      RedisClient client = RedisClient.create(args[1]);
      courier = RedisCourier.builder(client, KeyCodec.string(), ValueCodec.string())
          .name("bench").build();
      builder.courier(courier);
    }
    CoalescingCache<String, String> cache = builder.build();
    if (courier != null) {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (!courier.isClustered() && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      if (!courier.isClustered()) {
        throw new IllegalStateException("no cluster mode within 60 s: is Redis at " + args[1] + "?");
      }
    }
    AtomicInteger runs = new AtomicInteger();
    AtomicLong loadStarted = new AtomicLong();
    AtomicLong loadEnded = new AtomicLong();
    Loader<String, String> loader = k -> {
      runs.incrementAndGet();
      loadStarted.compareAndSet(0L, System.nanoTime());
      Thread.sleep(20);
      loadEnded.accumulateAndGet(System.nanoTime(), Math::max);
      return Load.commit("v-" + k);
    };
    warmUp(cache, Integer.parseInt(args[3]));
    out.println("READY");
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      String[] w = line.split(" ", -1);
      if (!w[0].equals("GO")) {
        break;
      }
      String key = w[1];
      long startAt = Long.parseLong(w[2]);
      runs.set(0);
      loadStarted.set(0L);
      loadEnded.set(0L);
      AtomicLong last = new AtomicLong();
      AtomicInteger failed = new AtomicInteger();
      CountDownLatch go = new CountDownLatch(1);
      CountDownLatch done = new CountDownLatch(callers);
      for (int i = 0; i < callers; i++) {
        Thread.ofVirtual().start(() -> {
          try {
            go.await();
            cache.fetch(key, loader);
            last.accumulateAndGet(System.nanoTime(), Math::max);
          } catch (Exception e) {
            failed.incrementAndGet(); // reported in the DONE line; the benchmark refuses the run
          } finally {
            done.countDown();
          }
        });
      }
      while (System.currentTimeMillis() < startAt) {
        Thread.onSpinWait();
      }
      long released = System.nanoTime();
      go.countDown();
      done.await();
      out.println("DONE " + runs.get() + " " + micros(last.get(), released) + " " + failed.get()
          + " " + micros(loadStarted.get(), released) + " " + micros(loadEnded.get(), released));
    }
    System.exit(0);
  }
}
