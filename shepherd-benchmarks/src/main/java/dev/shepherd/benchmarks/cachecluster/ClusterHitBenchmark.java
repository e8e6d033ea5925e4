package dev.shepherd.benchmarks.cachecluster;

import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.cache.Load;
import dev.shepherd.cache.Loader;
import dev.shepherd.cache.redis.KeyCodec;
import dev.shepherd.cache.redis.RedisCourier;
import dev.shepherd.cache.redis.ValueCodec;
import dev.shepherd.testing.RedisServer;
import io.lettuce.core.RedisClient;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Hit throughput with and without cluster mode: two caches of the same shape (10,000 entries at
 * most, a five-minute time to live), one local-only, one with a {@code RedisCourier} whose values
 * were all loaded through Redis. The target is the same figure for both: a local hit never touches
 * the courier or Redis. Run with {@code -t 1} and {@code -t 2}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(1)
public class ClusterHitBenchmark {

  private static final int KEYS = 1 << 10;
  private static final int MASK = KEYS - 1;

  private final String[] keys = new String[KEYS];
  private final Loader<String, String> loader = Load::commit;
  private CoalescingCache<String, String> local;
  private CoalescingCache<String, String> cluster;
  private RedisServer redis;
  private RedisClient client;
  private RedisCourier<String, String> courier;

  /** Per-thread position in the key array. */
  @State(Scope.Thread)
  public static class Cursor {
    int index = (int) Thread.currentThread().threadId() * 97;

    int next() {
      return index++ & MASK;
    }
  }

  @Setup
  public void setUp() throws Exception {
    redis = RedisServer.create();
    redis.start();
    client = RedisClient.create(redis.uri());
    courier = RedisCourier.builder(client, KeyCodec.string(), ValueCodec.string()).name("hits").build();
    local = CoalescingCache.<String, String>builder()
        .maximumSize(10_000).timeToLive(Duration.ofMinutes(5)).build();
    cluster = CoalescingCache.<String, String>builder()
        .maximumSize(10_000).timeToLive(Duration.ofMinutes(5)).courier(courier).build();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (!courier.isClustered()) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("no cluster mode within 60 s");
      }
      Thread.sleep(10);
    }
    for (int i = 0; i < KEYS; i++) {
      keys[i] = "key-" + i;
      local.fetch(keys[i], loader);
      cluster.fetch(keys[i], loader);
    }
    if (courier.stats().leads() != KEYS) {
      throw new IllegalStateException("values were not loaded through Redis: " + courier.stats());
    }
  }

  @TearDown
  public void tearDown() {
    // Every hit must have been local: no load, no answer from the cluster after setUp, no fall back.
    RedisCourier.Stats stats = courier.stats();
    if (stats.leads() != KEYS || stats.sharedAnswers() != 0 || stats.fallbacks() != 0
        || cluster.stats().loads() != KEYS) {
      throw new IllegalStateException("hits left the JVM: " + stats + ", " + cluster.stats());
    }
    courier.close();
    client.shutdown();
    redis.close();
  }

  @Benchmark
  public Object localOnly(Cursor cursor) throws InterruptedException {
    return local.fetch(keys[cursor.next()], loader);
  }

  @Benchmark
  public Object clusterMode(Cursor cursor) throws InterruptedException {
    return cluster.fetch(keys[cursor.next()], loader);
  }
}
