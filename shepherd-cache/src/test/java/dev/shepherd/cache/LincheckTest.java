package dev.shepherd.cache;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.jetbrains.kotlinx.lincheck.LinChecker;
import org.jetbrains.kotlinx.lincheck.annotations.Operation;
import org.jetbrains.kotlinx.lincheck.annotations.Param;
import org.jetbrains.kotlinx.lincheck.paramgen.IntGen;
import org.jetbrains.kotlinx.lincheck.strategy.stress.StressOptions;
import org.junit.jupiter.api.Test;

/**
 * Lincheck checks that fetch and invalidate are linearizable: it runs small concurrent scenarios of
 * the operations below on a real cache (loaders on their own virtual threads) and searches for a
 * sequential order of each run's results that {@link Spec} explains.
 *
 * <p>The source of the cache is one version number per key; {@code writeThenInvalidate} bumps it
 * then invalidates, as a service does after a write. A loader reads the version. So a fetch that
 * answers a version older than the last completed write, or a load stored over an invalidate, or a
 * value from nowhere, has no sequential explanation and fails the check. (Per-caller timeouts are
 * covered by {@code CoalescingCacheTest}; their answers are not deterministic enough for a
 * sequential specification. Load counts are covered by {@code LoadCountPropertyTest}.)
 */
@Param(name = "key", gen = IntGen.class, conf = "0:1")
public class LincheckTest {

  private final AtomicIntegerArray versions = new AtomicIntegerArray(2);
  private final CoalescingCache<Integer, Integer> cache =
      CoalescingCache.<Integer, Integer>builder().build();

  @Operation
  public int fetch(@Param(name = "key") int key) throws InterruptedException {
    return cache.fetch(key, k -> Load.commit(versions.get(k))).value();
  }

  @Operation
  public void writeThenInvalidate(@Param(name = "key") int key) {
    versions.incrementAndGet(key);
    cache.invalidate(key);
  }

  @Test
  void fetchAndInvalidateAreLinearizable() {
    StressOptions options = new StressOptions()
        .iterations(30)
        .invocationsPerIteration(1_000)
        .threads(3)
        .actorsPerThread(3)
        .sequentialSpecification(Spec.class);
    LinChecker.check(LincheckTest.class, options);
  }

  /** The sequential model: a version per key and what the cache holds for it. */
  public static final class Spec {
    private final int[] versions = new int[2];
    private final Integer[] stored = new Integer[2];

    public int fetch(int key) {
      if (stored[key] == null) {
        stored[key] = versions[key];
      }
      return stored[key];
    }

    public void writeThenInvalidate(int key) {
      versions[key]++;
      stored[key] = null;
    }
  }
}
