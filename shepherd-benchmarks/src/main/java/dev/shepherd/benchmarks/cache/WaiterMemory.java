package dev.shepherd.benchmarks.cache;

import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.cache.Fetched;
import dev.shepherd.cache.Load;
import dev.shepherd.cache.Loader;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * Memory retained per caller waiting on a load, measured as heap used after a full GC with the
 * waiters parked, minus the same without them, divided by their number (1,000).
 *
 * <p>Three measurements, each the median of seven rounds:
 * <ul>
 *   <li>{@code asyncWaiter}: 1,000 {@code fetchAsync} callers joined to one running load. This is
 *       the cache's own cost per waiter (the future the caller holds, the waiter node).
 *   <li>{@code blockingWaiter}: 1,000 virtual threads blocked in {@code fetch}: the cache's cost plus
 *       each virtual thread and its parked stack.
 *   <li>{@code timedBlockingWaiter}: the same with {@code fetch(key, loader, timeout)}: a timed park
 *       also holds the JDK's timer task for that thread.
 *   <li>{@code parkedThreadBaseline}: 1,000 virtual threads blocked on a plain
 *       {@code CountDownLatch.await()}, no cache: the cost of a parked virtual thread by itself. The
 *       cache's share for a blocking caller is {@code blockingWaiter - parkedThreadBaseline}; the
 *       timed baseline uses {@code await(5, MINUTES)} and pairs with {@code timedBlockingWaiter}.
 * </ul>
 *
 * <p>Run: {@code java -cp shepherd-benchmarks/target/benchmarks.jar
 * dev.shepherd.benchmarks.cache.WaiterMemory [output.json]}. Needs {@code System.gc()} to be a full
 * collection (the default; do not run with {@code -XX:+DisableExplicitGC}).
 */
public final class WaiterMemory {

  private static final int WAITERS = 1_000;
  private static final int ROUNDS = 7;

  private WaiterMemory() {}

  /**
   * Runs the measurement and writes a JSON file.
   *
   * @param args optional output path
   * @throws Exception if the measurement fails
   */
  public static void main(String[] args) throws Exception {
    double async = median(WaiterMemory::asyncRound);
    double blocking = median(() -> blockingRound(false));
    double blockingTimed = median(() -> blockingRound(true));
    double baseline = median(() -> parkedThreadRound(false));
    double timedBaseline = median(() -> parkedThreadRound(true));
    String json =
        String.format(
            Locale.ROOT,
            "{%n  \"benchmark\": \"dev.shepherd.benchmarks.cache.WaiterMemory\",%n"
                + "  \"when\": \"%s\",%n  \"jvm\": \"%s\",%n  \"waiters\": %d,%n  \"rounds\": %d,%n"
                + "  \"bytesPerAsyncWaiter\": %.1f,%n  \"bytesPerBlockingWaiter\": %.1f,%n"
                + "  \"bytesPerTimedBlockingWaiter\": %.1f,%n"
                + "  \"bytesPerParkedVirtualThreadBaseline\": %.1f,%n"
                + "  \"bytesPerTimedParkedVirtualThreadBaseline\": %.1f,%n"
                + "  \"cacheSharePerBlockingWaiter\": %.1f,%n"
                + "  \"cacheSharePerTimedBlockingWaiter\": %.1f%n}%n",
            Instant.now(),
            System.getProperty("java.vm.version"),
            WAITERS,
            ROUNDS,
            async,
            blocking,
            blockingTimed,
            baseline,
            timedBaseline,
            blocking - baseline,
            blockingTimed - timedBaseline);
    System.out.print(json);
    if (args.length > 0) {
      Files.writeString(Path.of(args[0]), json);
    }
  }

  private static double median(Supplier<Double> round) {
    double[] samples = new double[ROUNDS];
    double unusedWarmUp = round.get(); // warm-up: class loading, JIT, thread pools
    for (int i = 0; i < ROUNDS; i++) {
      samples[i] = round.get();
    }
    Arrays.sort(samples);
    return samples[ROUNDS / 2];
  }

