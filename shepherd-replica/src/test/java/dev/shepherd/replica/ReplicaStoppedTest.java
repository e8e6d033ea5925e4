package dev.shepherd.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.testing.PostgresCluster;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

/** A replica that stops answering, and one whose primary goes away; its own cluster. */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ReplicaStoppedTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();

  static HikariDataSource primary;
  static HikariDataSource replica;

  @BeforeAll
  static void pools() throws Exception {
    primary = pg.primaryDataSource();
    replica = pg.replicaDataSource(Duration.ofMillis(250));
    Pools.execute(primary, "CREATE TABLE things (id bigint PRIMARY KEY, v text)");
    pg.awaitReplicaCaughtUp(Duration.ofSeconds(30));
  }

  @AfterAll
  static void close() {
    replica.close();
    primary.close();
  }

  @Test
  @Order(1)
  void stoppedReplicaIsReportedUnavailableAtOnceAndReadsGoToThePrimary() throws Exception {
    try (ReplicaTracker tracker = ReplicaTracker.builder(replica).name("stopping").retryInterval(Duration.ofHours(1)).build()) {
      ReplicaRouter router = ReplicaRouter.builder(primary).replica(tracker).maxWait(Duration.ofSeconds(60)).build();
      assertThat(tracker.awaitReplay(Pools.insert(primary, "things", 1), Duration.ofSeconds(10)).isReplayed()).isTrue();

      // A waiter is blocked (replay paused) when the replica stops: it learns at once, not after 60 s.
      pg.pauseReplay();
      Lsn lsn = Pools.insert(primary, "things", 2);
      try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
        Future<ReplayResult> blocked = threads.submit(() -> tracker.awaitReplay(lsn, Duration.ofSeconds(60)));
        await().until(() -> tracker.stats().waiting() == 1);
        pg.stopReplica();
        ReplayResult result = blocked.get();
        assertThat(result).isInstanceOf(ReplayResult.ReplicaUnavailable.class);
        assertThat(result.waited()).isLessThan(Duration.ofSeconds(60));
      }
      assertThat(tracker.status()).isEqualTo(ReplicaTracker.Status.UNAVAILABLE);

      // Later callers get the answer from the tracker's health, without waiting.
      ReplayResult later = tracker.awaitReplay(lsn, Duration.ofSeconds(60));
      assertThat(later).isInstanceOf(ReplayResult.ReplicaUnavailable.class);
      assertThat(later.waited()).isZero();

      boolean seen = router.read(lsn, c -> Pools.exists(c, "things", 2));
      assertThat(seen).isTrue();
      assertThat(router.stats().fallbacks().get(Route.FallbackReason.REPLICA_UNAVAILABLE)).isEqualTo(1);
      assertThat(router.route(null)).isInstanceOf(Route.ToPrimary.class);
    } finally {
      pg.startReplica();
    }
  }

  @Test
  @Order(2)
  void aReplicaThatIsAlreadyDownWhenTheWaitStartsIsReportedUnavailable() throws Exception {
    try (ReplicaTracker tracker = ReplicaTracker.builder(replica).name("down").build()) {
      pg.stopReplica();
      try {
        ReplayResult result = tracker.awaitReplay(Pools.insert(primary, "things", 3), Duration.ofSeconds(60));
        assertThat(result).isInstanceOf(ReplayResult.ReplicaUnavailable.class);
        assertThat(((ReplayResult.ReplicaUnavailable) result).cause()).isNotNull();
      } finally {
        pg.startReplica();
      }
      // After the retry interval, the next wait tries again and the replica is back.
      Lsn lsn = Pools.insert(primary, "things", 4);
      await().atMost(Duration.ofSeconds(30)).until(() -> tracker.awaitReplay(lsn, Duration.ofSeconds(5)).isReplayed());
      assertThat(tracker.status()).isEqualTo(ReplicaTracker.Status.STREAMING);
      assertThat(Pools.exists(replica, "things", 4)).isTrue();
    }
  }

  @Test
  @Order(3)
  void aReplicaWithoutAWalReceiverIsReportedNotReplicating() throws Exception {
    try (ReplicaTracker tracker = ReplicaTracker.builder(replica).name("orphan")
        .stallCheckAfter(Duration.ofMillis(200)).build()) {
      pg.pauseReplay();
      Lsn target = Pools.insert(primary, "things", 6);
      pg.stopPrimary();
      try {
        await().atMost(Duration.ofSeconds(30)).until(() -> !walReceiverRunning());
        ReplayResult result = tracker.awaitReplay(target, Duration.ofSeconds(60));
        assertThat(result).isInstanceOf(ReplayResult.NotReplicating.class);
        assertThat(((ReplayResult.NotReplicating) result).reason()).contains("no WAL receiver");
      } finally {
        pg.startPrimary();
        pg.resumeReplay();
      }
    }
  }

  private static boolean walReceiverRunning() throws Exception {
    return "t".equals(Pools.queryString(replica, "SELECT EXISTS (SELECT 1 FROM pg_stat_wal_receiver)"));
  }
}
