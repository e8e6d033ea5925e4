package dev.shepherd.benchmarks.cache;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.cache.Fetched;
import dev.shepherd.cache.Load;
import dev.shepherd.cache.Loader;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Hit throughput on hot keys: Shepherd's {@code fetch} against Caffeine's {@code getIfPresent} and
 * {@code get(k, fn)} on caches of the same shape, side by side. Run with {@code -t 1} and
 * {@code -t 2}.
 *
 * <p>{@code ttl=none}: no expiry anywhere (the plain Caffeine cache; Shepherd then reads no clock).
 * {@code ttl=5m}: every cache expires values after five minutes (Caffeine then reads the clock on
 * every read, and so does Shepherd, through Caffeine). The target is Shepherd's fetch at least 0.95
 * times Caffeine's getIfPresent in the same row.
 *
 * <p>Two fair pairs: Shepherd with {@code recordStats(false)} ({@code shepherdFetchNoStats}) against
 * plain Caffeine ({@code caffeineGetIfPresent}), and Shepherd's default, which counts hits
 * ({@code shepherdFetch}), against Caffeine with {@code recordStats()}
 * ({@code caffeineStatsGetIfPresent}). With a time to live Shepherd uses Caffeine's fixed expiry
 * ({@code expireAfterWrite}), the same as the peers. {@code caffeineVariableGetIfPresent} is
 * Caffeine with variable expiry ({@code expireAfter}; with {@code ttl=none} it is the plain cache
 * again), which Shepherd used before: it shows what per-entry expiry would cost a hit.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(1)
public class CacheHitBenchmark {

  private static final int KEYS = 1 << 10;
  private static final int MASK = KEYS - 1;

  @Param({"none", "5m"})
  public String ttl;

  private final Integer[] keys = new Integer[KEYS];
  private CoalescingCache<Integer, Integer> shepherd;
  private CoalescingCache<Integer, Integer> shepherdNoStats;
  private Cache<Integer, Integer> caffeine;
  private Cache<Integer, Integer> caffeineStats;
  private Cache<Integer, Integer> caffeineVariable;
  private final Loader<Integer, Integer> loader = Load::commit;
  // Kept in a field on purpose: every get() call passes the same function instance, as a real
  // caller would, so the benchmark does not measure a lambda capture per call.
  @SuppressWarnings("UnnecessaryLambda")
  private final Function<Integer, Integer> mapping = k -> k;

  /** Per-thread position in the key array, so threads do not share a counter. */
  @State(Scope.Thread)
  public static class Cursor {
    int index = (int) Thread.currentThread().threadId() * 97;

    int next() {
      return index++ & MASK;
    }
  }

  @Setup
  public void setUp() throws Exception {
    CoalescingCache.Builder<Integer, Integer> builder =
        CoalescingCache.<Integer, Integer>builder().maximumSize(10_000);
    Caffeine<Object, Object> peer = Caffeine.newBuilder().maximumSize(10_000);
    Caffeine<Object, Object> statsPeer = Caffeine.newBuilder().maximumSize(10_000).recordStats();
    Caffeine<Object, Object> variablePeer = Caffeine.newBuilder().maximumSize(10_000);
    if (ttl.equals("5m")) {
      builder.timeToLive(Duration.ofMinutes(5));
      peer.expireAfterWrite(Duration.ofMinutes(5));
      statsPeer.expireAfterWrite(Duration.ofMinutes(5));
      variablePeer.expireAfter(new FiveMinutes());
    }
    shepherd = builder.build();
    shepherdNoStats = builder.recordStats(false).build();
    caffeine = peer.build();
    caffeineStats = statsPeer.build();
    caffeineVariable = variablePeer.build();
    for (int i = 0; i < KEYS; i++) {
      keys[i] = i;
      shepherd.fetch(keys[i], loader);
      shepherdNoStats.fetch(keys[i], loader);
      caffeine.put(keys[i], keys[i]);
      caffeineStats.put(keys[i], keys[i]);
      caffeineVariable.put(keys[i], keys[i]);
    }
  }

  /** Five minutes after create or update, unchanged by reads: what Shepherd's storage does. */
  static final class FiveMinutes implements Expiry<Object, Object> {
    private static final long NANOS = Duration.ofMinutes(5).toNanos();

    @Override
    public long expireAfterCreate(Object key, Object value, long currentTime) {
      return NANOS;
    }

    @Override
    public long expireAfterUpdate(Object key, Object value, long currentTime, long currentDuration) {
      return NANOS;
    }

    @Override
    public long expireAfterRead(Object key, Object value, long currentTime, long currentDuration) {
      return currentDuration;
    }
  }

  @Benchmark
  public Integer caffeineGetIfPresent(Cursor cursor) {
    return caffeine.getIfPresent(keys[cursor.next()]);
  }

  @Benchmark
  public Integer caffeineStatsGetIfPresent(Cursor cursor) {
    return caffeineStats.getIfPresent(keys[cursor.next()]);
  }

  @Benchmark
  public Integer caffeineVariableGetIfPresent(Cursor cursor) {
    return caffeineVariable.getIfPresent(keys[cursor.next()]);
  }

  @Benchmark
  public Integer caffeineGet(Cursor cursor) {
    return caffeine.get(keys[cursor.next()], mapping);
  }

  @Benchmark
  public Fetched<Integer> shepherdFetch(Cursor cursor) throws InterruptedException {
    return shepherd.fetch(keys[cursor.next()], loader);
  }

  @Benchmark
  public Fetched<Integer> shepherdFetchNoStats(Cursor cursor) throws InterruptedException {
    return shepherdNoStats.fetch(keys[cursor.next()], loader);
  }
}
