package dev.shepherd.watch.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.shepherd.core.Backoff;
import dev.shepherd.testing.EtcdCluster;
import dev.shepherd.testing.FaultProxy;
import dev.shepherd.watch.Subscription;
import dev.shepherd.watch.WatchEvent;
import dev.shepherd.watch.Watcher;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KV;
import io.etcd.jetcd.maintenance.StatusResponse;
import io.etcd.jetcd.options.GetOption;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A watch created on a member that lags behind the cluster is no reset: a real three-member
 * cluster, one follower frozen (SIGSTOP) while the others commit writes, the source reading from
 * an up-to-date member and watching on the frozen one.
 *
 * <p>etcd answers a watch creation with the header of the member that serves it, whose revision
 * is that member's applied revision: it does not wait to catch up with the leader, unlike a
 * linearizable read. The source's reads (linearizable Gets) went to an up-to-date member and saw
 * revision R, then the lagging member confirmed the watch with a header below R, which a source
 * that trusted the header took for a restore of an older snapshot: it counted a reset, read the
 * keys again and delivered an absent key to its subscribers a second time, as if it had changed.
 *
 * <p>How the lag is made without timing: the watch requests are sent while the member is frozen
 * (the test waits until the source has asked for both watches), so they sit in the member's
 * socket when it resumes. The member answers them from memory at once, while the writes it
 * missed must first come from the leader, be written to its log with an fsync and be applied.
 * That order is etcd's design, not a guarantee, so the test also asserts that {@code lags} (the
 * creations that came back below the revision seen) is positive: should the member ever catch up
 * first, the test fails instead of passing without having shown anything. Without the fix it
 * failed in each of four runs: a reset counted, the absent key delivered twice.
 */
class EtcdLaggingMemberTest {

  @RegisterExtension static final EtcdCluster cluster = EtcdCluster.create();

  /** Writes the frozen member misses, so it has a backlog to apply when it resumes. */
  static final int MISSED_WRITES = 200;

  static ByteSequence bytes(String s) {
    return ByteSequence.from(s, StandardCharsets.UTF_8);
  }

  static long put(KV kv, String key, String value) throws Exception {
    return kv.put(bytes(key), bytes(value)).get(30, TimeUnit.SECONDS).getHeader().getRevision();
  }

  /** The revision member {@code client} has applied: a serializable read, answered locally. */
  static long appliedRevision(Client client) throws Exception {
    return client.getKVClient().get(bytes("lag/none"), GetOption.builder().withSerializable(true).build())
        .get(10, TimeUnit.SECONDS).getHeader().getRevision();
  }

  /** Returns a member that is not the leader. */
  static int follower(Client[] clients) throws Exception {
    for (int m = 0; m < clients.length; m++) {
      StatusResponse status = clients[m].getMaintenanceClient().statusMember(cluster.endpoint(m))
          .get(10, TimeUnit.SECONDS);
      if (status.getLeader() != 0 && status.getLeader() != status.getHeader().getMemberId()) {
        return m;
      }
    }
    throw new IllegalStateException("no member of the cluster is a follower with a leader");
  }

