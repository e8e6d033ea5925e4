package dev.shepherd.watch.etcd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.core.Backoff;
import dev.shepherd.testing.EtcdServer;
import dev.shepherd.testing.Eventually;
import dev.shepherd.watch.Subscription;
import dev.shepherd.watch.WatchEvent;
import dev.shepherd.watch.Watcher;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.watch.WatchResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * etcd itself stopped for 30 seconds and started again, with its data (a restart) and without it
 * (an index reset), under the Watcher hub with many subscribers.
 *
 * <p>The 30 seconds are measured by the hub: the test waits until every subscription reports
 * failing with a 30 s threshold, so the outage lasts at least that long without a sleep. The two
 * scenarios run at the same time, each on its own etcd, to keep the suite short.
 */
@Execution(ExecutionMode.CONCURRENT)
class EtcdOutageTest {

  @RegisterExtension static final EtcdServer restarted = EtcdServer.create();
  @RegisterExtension static final EtcdServer wiped = EtcdServer.create();

  static final int KEYS = 4;
  static final int SUBSCRIBERS = 200;
  static final Duration OUTAGE = Duration.ofSeconds(30);

  static ByteSequence bytes(String s) {
    return ByteSequence.from(s, StandardCharsets.UTF_8);
  }

  static long put(Client client, String key, String value) throws Exception {
    return client.getKVClient().put(bytes(key), bytes(value)).get(30, TimeUnit.SECONDS).getHeader().getRevision();
  }

  static Watcher<Optional<String>> watcher(EtcdWatchSource<String> source) {
    // The source reconnects by itself; the hub only needs to come back soon after it does. With
    // the default Consul preset the hub may sleep up to 120 s after a 30 s outage.
    return Watcher.builder(source)
        .failingThreshold(OUTAGE)
        .backoff(Backoff.exponential().initial(Duration.ofMillis(100)).max(Duration.ofSeconds(1)).build())
        .build(); // maxWait stays 5 minutes: recovery must be reported by the source, not by a timeout
  }

  static List<Subscription<Optional<String>>> subscribe(
      Watcher<Optional<String>> watcher, String prefix, Recording sink) {
    List<Subscription<Optional<String>>> subscriptions = new ArrayList<>();
    for (int i = 0; i < SUBSCRIBERS; i++) {
      subscriptions.add(watcher.watch(prefix + (i % KEYS), "s" + i, sink));
    }
    return subscriptions;
  }

  static void awaitAll(Recording sink, String what, java.util.function.IntPredicate condition) {
    Eventually.await("every subscriber " + what, Duration.ofSeconds(90))
        .until(() -> IntStream.range(0, SUBSCRIBERS).allMatch(condition));
  }

  @Test
  void afterEtcdIsDownFor30SecondsEverySubscriberEndsWithTheLatestValueAndSeesNoIndexTwice() throws Exception {
    EtcdServer etcd = restarted;
    try (Client client = Client.builder().endpoints(etcd.endpoint()).build()) {
      long[] before = new long[KEYS];
      long[] changed = new long[KEYS];
      long[] after = new long[KEYS];
      for (int k = 0; k < KEYS; k++) {
        before[k] = put(client, "outage/" + k, "v1");
      }
      CountingWatch counting = new CountingWatch(client.getWatchClient());
      Recording sink = new Recording();
      try (EtcdWatchSource<String> source = EtcdWatchSource.builder(client).watchClient(counting).build();
          Watcher<Optional<String>> watcher = watcher(source)) {
        List<Subscription<Optional<String>>> subscriptions = subscribe(watcher, "outage/", sink);
        awaitAll(sink, "has v1", i -> sink.last("s" + i).map(u -> u.index() == before[i % KEYS]).orElse(false));
        for (int k = 0; k < KEYS; k++) {
          changed[k] = put(client, "outage/" + k, "v2");
        }
        awaitAll(sink, "has v2", i -> sink.last("s" + i).map(u -> u.index() == changed[i % KEYS]).orElse(false));

        etcd.stop();
        Eventually.await("every subscription failing while etcd is down", Duration.ofSeconds(90))
            .until(() -> subscriptions.stream().allMatch(Subscription::isFailing));
        etcd.restart();
        // nothing changed yet: the hub learns that etcd is back from the source, not from a change
        Eventually.await("no subscription failing once etcd is back", Duration.ofSeconds(90))
            .until(() -> subscriptions.stream().noneMatch(Subscription::isFailing));
        for (int k = 0; k < KEYS; k++) {
          after[k] = put(client, "outage/" + k, "v3");
        }

        awaitAll(sink, "has v3 after the outage", i -> sink.last("s" + i).map(u -> u.index() == after[i % KEYS]).orElse(false));
        for (int i = 0; i < SUBSCRIBERS; i++) {
          int k = i % KEYS;
          assertThat(sink.last("s" + i).orElseThrow().value()).contains("v3");
          assertThat(sink.indexes("s" + i)).containsExactly(before[k], changed[k], after[k]);
          assertThat(sink.others.get("s" + i)).hasAtLeastOneElementOfType(WatchEvent.Failing.class)
              .hasAtLeastOneElementOfType(WatchEvent.Recovered.class);
        }
        for (int k = 0; k < KEYS; k++) {
          assertThat(source.keyWatch("outage/" + k).reads()).as("resumed, never re-read").isEqualTo(1);
          assertThat(counting.startRevisions).contains(changed[k] + 1);
        }
      }
    }
  }

