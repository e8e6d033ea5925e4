package dev.shepherd.cache;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * Counts hits without an atomic instruction: each thread adds to one of 64 padded stripes chosen by
 * its thread id, with a plain read and an opaque write; {@link #sum()} adds the stripes up.
 *
 * <p>Why not a {@link java.util.concurrent.atomic.LongAdder}: its uncontended path is a CAS, which on
 * the machines measured costs a third of a whole Caffeine {@code getIfPresent}, and a hit must cost
 * no more than Caffeine's read. The price: two threads whose ids fall on the same stripe and that
 * count at the same instant may lose one increment, so {@code hits} is a close lower bound rather
 * than exact under heavy contention. Every other counter of {@link CacheStats} is exact.
 */
final class HitCounter {

  private static final int STRIPES = 64;
  /** Longs per stripe: 16 longs = 128 bytes, so no two stripes share a cache line (or a pair). */
  private static final int SPACING = 16;

  private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(long[].class);

  private final long[] cells = new long[STRIPES * SPACING + SPACING];

  void increment() {
    int index = (((int) Thread.currentThread().threadId()) & (STRIPES - 1)) * SPACING + SPACING;
    SLOT.setOpaque(cells, index, (long) SLOT.getOpaque(cells, index) + 1L);
  }

  long sum() {
    long sum = 0L;
    for (int i = SPACING; i < cells.length; i += SPACING) {
      sum += (long) SLOT.getOpaque(cells, i);
    }
    return sum;
  }
}
