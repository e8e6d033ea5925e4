package dev.shepherd.watch.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.testing.EtcdServer;
import dev.shepherd.watch.Subscription;
import dev.shepherd.watch.Watcher;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.Watch;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The source under the shepherd-watch hub: subscribers share one etcd watch per key. */
class EtcdWatcherTest {

  @RegisterExtension static final EtcdServer etcd = EtcdServer.create();

  static final int KEYS = 10;
  static final int SUBSCRIBERS = 1_000;

  static ByteSequence bytes(String s) {
    return ByteSequence.from(s, StandardCharsets.UTF_8);
  }

  @Test
  void aThousandSubscribersOnTenKeysUseTenEtcdWatchesAndAllSeeEveryKeysLatestValue() throws Exception {
    try (Client client = Client.builder().endpoints(etcd.endpoint()).build()) {
      Map<String, Long> revisions = new HashMap<>();
      for (int k = 0; k < KEYS; k++) {
        revisions.put("fan/" + k, client.getKVClient().put(bytes("fan/" + k), bytes("v1")).get(10, TimeUnit.SECONDS)
            .getHeader().getRevision());
      }
      CountingWatch counting = new CountingWatch(client.getWatchClient());
      Recording sink = new Recording();
      List<Subscription<Optional<String>>> subscriptions = new ArrayList<>();
      try (EtcdWatchSource<String> source = EtcdWatchSource.builder(client).watchClient(counting).build();
          Watcher<Optional<String>> watcher = Watcher.builder(source).build()) {
        for (int i = 0; i < SUBSCRIBERS; i++) {
          subscriptions.add(watcher.watch("fan/" + (i % KEYS), "s" + i, sink));
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> sink.updates.size() == SUBSCRIBERS);
        await().atMost(Duration.ofSeconds(30)).until(() -> EtcdMetrics.watchers(etcd.endpoint()) == KEYS);
        assertThat(counting.calls).hasValue(KEYS);
        assertThat(source.openEtcdWatches()).isEqualTo(KEYS);
        assertThat(EtcdMetrics.watchStreams(etcd.endpoint())).isEqualTo(KEYS);

        Map<String, Long> changed = new HashMap<>();
        for (int k = 0; k < KEYS; k++) {
          changed.put("fan/" + k, client.getKVClient().put(bytes("fan/" + k), bytes("v2")).get(10, TimeUnit.SECONDS)
              .getHeader().getRevision());
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> java.util.stream.IntStream.range(0, SUBSCRIBERS)
            .allMatch(i -> sink.last("s" + i).map(u -> u.index() == changed.get("fan/" + (i % KEYS))).orElse(false)));
        for (int i = 0; i < SUBSCRIBERS; i++) {
          String id = "s" + i;
          long expected = changed.get("fan/" + (i % KEYS));
          assertThat(sink.last(id).orElseThrow().value()).contains("v2");
          assertThat(sink.indexes(id)).containsExactly(revisions.get("fan/" + (i % KEYS)), expected);
        }
        assertThat(counting.calls).as("no new etcd watch for the changes").hasValue(KEYS);

        subscriptions.forEach(Subscription::close);
        await().atMost(Duration.ofSeconds(30)).until(() -> EtcdMetrics.watchers(etcd.endpoint()) == 0);
        assertThat(source.openEtcdWatches()).isZero();
      }
    }
  }

  @Test
  void threeWatchersSharingOneSourceUseOneEtcdWatchPerKey() throws Exception {
    try (Client client = Client.builder().endpoints(etcd.endpoint()).build()) {
      client.getKVClient().put(bytes("shared/a"), bytes("v1")).get(10, TimeUnit.SECONDS);
      client.getKVClient().put(bytes("shared/b"), bytes("v1")).get(10, TimeUnit.SECONDS);
      CountingWatch counting = new CountingWatch(client.getWatchClient());
      Recording sink = new Recording();
      try (EtcdWatchSource<String> source = EtcdWatchSource.builder(client).watchClient(counting).build();
          Watcher<Optional<String>> first = Watcher.builder(source).build();
          Watcher<Optional<String>> second = Watcher.builder(source).build();
          Watcher<Optional<String>> third = Watcher.builder(source).build()) {
        List<Watcher<Optional<String>>> watchers = List.of(first, second, third);
        for (int w = 0; w < watchers.size(); w++) {
          watchers.get(w).watch("shared/a", "a" + w, sink);
          watchers.get(w).watch("shared/b", "b" + w, sink);
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> sink.updates.size() == 6);
        long a2 = client.getKVClient().put(bytes("shared/a"), bytes("v2")).get(10, TimeUnit.SECONDS).getHeader().getRevision();
        long b2 = client.getKVClient().put(bytes("shared/b"), bytes("v2")).get(10, TimeUnit.SECONDS).getHeader().getRevision();
        await().atMost(Duration.ofSeconds(30)).until(() -> java.util.stream.IntStream.range(0, 3).allMatch(w ->
            sink.last("a" + w).map(u -> u.index() == a2).orElse(false)
                && sink.last("b" + w).map(u -> u.index() == b2).orElse(false)));
        assertThat(counting.calls).as("one etcd watch per key for three watchers").hasValue(2);
        assertThat(source.openEtcdWatches()).isEqualTo(2);
        await().atMost(Duration.ofSeconds(30)).until(() -> EtcdMetrics.watchers(etcd.endpoint()) == 2);
      }
    }
  }

  @Test
  void jetcdUsedDirectlyOpensOneEtcdWatchPerSubscriber() throws Exception {
    // 100, not 1,000, to keep the suite short: jetcd sets up ~70 streams a second here; the
    // benchmark (dev.shepherd.benchmarks.watchetcd) runs the full 1,000.
    int subscribers = 100;
    try (Client client = Client.builder().endpoints(etcd.endpoint()).build()) {
      List<Watch.Watcher> watchers = new ArrayList<>();
      for (int i = 0; i < subscribers; i++) {
        watchers.add(client.getWatchClient().watch(bytes("direct/" + (i % KEYS)), response -> { }));
      }
      await().atMost(Duration.ofSeconds(60)).until(() -> EtcdMetrics.watchers(etcd.endpoint()) == subscribers);
      assertThat(EtcdMetrics.watchStreams(etcd.endpoint())).isEqualTo(subscribers);
      watchers.forEach(Watch.Watcher::close);
      await().atMost(Duration.ofSeconds(60)).until(() -> EtcdMetrics.watchers(etcd.endpoint()) == 0);
    }
  }
}
