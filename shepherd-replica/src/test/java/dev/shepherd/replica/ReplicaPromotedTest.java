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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** A replica promoted to primary while callers wait; its own cluster, rebuilt afterwards. */
class ReplicaPromotedTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();

  static HikariDataSource primary;
  static HikariDataSource replica;

  @BeforeAll
  static void pools() throws Exception {
    primary = pg.primaryDataSource();
    replica = pg.replicaDataSource(Duration.ofMillis(250));
    Pools.execute(primary, "CREATE TABLE docs (id bigint PRIMARY KEY, v text)");
    pg.awaitReplicaCaughtUp(Duration.ofSeconds(30));
  }

  @AfterAll
  static void close() {
    replica.close();
    primary.close();
  }

  @Test
  void promotedReplicaIsReportedPromotedAndReadsFallBackToThePrimary() throws Exception {
    try (ReplicaTracker tracker = ReplicaTracker.builder(replica).name("promoted").retryInterval(Duration.ZERO).build()) {
      ReplicaRouter router = ReplicaRouter.builder(primary).replica(tracker).maxWait(Duration.ofSeconds(60)).build();
      assertThat(tracker.awaitReplay(Pools.insert(primary, "docs", 1), Duration.ofSeconds(10)).isReplayed()).isTrue();

      // Promotion replays whatever WAL the replica has received, so the waiter waits for a position
      // the replica has not received yet: a write it will now never get from the old primary.
      Lsn written = Pools.insert(primary, "docs", 2);
      Lsn lsn = Lsn.of(written.value() + (1L << 30));
      try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
        Future<ReplayResult> blocked = threads.submit(() -> tracker.awaitReplay(lsn, Duration.ofSeconds(60)));
        await().until(() -> tracker.stats().waiting() == 1);
        pg.promoteReplica();
        ReplayResult result = blocked.get();
        assertThat(result).isInstanceOf(ReplayResult.Promoted.class);
        assertThat(((ReplayResult.Promoted) result).lastReplayed()).isNotNull();
      }
      assertThat(tracker.status()).isEqualTo(ReplicaTracker.Status.PROMOTED);
      // pg_last_wal_replay_lsn() is still non-null on the promoted server: only pg_is_in_recovery() tells.
      assertThat(Pools.queryString(replica, "SELECT pg_last_wal_replay_lsn() IS NOT NULL")).isEqualTo("t");

      Route route = router.route(lsn);
      assertThat(route).isInstanceOf(Route.ToPrimary.class);
      assertThat(((Route.ToPrimary) route).reason()).isEqualTo(Route.FallbackReason.PROMOTED);
      boolean seen = router.read(lsn, c -> Pools.exists(c, "docs", 2));
      assertThat(seen).isTrue();

      pg.rebuildReplica();
      Lsn after = Pools.insert(primary, "docs", 3);
      await().atMost(Duration.ofSeconds(30)).until(() -> tracker.awaitReplay(after, Duration.ofSeconds(5)).isReplayed());
      assertThat(tracker.status()).isEqualTo(ReplicaTracker.Status.STREAMING);
    }
  }
}
