package dev.shepherd.benchmarks.cache;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.cache.Fetched;
import dev.shepherd.cache.Load;
import dev.shepherd.cache.Loader;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Diagnostic for the hit path (not a peer comparison): what a plain Caffeine read costs, then the
 * same read that also dereferences the stored holder (as Shepherd must, to check the entry), plus a
 * LongAdder or a striped plain counter, then Shepherd's fetch. Single-threaded, average time.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class HitPathProbe {
  static final int KEYS = 1024, MASK = 1023;
  static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(long[].class);
  final long[] cells = new long[64 * 16 + 16];
  final LongAdder adder = new LongAdder();
  final Integer[] keys = new Integer[KEYS];
  Cache<Integer, Object[]> holder;
  Cache<Integer, Integer> plain;
  CoalescingCache<Integer, Integer> shepherd;
  final Loader<Integer, Integer> loader = Load::commit;
  int i;

  @Setup public void setUp() throws Exception {
    holder = Caffeine.newBuilder().maximumSize(10_000).build();
    plain = Caffeine.newBuilder().maximumSize(10_000).build();
    shepherd = CoalescingCache.<Integer, Integer>builder().maximumSize(10_000).build();
    for (int k = 0; k < KEYS; k++) { keys[k] = k; holder.put(k, new Object[] {k}); plain.put(k, k); shepherd.fetch(keys[k], loader); }
  }

  @Benchmark public Integer plainGet() { return plain.getIfPresent(keys[i++ & MASK]); }
  @Benchmark public Object holderGet() { Object[] h = holder.getIfPresent(keys[i++ & MASK]); return h == null ? null : h[0]; }
  @Benchmark public Object holderGetStripe() {
    Object[] h = holder.getIfPresent(keys[i++ & MASK]);
    int index = (((int) Thread.currentThread().threadId()) & 63) * 16 + 16;
    SLOT.setOpaque(cells, index, (long) SLOT.getOpaque(cells, index) + 1L);
    return h == null ? null : h[0]; }
  @Benchmark public Object holderGetAdder() { Object[] h = holder.getIfPresent(keys[i++ & MASK]); adder.increment(); return h == null ? null : h[0]; }
  @Benchmark public Fetched<Integer> shepherd() throws InterruptedException { return shepherd.fetch(keys[i++ & MASK], loader); }
}
