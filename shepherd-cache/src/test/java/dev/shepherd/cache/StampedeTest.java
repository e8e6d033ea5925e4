package dev.shepherd.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.RepeatedTest;

/**
 * Ten thousand virtual threads on one cold key: the loader runs once, whether it succeeds or fails.
 * The loader is held until every caller has joined, so the count of one run is not luck of timing.
 */
class StampedeTest {

  private static final int CALLERS = 10_000;

  @RepeatedTest(3)
  void tenThousandCallersOfOneColdKeyShareOneLoadAndAllGetTheValue() throws Exception {
    CoalescingCache<String, String> cache = CoalescingCache.<String, String>builder().build();
    AtomicInteger runs = new AtomicInteger();
    CountDownLatch release = new CountDownLatch(1);
    Loader<String, String> loader =
        key -> {
          runs.incrementAndGet();
          release.await();
          return Load.commit("value-of-" + key);
        };
    ConcurrentLinkedQueue<Fetched<String>> answers = new ConcurrentLinkedQueue<>();
    ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();

    List<Thread> threads = new ArrayList<>(CALLERS);
    for (int i = 0; i < CALLERS; i++) {
      threads.add(
          Thread.ofVirtual()
              .start(
                  () -> {
                    try {
                      answers.add(cache.fetch("cold", loader, Duration.ofMinutes(5)));
                    } catch (Throwable t) {
                      errors.add(t);
                    }
                  }));
    }
    await().atMost(Duration.ofMinutes(1)).until(() -> cache.waitingCallers("cold") == CALLERS);
    release.countDown();
    for (Thread t : threads) {
      t.join();
    }

    assertThat(errors).isEmpty();
    assertThat(runs).hasValue(1);
    assertThat(answers).hasSize(CALLERS).allMatch(a -> a.value().equals("value-of-cold"));
    assertThat(answers.stream().filter(a -> a.source() == Fetched.Source.LOADED)).hasSize(1);
    assertThat(cache.stats().joins()).isEqualTo(CALLERS - 1);
  }

  @RepeatedTest(3)
  void tenThousandCallersOfAFailingLoadShareOneRunAndEachGetsItsOwnException() throws Exception {
    CoalescingCache<String, String> cache = CoalescingCache.<String, String>builder().build();
    AtomicInteger runs = new AtomicInteger();
    CountDownLatch release = new CountDownLatch(1);
    IllegalStateException boom = new IllegalStateException("database down");
    Loader<String, String> loader =
        key -> {
          runs.incrementAndGet();
          release.await();
          throw boom;
        };
    ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
    AtomicInteger values = new AtomicInteger();

    List<Thread> threads = new ArrayList<>(CALLERS);
    for (int i = 0; i < CALLERS; i++) {
      threads.add(
          Thread.ofVirtual()
              .start(
                  () -> {
                    try {
                      cache.fetch("cold", loader, Duration.ofMinutes(5));
                      values.incrementAndGet();
                    } catch (Throwable t) {
                      failures.add(t);
                    }
                  }));
    }
    await().atMost(Duration.ofMinutes(1)).until(() -> cache.waitingCallers("cold") == CALLERS);
    release.countDown();
    for (Thread t : threads) {
      t.join();
    }

    assertThat(runs).hasValue(1);
    assertThat(values).hasValue(0);
    assertThat(failures)
        .hasSize(CALLERS)
        .allSatisfy(
            f -> {
              assertThat(f).isInstanceOf(LoadFailedException.class).hasCause(boom);
              // The waiter's own stack: it runs through this test's lambda, not the loader thread.
              assertThat(f.getStackTrace())
                  .anyMatch(frame -> frame.getClassName().startsWith(StampedeTest.class.getName()));
            });
    Set<Throwable> distinct = Collections.newSetFromMap(new IdentityHashMap<>());
    distinct.addAll(failures);
    assertThat(distinct).hasSize(CALLERS);
    assertThat(cache.stats().failures()).isEqualTo(1);
  }
}
