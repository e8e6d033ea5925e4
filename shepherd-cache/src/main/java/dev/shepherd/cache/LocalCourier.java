package dev.shepherd.cache;

import dev.shepherd.core.internal.Require;
import java.util.concurrent.Executor;

/**
 * The courier of {@link Courier#local(Executor)}: checks storage once more, then runs the loader on
 * the executor; a rejection fails the job with the rejection as cause. A named class so that a
 * cache can tell that loads are local and may run a blocking leader's load on its own thread
 * ({@link CoalescingCache.Builder#loadOnCallingThread}): any other courier decides for itself where
 * a load runs.
 */
final class LocalCourier implements Courier {

  private final Executor executor;

  LocalCourier(Executor executor) {
    this.executor = Require.nonNull(executor, "executor");
  }

  @Override
  public <K, V> void dispatch(Job<K, V> job) {
    try {
      executor.execute(
          () -> {
            if (!job.completeFromStorage()) {
              job.run();
            }
          });
    } catch (RuntimeException rejected) {
      job.complete(Load.fail(rejected));
    }
  }

  @Override
  public String toString() {
    return "Courier.local(" + executor + ")";
  }
}