  @Test
  void aWatchConfirmedByALaggingMemberIsNoResetAndNoValueIsDeliveredTwiceOrGoesBackwards()
      throws Exception {
    Client[] clients = new Client[3];
    for (int m = 0; m < clients.length; m++) {
      clients[m] = Client.builder().endpoints(cluster.endpoint(m)).build();
    }
    int lagging = await().atMost(Duration.ofSeconds(60)).ignoreExceptions()
        .until(() -> follower(clients), m -> m >= 0);
    int upToDate = (lagging + 1) % clients.length;
    KV writes = clients[upToDate].getKVClient();
    CountingWatch watches = new CountingWatch(clients[lagging].getWatchClient());
    Recording sink = new Recording();
    try (EtcdWatchSource<String> source = EtcdWatchSource.builder(clients[lagging])
            .kvClient(clients[upToDate].getKVClient()).watchClient(watches)
            .reconnectBackoff(Backoff.fixed(Duration.ofMillis(100))).build();
        Watcher<Optional<String>> watcher = Watcher.builder(source).build()) {
      long v1 = put(writes, "lag/present", "v1");
      // the connection to the member to freeze is open, and the member has applied v1
      await().atMost(Duration.ofSeconds(30)).until(() -> appliedRevision(clients[lagging]) >= v1);

      cluster.suspendMember(lagging);
      try {
        for (int i = 0; i < MISSED_WRITES; i++) {
          put(writes, "lag/filler", "f" + i);
        }
        long v2 = put(writes, "lag/present", "v2");
        List<Subscription<Optional<String>>> subscriptions = new ArrayList<>();
        subscriptions.add(watcher.watch("lag/present", "present", sink));
        subscriptions.add(watcher.watch("lag/absent", "absent", sink));
        // the first values come from reads on the up-to-date member; both watch requests are
        // sent to the frozen one
        await().atMost(Duration.ofSeconds(30)).until(() ->
            sink.last("present").map(u -> u.index() == v2).orElse(false)
                && sink.last("absent").isPresent() && watches.calls.get() == 2);
        assertThat(sink.last("absent").orElseThrow().value()).isEmpty();
        assertThat(sink.last("absent").orElseThrow().index()).isGreaterThanOrEqualTo(v2);
        long v3 = put(writes, "lag/present", "v3");

        cluster.resumeMember(lagging);
        await().atMost(Duration.ofSeconds(60)).until(() ->
            sink.last("present").map(u -> u.index() == v3).orElse(false)
                && source.keyWatch("lag/present").state() == EtcdKeyWatch.State.LIVE
                && source.keyWatch("lag/absent").state() == EtcdKeyWatch.State.LIVE);
        long v4 = put(writes, "lag/present", "v4");
        await().atMost(Duration.ofSeconds(60)).until(() ->
            sink.last("present").map(u -> u.index() == v4).orElse(false));
        assertThat(subscriptions).noneMatch(Subscription::isFailing);
      } finally {
        cluster.resumeMember(lagging);
      }

      long lags = source.keyWatch("lag/present").counts().lags() + source.keyWatch("lag/absent").counts().lags();
      assertThat(lags).as("the lagging member confirmed a watch below the revision already seen")
          .isPositive();
      assertThat(watches.calls).as("the watches the lagging member confirmed were kept, not reopened")
          .hasValue(2);
      assertThat(source.keyWatch("lag/present").resets()).as("no reset of present").isZero();
      assertThat(source.keyWatch("lag/absent").resets()).as("no reset of absent").isZero();
      assertDeliveredOnceInOrder(sink);
    } finally {
      for (Client client : clients) {
        client.close();
      }
    }
  }

