package dev.shepherd.watch;

import static dev.shepherd.watch.TestAwait.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.core.Backoff;
import dev.shepherd.testing.FakeTicker;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * The upstream stops for 30 s of ticker time and comes back; every subscriber ends with the latest
 * value, with no duplicate delivery of one index; the same after an index reset. The same over
 * HTTP, in real time, is {@code HttpOutageIT}.
 */
class FaultsTest {

  private static final List<String> KEYS = List.of("alpha", "beta", "gamma", "delta");

  /** Subscribers per key, each with its own recording sink. */
  private final Map<String, List<RecordingSink<Optional<String>>>> sinks = new ConcurrentHashMap<>();

  private void subscribe(Watcher<Optional<String>> watcher, int perKey) {
    for (String key : KEYS) {
      List<RecordingSink<Optional<String>>> list = new ArrayList<>();
      for (int i = 0; i < perKey; i++) {
        RecordingSink<Optional<String>> sink = new RecordingSink<>();
        watcher.watch(key, key + "#" + i, sink);
        list.add(sink);
      }
      sinks.put(key, list);
    }
  }

  private static <T> Optional<T> lastValue(RecordingSink<T> sink) {
    List<T> values = sink.values();
    return values.isEmpty() ? Optional.empty() : Optional.of(values.get(values.size() - 1));
  }

  private void awaitEverySubscriberHas(InMemoryVersionedStore<String> store) {
    for (String key : KEYS) {
      Optional<String> latest = store.get(key).value();
      for (RecordingSink<Optional<String>> sink : sinks.get(key)) {
        await().until(() -> lastValue(sink).equals(Optional.of(latest)));
      }
    }
  }

  /** Indexes strictly increase except where the upstream was reset; returns the resets seen. */
  private void assertNoDuplicateDeliveries(int expectedResets) {
    for (List<RecordingSink<Optional<String>>> list : sinks.values()) {
      for (RecordingSink<Optional<String>> sink : list) {
        List<Long> indexes = sink.indexes();
        int resets = 0;
        for (int i = 1; i < indexes.size(); i++) {
          assertThat(indexes.get(i)).as("index delivered twice in a row: %s", indexes)
              .isNotEqualTo(indexes.get(i - 1));
          if (indexes.get(i) < indexes.get(i - 1)) {
            resets++;
          }
        }
        assertThat(resets).as("resets in %s", indexes).isEqualTo(expectedResets);
      }
    }
  }

  private static void writeAll(InMemoryVersionedStore<String> store, String round) {
    for (String key : KEYS) {
      store.put(key, key + "-" + round);
    }
  }

  @Test
  void anInMemoryUpstreamDownFor30SecondsOfTickerTimeRecoversWithConsulsBackoff() {
    InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
    OutageSource source = new OutageSource(store);
    FakeTicker ticker = new FakeTicker();
    writeAll(store, "before");
    try (Watcher<Optional<String>> watcher = Watcher.builder(source)
        .ticker(ticker).minFetchInterval(Duration.ZERO).backoff(Backoff.consul()).failingThreshold(Duration.ofSeconds(10))
        .build()) {
      subscribe(watcher, 250);
      awaitEverySubscriberHas(store);
      await().until(() -> store.waitingQueries() == KEYS.size());

      Map<String, Subscription<Optional<String>>> probes = new ConcurrentHashMap<>();
      for (String key : KEYS) {
        probes.put(key, watcher.watch(key, "probe", e -> {}));
      }
      long start = ticker.read();
      source.goDown();
      writeAll(store, "during-outage"); // writes the watchers cannot see yet
      // 30 s of ticker time pass while the loops fail and back off (Consul's schedule).
      await().until(() -> {
        ticker.advance(Duration.ofMillis(250));
        return ticker.read() - start >= Duration.ofSeconds(30).toNanos()
            && probes.values().stream().allMatch(Subscription::isFailing);
      });
      source.comeBack();
      // Consul's backoff after 30 s of failures is several seconds: drive the ticker on.
      await().until(() -> {
        ticker.advance(Duration.ofMillis(250));
        return probes.values().stream().noneMatch(Subscription::isFailing);
      });
      awaitEverySubscriberHas(store);
      assertNoDuplicateDeliveries(0);
      assertThat(source.failedFetches.get()).isGreaterThanOrEqualTo(KEYS.size() * 4);
      RecordingSink<Optional<String>> one = sinks.get("beta").get(0);
      assertThat(one.events).anyMatch(e -> e instanceof WatchEvent.Failing);
      assertThat(one.events).anyMatch(e -> e instanceof WatchEvent.Recovered);

      // Index reset: the data is wiped while the upstream is down, then it comes back.
      long second = ticker.read();
      source.goDown();
      store.wipe();
      writeAll(store, "after-wipe");
      await().until(() -> {
        ticker.advance(Duration.ofMillis(250));
        return ticker.read() - second >= Duration.ofSeconds(30).toNanos()
            && probes.values().stream().allMatch(Subscription::isFailing);
      });
      source.comeBack();
      await().until(() -> {
        ticker.advance(Duration.ofMillis(250));
        return probes.values().stream().noneMatch(Subscription::isFailing);
      });
      awaitEverySubscriberHas(store);
      assertNoDuplicateDeliveries(1);
    }
  }

}