  @Test
  void afterEtcdIsWipedAndDownFor30SecondsEverySubscriberGetsTheNewStoresValues() throws Exception {
    EtcdServer etcd = wiped;
    try (Client client = Client.builder().endpoints(etcd.endpoint()).build()) {
      long[] before = new long[KEYS];
      long[] fresh = new long[KEYS];
      for (int k = 0; k < KEYS; k++) {
        before[k] = put(client, "reset/" + k, "old");
      }
      for (int i = 0; i < 20; i++) { // move the revision well past what the new store starts at
        put(client, "reset-filler", "x" + i);
      }
      // jetcd used directly, as a peer: a watcher on reset/0 from the current revision
      List<WatchResponse> direct = new CopyOnWriteArrayList<>();
      List<Throwable> directErrors = new CopyOnWriteArrayList<>();
      long resumeFrom = put(client, "reset-filler", "last") + 1;
      Watch.Watcher peer = client.getWatchClient().watch(bytes("reset/0"),
          WatchOption.builder().withRevision(resumeFrom).build(),
          Watch.listener(direct::add, directErrors::add));

      Recording sink = new Recording();
      try (EtcdWatchSource<String> source = EtcdWatchSource.builder(client).build();
          Watcher<Optional<String>> watcher = watcher(source)) {
        List<Subscription<Optional<String>>> subscriptions = subscribe(watcher, "reset/", sink);
        awaitAll(sink, "has v1", i -> sink.last("s" + i).map(u -> u.index() == before[i % KEYS]).orElse(false));

        etcd.stop();
        etcd.wipe();
        Eventually.await("every subscription failing while etcd is down", Duration.ofSeconds(90))
            .until(() -> subscriptions.stream().allMatch(Subscription::isFailing));
        etcd.restart();

        // the keys do not exist in the new store: every subscriber is told so
        awaitAll(sink, "is told the key is gone", i -> sink.last("s" + i).map(u -> u.value().isEmpty()).orElse(false));
        for (int k = 0; k < KEYS; k++) {
          fresh[k] = put(client, "reset/" + k, "new");
        }
        awaitAll(sink, "has the value written after the wipe", i -> sink.last("s" + i).map(u -> u.index() == fresh[i % KEYS]).orElse(false));
        for (int i = 0; i < SUBSCRIBERS; i++) {
          int k = i % KEYS;
          List<WatchEvent.Update<Optional<String>>> updates = sink.updates.get("s" + i);
          assertThat(updates).extracting(WatchEvent.Update::value)
              .containsExactly(Optional.of("old"), Optional.empty(), Optional.of("new"));
          assertThat(updates.get(0).index()).isEqualTo(before[k]);
          assertThat(updates.get(1).index()).as("the index went backwards with the store").isLessThan(before[k]);
          assertThat(updates.get(2).index()).isEqualTo(fresh[k]).isGreaterThan(updates.get(1).index());
        }
        assertThat(source.keyWatch("reset/0").resets()).isEqualTo(1);

        // The direct jetcd watcher resumed from a revision the new store had not reached: it
        // missed "new". Write until the store passes that revision; the first event the peer
        // gets (events arrive in revision order) is a later one.
        int writes = 0;
        while (direct.isEmpty() && writes < 200) {
          put(client, "reset/0", "later-" + writes++);
        }
        Eventually.await("the direct jetcd watcher gets an event").until(() -> !direct.isEmpty());
        assertThat(direct.get(0).getEvents().get(0).getKeyValue().getValue().toString(StandardCharsets.UTF_8))
            .as("jetcd alone never delivered the value written right after the reset").startsWith("later-");
        assertThat(direct.get(0).getEvents().get(0).getKeyValue().getModRevision()).isGreaterThanOrEqualTo(resumeFrom);
      } finally {
        peer.close();
      }
    }
  }
}