  /**
   * The check itself fails: the member the source reads from stops answering (a proxy that holds
   * every byte) right before the lagging member confirms the watches, so the read that would tell
   * lag from reset times out. The source abandons the watch, reports the key failing, and once the
   * read gets through it sees no reset: no value is delivered twice or goes backwards.
   */
  @Test
  void whenTheReadThatChecksALaggingMembersAnswerFailsTheRetryStillFindsNoReset() throws Exception {
    Client[] clients = new Client[3];
    for (int m = 0; m < clients.length; m++) {
      clients[m] = Client.builder().endpoints(cluster.endpoint(m)).build();
    }
    int lagging = await().atMost(Duration.ofSeconds(60)).ignoreExceptions()
        .until(() -> follower(clients), m -> m >= 0);
    int upToDate = (lagging + 1) % clients.length;
    KV writes = clients[upToDate].getKVClient();
    CountingWatch watches = new CountingWatch(clients[lagging].getWatchClient());
    Recording sink = new Recording();
    // gRPC's keepalive (which would find the stalled connection on its own) is set far out
    try (FaultProxy proxy = FaultProxy.to(URI.create(cluster.endpoint(upToDate)).getPort());
        Client reading = Client.builder().endpoints("http://" + proxy.host() + ":" + proxy.port())
            .keepaliveTime(Duration.ofMinutes(10)).build();
        EtcdWatchSource<String> source = EtcdWatchSource.builder(clients[lagging])
            .kvClient(reading.getKVClient()).watchClient(watches)
            .requestTimeout(Duration.ofSeconds(1))
            .reconnectBackoff(Backoff.fixed(Duration.ofMillis(100))).build();
        Watcher<Optional<String>> watcher = Watcher.builder(source).build()) {
      long v1 = put(writes, "check/present", "v1");
      reading.getKVClient().get(bytes("check/present")).get(30, TimeUnit.SECONDS); // connected
      await().atMost(Duration.ofSeconds(30)).until(() -> appliedRevision(clients[lagging]) >= v1);

      cluster.suspendMember(lagging);
      try {
        for (int i = 0; i < MISSED_WRITES; i++) {
          put(writes, "check/filler", "f" + i);
        }
        long v2 = put(writes, "check/present", "v2");
        List<Subscription<Optional<String>>> subscriptions = new ArrayList<>();
        subscriptions.add(watcher.watch("check/present", "present", sink));
        subscriptions.add(watcher.watch("check/absent", "absent", sink));
        await().atMost(Duration.ofSeconds(30)).until(() ->
            sink.last("present").map(u -> u.index() == v2).orElse(false)
                && sink.last("absent").isPresent() && watches.calls.get() == 2);
        proxy.stopForwarding();
        long v3 = put(writes, "check/present", "v3");

        cluster.resumeMember(lagging);
        for (String key : List.of("check/present", "check/absent")) {
          await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
            long index = source.fetch(key, 0, Duration.ZERO).index();
            assertThatThrownBy(() -> source.fetch(key, index, Duration.ZERO))
                .isInstanceOf(EtcdUnavailableException.class)
                .hasRootCauseInstanceOf(java.util.concurrent.TimeoutException.class);
          });
        }
        assertThat(source.keyWatch("check/present").resets()).isZero();

        proxy.restore();
        await().atMost(Duration.ofSeconds(60)).until(() ->
            sink.last("present").map(u -> u.index() == v3).orElse(false)
                && source.keyWatch("check/present").state() == EtcdKeyWatch.State.LIVE
                && source.keyWatch("check/absent").state() == EtcdKeyWatch.State.LIVE);
        long v4 = put(writes, "check/present", "v4");
        await().atMost(Duration.ofSeconds(60)).until(() ->
            sink.last("present").map(u -> u.index() == v4).orElse(false)
                && subscriptions.stream().noneMatch(Subscription::isFailing));
      } finally {
        cluster.resumeMember(lagging);
      }

      for (String key : List.of("check/present", "check/absent")) {
        EtcdKeyWatch.Counts counts = source.keyWatch(key).counts();
        assertThat(counts.resets()).as("no reset of " + key).isZero();
        assertThat(counts.lags()).as("the read after the failed check found " + key + " lagging, no reset")
            .isPositive();
      }
      assertThat(watches.calls.get()).as("the watches were abandoned with their failed check and opened again")
          .isGreaterThan(2);
      assertDeliveredOnceInOrder(sink);
    } finally {
      for (Client client : clients) {
        client.close();
      }
    }
  }

  /**
   * Every value a subscriber got is newer than the one before (mod revisions strictly increase);
   * "present" got v2, v3, v4, each once; "absent" was delivered once.
   */
  static void assertDeliveredOnceInOrder(Recording sink) {
    for (String subscriber : List.of("present", "absent")) {
      List<Long> indexes = sink.indexes(subscriber);
      for (int i = 1; i < indexes.size(); i++) {
        assertThat(indexes.get(i)).as(subscriber + " delivery " + i + " of " + indexes)
            .isGreaterThan(indexes.get(i - 1));
      }
    }
    assertThat(sink.updates.get("present")).extracting(WatchEvent.Update::value)
        .containsExactly(Optional.of("v2"), Optional.of("v3"), Optional.of("v4"));
    assertThat(sink.updates.get("absent")).as("the absent key, delivered once").hasSize(1);
    assertThat(sink.last("absent").orElseThrow().value()).isEmpty();
  }
}
