package dev.shepherd.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Many threads doing everything at once on few keys (fetch with and without timeouts, fetchAsync and
 * cancel, refresh, invalidate, interrupts, loaders that fail), a fixed number of operations: nothing
 * hangs, nothing but the documented exceptions escapes, and every load ends.
 */
class ConcurrentStressTest {

  private static final int THREADS = 200;
  private static final int OPS_PER_THREAD = 300;
  private static final int KEYS = 6;

  @ParameterizedTest(name = "cancelWhenAbandoned={0}")
  @ValueSource(booleans = {false, true})
  void everythingAtOnceNeverHangsAndOnlyDocumentedFailuresEscape(boolean cancelWhenAbandoned)
      throws Exception {
    CoalescingCache<Integer, String> cache =
        CoalescingCache.<Integer, String>builder()
            .cancelWhenAbandoned(cancelWhenAbandoned)
            .timeToLive(Duration.ofMillis(2))
            .cacheFailuresFor(Duration.ofMillis(1))
            .serveStaleOnError(Duration.ofMillis(5))
            .maximumSize(4)
            .build();
    AtomicInteger runs = new AtomicInteger();
    Loader<Integer, String> loader =
        key -> {
          int run = runs.incrementAndGet();
          LockSupport.parkNanos(ThreadLocalRandomHolder.nanos(run));
          if (run % 7 == 0) {
            throw new IllegalStateException("failure " + run);
          }
          return run % 11 == 0 ? Load.ignore("i" + key) : Load.commit("v" + key);
        };
    ConcurrentLinkedQueue<Throwable> unexpected = new ConcurrentLinkedQueue<>();
    List<Thread> threads = new ArrayList<>();
    for (int t = 0; t < THREADS; t++) {
      long seed = t;
      threads.add(
          Thread.ofVirtual()
              .start(
                  () -> {
                    SplittableRandom random = new SplittableRandom(seed);
                    for (int i = 0; i < OPS_PER_THREAD; i++) {
                      int key = random.nextInt(KEYS);
                      try {
                        switch (random.nextInt(6)) {
                          case 0 -> check(key, cache.fetch(key, loader));
                          case 1 -> check(key, cache.fetch(key, loader, Duration.ofNanos(1 + random.nextInt(300_000))));
                          case 2 -> {
                            CompletableFuture<Fetched<String>> f = cache.fetchAsync(key, loader);
                            if (random.nextBoolean()) {
                              f.cancel(false);
                            } else {
                              check(key, f.get(30, TimeUnit.SECONDS));
                            }
                          }
                          case 3 -> cache.refresh(key, loader).orTimeout(50, TimeUnit.MICROSECONDS);
                          case 4 -> cache.invalidate(key);
                          default -> {
                            Thread.currentThread().interrupt();
                            try {
                              check(key, cache.fetch(key, loader));
                            } finally {
                              Thread.interrupted();
                            }
                          }
                        }
                      } catch (LoadFailedException | FetchTimeoutException | InterruptedException
                          | CancellationException expected) {
                        // documented outcomes
                      } catch (java.util.concurrent.ExecutionException e) {
                        if (!(e.getCause() instanceof LoadFailedException)) {
                          unexpected.add(e);
                        }
                      } catch (CompletionException | java.util.concurrent.TimeoutException e) {
                        unexpected.add(e);
                      } catch (Throwable e) {
                        unexpected.add(e);
                      }
                    }
                  }));
    }
    for (Thread t : threads) {
      t.join(Duration.ofMinutes(2).toMillis());
      assertThat(t.isAlive()).as("a caller hung").isFalse();
    }
    assertThat(unexpected).isEmpty();
    await()
        .atMost(Duration.ofSeconds(30))
        .until(
            () -> {
              for (int key = 0; key < KEYS; key++) {
                if (cache.waitingCallers(key) != 0) {
                  return false;
                }
              }
              return true;
            });
    assertThat(cache.stats().loads()).isPositive();
  }

  private static void check(int key, Fetched<String> fetched) {
    assertThat(fetched.value()).isIn("v" + key, "i" + key);
  }

  /** Loader durations from 0 to 200 microseconds, varied by run number. */
  private static final class ThreadLocalRandomHolder {
    static long nanos(int run) {
      return (run * 7919L) % 200_000L;
    }
  }
}
