package dev.shepherd.watch;

import static dev.shepherd.watch.TestAwait.await;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.RepeatedTest;

/**
 * Subscribe and close racing with the loop's start, cancellation and termination, and with writes:
 * a key never has two loops (never two upstream requests in flight), every loop that ends releases
 * the key, and subscribers that stay get the latest value.
 */
class WatcherStressTest {

  private static final int THREADS = 64;
  private static final int ITERATIONS = 150;

  /** The store as a source that counts requests in flight and releases. */
  private static final class Counting implements WatchSource<Optional<String>> {
    final InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
    final AtomicInteger inFlight = new AtomicInteger();
    final AtomicInteger maxInFlight = new AtomicInteger();
    final AtomicInteger releases = new AtomicInteger();

    @Override
    public Versioned<Optional<String>> fetch(String key, long minIndex, Duration maxWait)
        throws InterruptedException {
      maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
      try {
        return store.fetch(key, minIndex, maxWait);
      } finally {
        inFlight.decrementAndGet();
      }
    }

    @Override
    public void release(String key) {
      releases.incrementAndGet();
    }
  }

  @RepeatedTest(3)
  void subscribeAndCloseChurnNeverRunsTwoLoopsForAKey() throws Exception {
    Counting source = new Counting();
    try (Watcher<Optional<String>> watcher = Watcher.builder(source).build()) {
      Thread writer = Thread.ofVirtual().start(() -> {
        for (int i = 0; i < 2_000; i++) {
          source.store.put("k", "v" + i);
        }
      });
      List<Thread> churners = new ArrayList<>();
      for (int t = 0; t < THREADS; t++) {
        churners.add(Thread.ofVirtual().start(() -> {
          for (int i = 0; i < ITERATIONS; i++) {
            Subscription<Optional<String>> sub = watcher.watch("k", "c", e -> {});
            if (i % 3 == 0) {
              Thread.yield();
            }
            sub.close();
          }
        }));
      }
      for (Thread t : churners) {
        t.join();
      }
      writer.join();
      await().until(() -> watcher.watchedKeys().isEmpty() && source.inFlight.get() == 0);
      // Never two fetches at once. Zero is possible: a loop checks for subscribers before its
      // first fetch, and on a busy machine every churner may have closed before any loop got a
      // core (the stayers below make the loop fetch for sure).
      assertThat(source.maxInFlight.get()).isLessThanOrEqualTo(1);
      int releasesAfterChurn = source.releases.get();
      assertThat(releasesAfterChurn).isPositive();

      List<RecordingSink<Optional<String>>> stayers = new ArrayList<>();
      for (int i = 0; i < 100; i++) {
        RecordingSink<Optional<String>> sink = new RecordingSink<>();
        watcher.watch("k", "stay" + i, sink);
        stayers.add(sink);
      }
      long last = source.store.put("k", "final");
      for (RecordingSink<Optional<String>> sink : stayers) {
        await().until(() -> !sink.indexes().isEmpty()
            && sink.indexes().get(sink.indexes().size() - 1) == last);
        List<Long> indexes = sink.indexes();
        for (int i = 1; i < indexes.size(); i++) {
          assertThat(indexes.get(i)).isGreaterThan(indexes.get(i - 1));
        }
      }
      assertThat(source.maxInFlight.get()).isEqualTo(1);
    }
  }
}
