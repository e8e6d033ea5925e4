package dev.shepherd.watch.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.shepherd.core.Backoff;
import dev.shepherd.testing.EtcdCluster;
import dev.shepherd.watch.Versioned;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A watch served by a member that lost its leader must fail, not wait for commits that cannot
 * come, and recover when the leader is back: a real three-member cluster, two members stopped and
 * started again.
 */
class EtcdLeaderLossTest {

  @RegisterExtension static final EtcdCluster cluster = EtcdCluster.create();

  @Test
  void aWatchOnAMemberWithoutALeaderIsReportedFailingInsteadOfWaitingSilently() throws Exception {
    try (Client client = Client.builder().endpoints(cluster.endpoint(0)).build();
        EtcdWatchSource<String> source = EtcdWatchSource.builder(client)
            .reconnectBackoff(Backoff.fixed(Duration.ofMillis(100))).build()) {
      client.getKVClient().put(ByteSequence.from("leader/key", StandardCharsets.UTF_8),
          ByteSequence.from("v1", StandardCharsets.UTF_8)).get(10, TimeUnit.SECONDS);
      long first = source.fetch("leader/key", 0, Duration.ofMinutes(1)).index();
      await().atMost(Duration.ofSeconds(30)).until(() -> source.keyWatch("leader/key").state() == EtcdKeyWatch.State.LIVE);

      cluster.stopMember(1);
      cluster.stopMember(2);
      // member 0 is still up and its stream still open; without a leader no write can commit
      await().atMost(Duration.ofSeconds(60)).untilAsserted(() ->
          assertThatThrownBy(() -> source.fetch("leader/key", first, Duration.ofMillis(200)))
              .isInstanceOf(EtcdUnavailableException.class)
              .hasMessageContaining("'leader/key'")
              .hasMessageContaining("no leader"));

      cluster.restartMember(1);
      cluster.restartMember(2);
      await().atMost(Duration.ofSeconds(60)).until(() -> cluster.healthy(0));
      long second = client.getKVClient().put(ByteSequence.from("leader/key", StandardCharsets.UTF_8),
          ByteSequence.from("v2", StandardCharsets.UTF_8)).get(30, TimeUnit.SECONDS).getHeader().getRevision();
      assertThat(EtcdDisconnectTest.nextAfter(source, "leader/key", first))
          .isEqualTo(Versioned.of(Optional.of("v2"), second));
    }
  }
}