  private static long usedAfterGc() {
    long used = Long.MAX_VALUE;
    for (int i = 0; i < 4; i++) {
      System.gc();
      used = Math.min(used, ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
    }
    return used;
  }

  /** A cache with one running load of "k" that waits for {@code release}. */
  private static CoalescingCache<String, String> loadingCache(
      CountDownLatch release, Loader<String, String>[] loaderOut) {
    CoalescingCache<String, String> cache = CoalescingCache.<String, String>builder().build();
    Loader<String, String> loader =
        k -> {
          release.await();
          return Load.commit("v");
        };
    loaderOut[0] = loader;
    var unusedLeader = cache.fetchAsync("k", loader); // the leader
    awaitTrue(() -> cache.waitingCallers("k") == 1);
    return cache;
  }

  @SuppressWarnings("unchecked") // a one-slot out parameter
  private static Loader<String, String>[] slot() {
    return (Loader<String, String>[]) new Loader<?, ?>[1];
  }

  private static double asyncRound() {
    CountDownLatch release = new CountDownLatch(1);
    Loader<String, String>[] loader = slot();
    CoalescingCache<String, String> cache = loadingCache(release, loader);
    List<CompletableFuture<Fetched<String>>> held = new ArrayList<>(WAITERS);
    long before = usedAfterGc();
    for (int i = 0; i < WAITERS; i++) {
      held.add(cache.fetchAsync("k", loader[0]));
    }
    long after = usedAfterGc();
    check(cache.waitingCallers("k") == WAITERS + 1, "async waiters joined");
    release.countDown();
    held.forEach(CompletableFuture::join);
    return (after - before) / (double) WAITERS;
  }

  private static double blockingRound(boolean timed) {
    CountDownLatch release = new CountDownLatch(1);
    Loader<String, String>[] loader = slot();
    CoalescingCache<String, String> cache = loadingCache(release, loader);
    List<Thread> threads = new ArrayList<>(WAITERS);
    long before = usedAfterGc();
    for (int i = 0; i < WAITERS; i++) {
      threads.add(
          Thread.ofVirtual()
              .start(
                  () -> {
                    try {
                      if (timed) {
                        cache.fetch("k", loader[0], Duration.ofMinutes(5));
                      } else {
                        cache.fetch("k", loader[0]);
                      }
                    } catch (InterruptedException e) {
                      Thread.currentThread().interrupt();
                    }
                  }));
    }
    awaitTrue(() -> cache.waitingCallers("k") == WAITERS + 1);
    awaitParked(threads);
    long after = usedAfterGc();
    release.countDown();
    joinAll(threads);
    return (after - before) / (double) WAITERS;
  }

  private static double parkedThreadRound(boolean timed) {
    CountDownLatch release = new CountDownLatch(1);
    List<Thread> threads = new ArrayList<>(WAITERS);
    long before = usedAfterGc();
    for (int i = 0; i < WAITERS; i++) {
      threads.add(
          Thread.ofVirtual()
              .start(
                  () -> {
                    try {
                      if (timed) {
                        release.await(5, java.util.concurrent.TimeUnit.MINUTES);
                      } else {
                        release.await();
                      }
                    } catch (InterruptedException e) {
                      Thread.currentThread().interrupt();
                    }
                  }));
    }
    awaitParked(threads);
    long after = usedAfterGc();
    release.countDown();
    joinAll(threads);
    return (after - before) / (double) WAITERS;
  }

  private static void awaitParked(List<Thread> threads) {
    awaitTrue(
            () ->
                threads.stream()
                    .allMatch(
                        t ->
                            t.getState() == Thread.State.WAITING
                                || t.getState() == Thread.State.TIMED_WAITING));
  }

  private static void joinAll(List<Thread> threads) {
    try {
      for (Thread t : threads) {
        t.join();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** Polls a condition every millisecond for up to a minute (a scenario runner, not a test). */
  private static void awaitTrue(BooleanSupplier condition) {
    long deadline = System.nanoTime() + 60_000_000_000L;
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() - deadline > 0) {
        throw new IllegalStateException("condition not reached within a minute");
      }
      try {
        Thread.sleep(1);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
    }
  }

  private static void check(boolean condition, String what) {
    if (!condition) {
      throw new IllegalStateException("measurement precondition failed: " + what);
    }
  }
}
