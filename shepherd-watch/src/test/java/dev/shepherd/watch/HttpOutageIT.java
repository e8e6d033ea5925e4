package dev.shepherd.watch;

import static dev.shepherd.watch.TestAwait.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.core.Backoff;
import dev.shepherd.testing.ServletServer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * An HTTP upstream (the servlet on a real Jetty, read through {@link ConsulClient}) stopped for
 * 30 seconds of real time and restarted on the same port, then restarted with its data wiped:
 * every subscriber ends with the latest value, saw nothing of the writes made while the server was
 * down until it came back, was told failing and recovered, and never got one index twice in a row.
 * An integration test (run by failsafe in {@code verify}): it takes over 30 seconds by design.
 */
class HttpOutageIT {

  private static final List<String> KEYS = List.of("alpha", "beta", "gamma", "delta");
  private static final Duration OUTAGE = Duration.ofSeconds(30);

  private final Map<String, List<RecordingSink<Optional<String>>>> sinks = new ConcurrentHashMap<>();

  @Test
  void anHttpUpstreamStoppedFor30SecondsAndRestartedOnTheSamePortRecovers() {
    InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
    writeAll(store, "before");
    ServletServer server = KvServers.serving(store);
    ConsulClient consul = ConsulClient.builder().baseUri(server.uri()).build();
    try (Watcher<Optional<String>> watcher = Watcher.builder(stringsOf(consul))
        // Recovery must be prompt after a 30 s outage: retry at most every second.
        .backoff(Backoff.exponential().initial(Duration.ofMillis(100)).max(Duration.ofSeconds(1))
            .build())
        .failingThreshold(Duration.ofSeconds(5))
        .build()) {
      subscribe(watcher, 250);
      awaitEverySubscriberHas(store);
      await().until(() -> store.waitingQueries() == KEYS.size());
      int port = server.port();

      server.stop();
      writeAll(store, "during-outage"); // the server's data changes while it is unreachable
      RecordingSink<Optional<String>> probeSink = new RecordingSink<>();
      Subscription<Optional<String>> probe = watcher.watch("alpha", "probe", probeSink);
      // The outage: 30 s of real time, after which the hub must report the key failing.
      await().pollDelay(OUTAGE).atMost(OUTAGE.plusSeconds(60)).until(probe::isFailing);
      for (String key : KEYS) {
        for (RecordingSink<Optional<String>> sink : sinks.get(key)) {
          assertThat(lastValue(sink)).as("nothing written during the outage arrives before it ends")
              .contains(Optional.of(key + "-before"));
        }
      }
      server.restart();
      assertThat(server.port()).isEqualTo(port);
      await().until(() -> !probe.isFailing());
      awaitEverySubscriberHas(store);
      assertNoDuplicateDeliveries(0);
      assertThat(probeSink.events).anyMatch(e -> e instanceof WatchEvent.Failing)
          .anyMatch(e -> e instanceof WatchEvent.Recovered);

      // Index reset: the server comes back with its data wiped.
      server.stop();
      store.wipe();
      writeAll(store, "after-wipe");
      server.restart();
      awaitEverySubscriberHas(store);
      assertNoDuplicateDeliveries(1);
    } finally {
      consul.close();
      server.close();
    }
  }

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

  /** The Consul KV source seen as the values' text. */
  private static WatchSource<Optional<String>> stringsOf(ConsulClient consul) {
    WatchSource<Optional<KvEntry>> kv = consul.kvSource();
    return (key, minIndex, maxWait) -> {
      Versioned<Optional<KvEntry>> read = kv.fetch(key, minIndex, maxWait);
      return new Versioned<>(read.value().flatMap(KvEntry::valueAsString), read.index());
    };
  }
}
