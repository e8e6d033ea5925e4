import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.cache.Load;
import dev.shepherd.cache.Loader;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * When does a stampede's loader start, and on which kind of thread? 10,000 virtual callers of one
 * cold key, a 20 ms loader, 20 warm-up rounds then 60 measured, a fresh cache each round.
 *
 * <p>Scenarios: {@code latch} parks the callers on one CountDownLatch and releases it (as
 * StampedeBenchmark does: each woken caller wakes the next); {@code queued} holds every carrier
 * with busy virtual threads, unparks all callers (so all 10,000 are queued for a carrier at once),
 * then frees the carriers. Modes: {@code default} (the cache's shared loader threads),
 * {@code virtual} (a new virtual thread per load), {@code caller} ({@code Runnable::run}).
 *
 * <p>Run from the repository root after {@code ./mvnw install -DskipTests}:
 * {@code java -cp <shepherd-cache, shepherd-core, caffeine, jspecify jars>
 * benchmarks/adhoc/LoaderStart.java queued virtual}
 */
public class LoaderStart {
  public static void main(String[] args) throws Exception {
    String scenario = args[0];
    String mode = args[1];
    int rounds = 60;
    int callers = 10_000;
    int carriers = Integer.getInteger("jdk.virtualThreadScheduler.parallelism",
        Runtime.getRuntime().availableProcessors());
    double[] start = new double[rounds];
    double[] wake = new double[rounds];
    double[] total = new double[rounds];
    for (int r = -20; r < rounds; r++) {
      CoalescingCache.Builder<String, String> b = CoalescingCache.<String, String>builder();
      if (mode.equals("virtual")) {
        b.executor(t -> Thread.ofVirtual().start(t));
      } else if (mode.equals("caller")) {
        b.executor(Runnable::run);
      }
      CoalescingCache<String, String> cache = b.build();
      AtomicLong loadStart = new AtomicLong();
      AtomicLong loadEnd = new AtomicLong();
      AtomicLong last = new AtomicLong();
      Loader<String, String> loader = k -> {
        loadStart.set(System.nanoTime());
        Thread.sleep(20);
        loadEnd.set(System.nanoTime());
        return Load.commit("v");
      };
      CountDownLatch go = new CountDownLatch(1);
      AtomicBoolean released = new AtomicBoolean();
      List<Thread> threads = new ArrayList<>();
      for (int i = 0; i < callers; i++) {
        threads.add(Thread.ofVirtual().start(() -> {
          try {
            if (scenario.equals("latch")) {
              go.await();
            } else {
              while (!released.get()) {
                LockSupport.park();
              }
            }
            cache.fetch("k", loader);
            last.accumulateAndGet(System.nanoTime(), Math::max);
          } catch (Exception e) {
            throw new IllegalStateException(e);
          }
        }));
      }
      Thread.sleep(100); // every caller parked
      long t0;
      if (scenario.equals("latch")) {
        t0 = System.nanoTime();
        go.countDown();
      } else {
        AtomicBoolean hold = new AtomicBoolean(true);
        CountDownLatch holding = new CountDownLatch(carriers);
        for (int s = 0; s < carriers; s++) {
          Thread.ofVirtual().start(() -> {
            holding.countDown();
            while (hold.get()) {
              Thread.onSpinWait();
            }
          });
        }
        holding.await();
        released.set(true);
        for (Thread t : threads) {
          LockSupport.unpark(t);
        }
        t0 = System.nanoTime();
        hold.set(false);
      }
      for (Thread t : threads) {
        t.join();
      }
      if (r >= 0) {
        start[r] = (loadStart.get() - t0) / 1e6;
        wake[r] = (last.get() - loadEnd.get()) / 1e6;
        total[r] = (last.get() - t0) / 1e6;
      }
    }
    double mean = Arrays.stream(total).average().orElse(0);
    Arrays.sort(start);
    Arrays.sort(wake);
    Arrays.sort(total);
    System.out.printf("%s %s: loader start p50 %.2f ms, wake-up p50 %.2f ms, last answer p50 %.2f"
        + " mean %.2f ms%n", scenario, mode, start[rounds / 2], wake[rounds / 2],
        total[rounds / 2], mean);
  }
}
