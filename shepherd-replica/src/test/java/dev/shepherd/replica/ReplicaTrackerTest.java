package dev.shepherd.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.testing.PostgresCluster;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The tracker against a real primary and streaming replica whose topology these tests keep intact. */
class ReplicaTrackerTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();

  static HikariDataSource primary;
  static HikariDataSource replica;

  @BeforeAll
  static void pools() throws Exception {
    primary = pg.primaryDataSource();
    replica = pg.replicaDataSource();
    Pools.execute(primary, "CREATE TABLE items (id bigint PRIMARY KEY, v text)");
    pg.awaitReplicaCaughtUp(Duration.ofSeconds(30));
  }

  @AfterAll
  static void close() {
    replica.close();
    primary.close();
  }

  @Test
  void writeThenWaitThenReadOnTheReplicaNeverReadsStale() throws Exception {
    try (ReplicaTracker tracker = ReplicaTracker.builder(replica).name("r1").build()) {
      int stale = 0;
      for (int i = 0; i < 1_000; i++) {
        long id = 1_000_000 + i;
        Lsn lsn = Pools.insert(primary, "items", id);
        ReplayResult result = tracker.awaitReplay(lsn, Duration.ofSeconds(10));
        assertThat(result).as("iteration %d", i).isInstanceOf(ReplayResult.Replayed.class);
        if (!Pools.exists(replica, "items", id)) {
          stale++;
        }
      }
      assertThat(stale).isZero();
      assertThat(tracker.stats().maxConcurrentPollers()).isEqualTo(1);
    }
  }

  @Test
  void alreadyReplayedPositionReturnsFromTheCacheWithoutAQuery() throws Exception {
    try (ReplicaTracker tracker = ReplicaTracker.builder(replica).build()) {
      Lsn lsn = Pools.insert(primary, "items", 2_000_001);
      assertThat(tracker.awaitReplay(lsn, Duration.ofSeconds(10))).isInstanceOf(ReplayResult.Replayed.class);
      long queries = tracker.stats().queries();
      for (int i = 0; i < 100; i++) {
        ReplayResult again = tracker.awaitReplay(lsn, Duration.ofSeconds(10));
        assertThat(again).isInstanceOf(ReplayResult.Replayed.class);
        assertThat(again.waited()).isZero();
      }
      assertThat(tracker.stats().queries()).isEqualTo(queries);
      assertThat(tracker.stats().cacheHits()).isEqualTo(100);
    }
  }

  @Test
  void idleTrackerSendsNoQuery() throws Exception {
    try (ReplicaTracker tracker = ReplicaTracker.builder(replica).build()) {
      assertThat(tracker.stats().queries()).isZero();
      Lsn lsn = Pools.insert(primary, "items", 3_000_001);
      assertThat(tracker.awaitReplay(lsn, Duration.ofSeconds(10))).isInstanceOf(ReplayResult.Replayed.class);
      await().until(() -> !tracker.isPolling());
      long queries = tracker.stats().queries();
      // Writes keep arriving on the replica, but nobody waits: the tracker must stay silent.
      for (int i = 0; i < 20; i++) {
        Pools.insert(primary, "items", 3_000_100 + i);
      }
      pg.awaitReplicaCaughtUp(Duration.ofSeconds(30));
      assertThat(tracker.stats().queries()).isEqualTo(queries);
      assertThat(tracker.stats().pollerStarts()).isEqualTo(1);
    }
  }

  @Test
  void aThousandConcurrentWaitersShareOnePollerAndAreAllReleased() throws Exception {
    try (ReplicaTracker tracker = ReplicaTracker.builder(replica).name("crowd").build()) {
      pg.pauseReplay();
      Lsn lsn;
      List<Future<ReplayResult>> results = new ArrayList<>();
      long startsBefore = tracker.stats().pollerStarts();
      try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
        try {
          lsn = Pools.insert(primary, "items", 4_000_001);
          for (int i = 0; i < 1_000; i++) {
            Lsn target = lsn;
            results.add(threads.submit(() -> tracker.awaitReplay(target, Duration.ofSeconds(60))));
          }
          await().atMost(Duration.ofSeconds(30)).until(() -> tracker.stats().waiting() == 1_000);
        } finally {
          pg.resumeReplay();
        }
        long queriesBefore = tracker.stats().queries();
        for (Future<ReplayResult> result : results) {
          assertThat(result.get()).isInstanceOf(ReplayResult.Replayed.class);
        }
        long releaseQueries = tracker.stats().queries() - queriesBefore;
        // Releasing 1,000 waiters took a handful of polls, not one query per waiter.
        assertThat(releaseQueries).isLessThan(100);
      }
      assertThat(tracker.stats().pollerStarts() - startsBefore).isEqualTo(1);
      assertThat(tracker.stats().maxConcurrentPollers()).isEqualTo(1);
      assertThat(Pools.exists(replica, "items", 4_000_001)).isTrue();
    }
  }

  @Test
  void pausedReplayTimesOutAndTheFallbackReadOnThePrimarySeesTheRow() throws Exception {
    try (ReplicaTracker tracker = ReplicaTracker.builder(replica).name("paused").build()) {
      ReplicaRouter router = ReplicaRouter.builder(primary).replica(tracker).maxWait(Duration.ofMillis(300)).build();
      pg.pauseReplay();
      try {
        Lsn lsn = Pools.insert(primary, "items", 5_000_001);
        ReplayResult result = tracker.awaitReplay(lsn, Duration.ofMillis(300));
        assertThat(result).isInstanceOf(ReplayResult.TimedOut.class);
        assertThat(((ReplayResult.TimedOut) result).lastReplayed()).isNotNull().isLessThan(lsn);
        assertThat(tracker.stats().waiting()).as("a timed-out registration does not leak").isZero();

        Route route = router.route(lsn);
        assertThat(route).isInstanceOf(Route.ToPrimary.class);
        assertThat(((Route.ToPrimary) route).reason()).isEqualTo(Route.FallbackReason.TIMED_OUT);
        assertThat(((Route.ToPrimary) route).detail()).contains("paused").contains("timed out");
        boolean seen = router.read(lsn, c -> Pools.exists(c, "items", 5_000_001));
        assertThat(seen).isTrue();
        assertThat(router.stats().fallbacks().get(Route.FallbackReason.TIMED_OUT)).isEqualTo(2);
        assertThat(Pools.exists(replica, "items", 5_000_001)).isFalse();
      } finally {
        pg.resumeReplay();
      }
    }
  }

  @Test
  void anInterruptedWaitThrowsInterruptedExceptionAndRemovesItsRegistration() throws Exception {
    try (ReplicaTracker tracker = ReplicaTracker.builder(replica).name("interrupted").build()) {
      pg.pauseReplay();
      try {
        Lsn lsn = Pools.insert(primary, "items", 5_500_001);
        AtomicReference<Object> outcome = new AtomicReference<>();
        Thread waiter = Thread.ofPlatform().name("interrupted-waiter").start(() -> {
          try {
            outcome.set(tracker.awaitReplay(lsn, Duration.ofMinutes(10)));
          } catch (InterruptedException e) {
            outcome.set(e);
          }
        });
        await().atMost(Duration.ofSeconds(30)).until(() -> tracker.stats().waiting() == 1);
        waiter.interrupt();
        assertThat(waiter.join(Duration.ofSeconds(30))).as("the wait returned on the interrupt").isTrue();
        assertThat(outcome.get()).isInstanceOf(InterruptedException.class);
        assertThat(tracker.stats().waiting()).as("an interrupted registration does not leak").isZero();
      } finally {
        pg.resumeReplay();
      }
    }
  }

  @Test
  void pausedReplayBacksThePollerOffInsteadOfSpinning() throws Exception {
    try (ReplicaTracker tracker = ReplicaTracker.builder(replica).build()) {
      pg.pauseReplay();
      try {
        Lsn lsn = Pools.insert(primary, "items", 6_000_001);
        assertThat(tracker.awaitReplay(lsn, Duration.ofSeconds(1))).isInstanceOf(ReplayResult.TimedOut.class);
        // At the 0.5 ms minimum a second of polling would be ~2,000 queries; backing off to 50 ms
        // gives a ramp of 7 and then at most 20 a second, plus one receiver check.
        assertThat(tracker.stats().queries()).isLessThan(100);
      } finally {
        pg.resumeReplay();
      }
    }
  }

  @Test
  void routerPicksTheReplicaThatHasReplayedAndCountsIt() throws Exception {
    try (ReplicaTracker tracker = ReplicaTracker.builder(replica).name("r").build()) {
      ReplicaRouter router = ReplicaRouter.builder(primary).replica(tracker).build();
      Lsn lsn = Pools.insert(primary, "items", 7_000_001);
      boolean seen = router.read(lsn, c -> Pools.exists(c, "items", 7_000_001));
      assertThat(seen).isTrue();
      assertThat(router.stats().replicaReads()).isEqualTo(1);
      assertThat(router.stats().primaryReads()).isZero();
      Route any = router.route(null);
      assertThat(any).isInstanceOf(Route.ToReplica.class);
    }
  }

  @Test
  void routerPrefersTheLeastLaggingOfSeveralReplicas() throws Exception {
    // Two trackers: "ahead" follows the real replica, "behind" is paused at an older position.
    try (ReplicaTracker ahead = ReplicaTracker.builder(replica).name("ahead").build();
        ReplicaTracker behind = ReplicaTracker.builder(replica).name("behind").build()) {
      Lsn first = Pools.insert(primary, "items", 8_000_001);
      assertThat(behind.awaitReplay(first, Duration.ofSeconds(10)).isReplayed()).isTrue();
      Lsn second = Pools.insert(primary, "items", 8_000_002);
      assertThat(ahead.awaitReplay(second, Duration.ofSeconds(10)).isReplayed()).isTrue();
      // Caches now: behind at >= first, ahead at >= second. A read needing `first` goes to the one further ahead.
      ReplicaRouter router = ReplicaRouter.builder(primary).replica(behind).replica(ahead).build();
      Route route = router.route(first);
      assertThat(route).isInstanceOf(Route.ToReplica.class);
      // behind's poller stopped before `second` was written, so its cache is older than ahead's.
      assertThat(behind.lastReplayed().orElseThrow()).isLessThan(second);
      assertThat(((Route.ToReplica) route).replica().name()).isEqualTo("ahead");
      assertThat(router.route(null)).isInstanceOf(Route.ToReplica.class);
    }
  }

  @Test
  void pollingIsChosenOnPostgres15() throws Exception {
    assertThat(pg.majorVersion()).isLessThan(19);
    try (ReplicaTracker tracker = ReplicaTracker.builder(replica).build()) {
      assertThat(tracker.strategy()).isEqualTo(ReplayStrategy.AUTO);
      tracker.awaitReplay(Pools.insert(primary, "items", 9_000_001), Duration.ofSeconds(10));
      assertThat(tracker.strategy()).isEqualTo(ReplayStrategy.POLLING);
    }
  }

  @Test
  void aPrimaryUsedAsReplicaIsReportedNotReplicatingAtOnce() throws Exception {
    try (ReplicaTracker tracker = ReplicaTracker.builder(primary).name("oops").build()) {
      Lsn lsn = Pools.insert(primary, "items", 10_000_001);
      ReplayResult result = tracker.awaitReplay(lsn, Duration.ofSeconds(60));
      assertThat(result).isInstanceOf(ReplayResult.NotReplicating.class);
      assertThat(((ReplayResult.NotReplicating) result).reason()).contains("pg_is_in_recovery() is false").contains("primary");
      assertThat(tracker.status()).isEqualTo(ReplicaTracker.Status.NOT_REPLICATING);
      long queries = tracker.stats().queries();
      assertThat(tracker.awaitReplay(lsn, Duration.ofSeconds(60))).isInstanceOf(ReplayResult.NotReplicating.class);
      assertThat(tracker.stats().queries()).as("reported from the health, not polled again").isEqualTo(queries);
    }
  }

  @Test
  void closedTrackerRefusesWaits() {
    ReplicaTracker tracker = ReplicaTracker.builder(replica).build();
    tracker.close();
    assertThatThrownBy(() -> tracker.awaitReplay(Lsn.ZERO, Duration.ofSeconds(1)))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
  }

  @Test
  void zeroTimeoutChecksTheCacheOnly() throws Exception {
    try (ReplicaTracker tracker = ReplicaTracker.builder(replica).build()) {
      ReplayResult result = tracker.awaitReplay(Lsn.parse("FFFFFFFF/0"), Duration.ZERO);
      assertThat(result).isInstanceOf(ReplayResult.TimedOut.class);
      assertThat(tracker.stats().queries()).isZero();
    }
  }

  @Test
  void waitingHoldsNoTransactionOrSnapshotOnTheReplica() throws Exception {
    try (ReplicaTracker tracker = ReplicaTracker.builder(replica).name("snapshot").build();
        ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      pg.pauseReplay();
      try {
        Lsn lsn = Pools.insert(primary, "items", 11_000_001);
        Future<ReplayResult> waiting = threads.submit(() -> tracker.awaitReplay(lsn, Duration.ofSeconds(60)));
        await().until(() -> tracker.stats().waiting() == 1 && tracker.stats().queries() >= 3);
        // While the poller polls, no other session on the replica is inside a transaction or holds
        // a snapshot (backend_xmin), which would hold back cleanup and cause recovery conflicts.
        String holders = Pools.queryString(replica, "SELECT count(*) FROM pg_stat_activity "
            + "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' "
            + "AND (state LIKE 'idle in transaction%' OR backend_xmin IS NOT NULL)");
        assertThat(holders).isEqualTo("0");
        assertThat(waiting.isDone()).isFalse();
      } finally {
        pg.resumeReplay();
      }
    }
  }

  /** The README's (and ReplayResult's javadoc) switch sample, verbatim between the markers. */
  @Test
  void readmeSwitchSampleRunsAsWritten() throws Exception {
    try (ReplicaTracker tracker = ReplicaTracker.builder(replica).build()) {
      Lsn lsn = Pools.insert(primary, "items", 12_000_001);
      // README switch begin
      String where = switch (tracker.awaitReplay(lsn, Duration.ofSeconds(1))) {
        case ReplayResult.Replayed r -> "replica";                  // it has the write
        case ReplayResult.TimedOut t -> "primary: lagging";         // or its replay is paused
        case ReplayResult.ReplicaUnavailable u -> "primary: down";  // u.cause() says why
        case ReplayResult.Promoted p -> "primary: promoted";        // pg_is_in_recovery() is false now
        case ReplayResult.NotReplicating n -> "primary: " + n.reason();
        case ReplayResult.OtherHistory o -> "primary: " + o.reason(); // another timeline or cluster
      };
      // README switch end
      assertThat(where).isEqualTo("replica");
    }
  }

  /** The README's sample, verbatim between the markers. */
  @Test
  void readmeSampleRunsAsWritten() throws Exception {
    Pools.execute(primary, "CREATE TABLE orders (id bigint PRIMARY KEY, item text)");
    // README sample begin
    ReplicaTracker tracker = ReplicaTracker.builder(replica).name("replica-1").build();
    ReplicaRouter router = ReplicaRouter.builder(primary)
        .replica(tracker)
        .maxWait(Duration.ofMillis(200))
        .build();

    // Write on the primary, then take the position a reader must wait for.
    Lsn lsn;
    try (Connection c = primary.getConnection();
        PreparedStatement insert = c.prepareStatement("INSERT INTO orders(id, item) VALUES (?, ?)")) {
      insert.setLong(1, 1);
      insert.setString(2, "book");
      insert.executeUpdate(); // autocommit
      lsn = WritePosition.afterCommit(c);
    }

    // Read it back: on the replica once it has replayed lsn, else (after 200 ms) on the primary.
    String item = router.read(lsn, c -> {
      try (PreparedStatement select = c.prepareStatement("SELECT item FROM orders WHERE id = ?")) {
        select.setLong(1, 1);
        try (ResultSet rs = select.executeQuery()) {
          return rs.next() ? rs.getString(1) : null;
        }
      }
    });

    // Carry the position to the next request or a job, signed so clients cannot forge it.
    ConsistencyTokenCodec codec = ConsistencyTokenCodec.builder()
        .signingKey("2026-11", secretOf32Bytes)
        .build();
    String header = codec.encode(ConsistencyToken.of(lsn));
    Lsn required = codec.decode(header).lsn();
    // README sample end
    assertThat(item).isEqualTo("book");
    assertThat(required).isEqualTo(lsn);
    assertThat(router.stats().replicaReads() + router.stats().primaryReads()).isEqualTo(1);
    tracker.close();
  }

  private static final byte[] secretOf32Bytes = ConsistencyTokenCodecTest.SECRET;
}
