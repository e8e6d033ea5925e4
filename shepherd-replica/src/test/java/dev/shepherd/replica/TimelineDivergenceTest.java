package dev.shepherd.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.testing.PostgresCluster;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A real timeline divergence: the fixture's replica is promoted (timeline 2) while a standby of the
 * old primary goes on replaying timeline 1, and a standby copied from the promoted node replays
 * timeline 2. Each standby is made to replay past the position of a token of the other timeline, so
 * an LSN comparison alone would take it for caught up; with the token's history it does not. Each
 * is checked both as the superuser (the WAL receiver's timeline is visible: exact) and as a role
 * without {@code pg_read_all_stats} (the last restartpoint's timeline: a lower bound).
 */
class TimelineDivergenceTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();

  static final List<HikariDataSource> POOLS = new ArrayList<>();
  static HikariDataSource oldPrimary;
  static HikariDataSource newPrimary;
  /** A standby of the old primary: timeline 1, replayed past {@link #onTimeline2}'s position. */
  static int oldStandby;
  /** A standby of the promoted node: timeline 2, replayed past {@link #onTimeline1}'s position. */
  static int newStandby;
  static ConsistencyToken onTimeline1;
  static ConsistencyToken onTimeline2;

  @BeforeAll
  static void diverge() throws Exception {
    oldPrimary = pool(pg.primaryJdbcUrl());
    Pools.execute(oldPrimary, "CREATE ROLE reader LOGIN"); // no pg_read_all_stats: received_tli is hidden
    Pools.execute(oldPrimary, "CREATE TABLE facts (id bigint PRIMARY KEY, v text)");
    Pools.execute(oldPrimary, "GRANT SELECT ON facts TO reader");
    pg.awaitReplicaCaughtUp(Duration.ofSeconds(60));
    oldStandby = pg.addStandby(pg.primaryPort());

    pg.promoteReplica();
    newPrimary = pool(pg.replicaJdbcUrl());
    await().atMost(Duration.ofSeconds(60)).until(() -> "f".equals(Pools.queryString(newPrimary, "SELECT pg_is_in_recovery()")));
    onTimeline2 = write(newPrimary, 2);
    assertThat(onTimeline2.database()).isNotNull();
    assertThat(onTimeline2.database().timeline()).isEqualTo(2);
    newStandby = pg.addStandby(pg.replicaPort());

    // The old primary goes on writing on timeline 1, past timeline 2's token, and then the new one
    // past timeline 1's token, so that each standby's replay position passes the other's token.
    onTimeline1 = writeBeyond(oldPrimary, onTimeline2.lsn(), 1_000);
    assertThat(onTimeline1.database().timeline()).isEqualTo(1);
    writeBeyond(newPrimary, onTimeline1.lsn(), 100_000);
    awaitReplayed(oldStandby, onTimeline1.lsn());
    awaitReplayed(newStandby, onTimeline1.lsn());
  }

  @AfterAll
  static void close() {
    POOLS.forEach(HikariDataSource::close);
  }

  /**
   * Each standby has replayed past the other timeline's token: an LSN-only wait takes it for caught
   * up (this is the divergence), a wait with the token's history answers {@code OtherHistory} at
   * once, and each still serves the token of its own timeline.
   */
  @Test
  void aStandbyOfAnotherTimelineIsNotCaughtUpThoughItsReplayPositionIsPastTheToken() throws Exception {
    for (String user : List.of("postgres", "reader")) {
      try (ReplicaTracker old = tracker(oldStandby, user, "old-" + user);
          ReplicaTracker fresh = tracker(newStandby, user, "new-" + user)) {
        assertThat(old.awaitReplay(onTimeline2.lsn(), Duration.ofSeconds(30)).isReplayed())
            .as("LSN alone: the timeline 1 standby looks caught up for timeline 2's write").isTrue();
        assertThat(fresh.awaitReplay(onTimeline1.lsn(), Duration.ofSeconds(30)).isReplayed())
            .as("LSN alone: the timeline 2 standby looks caught up for a write lost on timeline 1").isTrue();

        ReplayResult oldForNew = old.awaitReplay(onTimeline2, Duration.ofMillis(300));
        ReplayResult newForOld = fresh.awaitReplay(onTimeline1, Duration.ofSeconds(30));

        assertThat(newForOld).as(user).isInstanceOfSatisfying(ReplayResult.OtherHistory.class, o -> {
          assertThat(o.reason()).contains("newer than the token's timeline 1");
          assertThat(o.replica()).contains("new-" + user);
        });
        if (user.equals("postgres")) { // the receiver's timeline: exact, so it cannot switch any more
          assertThat(oldForNew).isInstanceOfSatisfying(ReplayResult.OtherHistory.class,
              o -> assertThat(o.reason()).contains("on timeline 1").contains("never switch"));
        } else { // only a lower bound of its timeline: it might be on 2 later, so it is waited for
          assertThat(oldForNew).isInstanceOf(ReplayResult.TimedOut.class);
        }
        assertThat(old.awaitReplay(onTimeline1, Duration.ofSeconds(30)).isReplayed()).as(user).isTrue();
        assertThat(fresh.awaitReplay(onTimeline2, Duration.ofSeconds(30)).isReplayed()).as(user).isTrue();
      }
    }
  }

  /**
   * The router sends a token's read to the standby of the token's timeline, and when only a
   * standby of the other timeline is there, to the primary with the reason {@code OTHER_HISTORY}
   * (a standby whose history is only a lower bound is waited for, then {@code TIMED_OUT}).
   */
  @Test
  void theRouterSendsATokenToAStandbyOfItsTimelineOrToThePrimaryNamingTheReason() throws Exception {
    try (ReplicaTracker old = tracker(oldStandby, "postgres", "old");
        ReplicaTracker fresh = tracker(newStandby, "postgres", "new")) {
      ReplicaRouter both = ReplicaRouter.builder(newPrimary).replica(old).replica(fresh)
          .maxWait(Duration.ofSeconds(30)).build();
      assertThat(both.routeAfter(onTimeline2)).isInstanceOfSatisfying(Route.ToReplica.class,
          r -> assertThat(r.replica()).isSameAs(fresh));
      assertThat(both.routeAfter(onTimeline1)).isInstanceOfSatisfying(Route.ToReplica.class,
          r -> assertThat(r.replica()).isSameAs(old));

      ReplicaRouter oldOnly = ReplicaRouter.builder(newPrimary).replica(old).maxWait(Duration.ofSeconds(30)).build();
      Route route = oldOnly.routeAfter(onTimeline2);
      assertThat(route).isInstanceOfSatisfying(Route.ToPrimary.class, p -> {
        assertThat(p.reason()).isEqualTo(Route.FallbackReason.OTHER_HISTORY);
        assertThat(p.detail()).contains("old").contains("timeline");
      });
      assertThat(oldOnly.stats().fallbacks()).containsEntry(Route.FallbackReason.OTHER_HISTORY, 1L);
      boolean seen = oldOnly.readAfter(onTimeline2, c -> Pools.exists(c, "facts", 2));
      assertThat(seen).as("read on the primary of timeline 2").isTrue();

      // The routing data source routes read-only work with the scope's token, history included.
      ReplicaRoutingDataSource routing = ReplicaRoutingDataSource.builder(newPrimary, oldOnly).build();
      boolean seenThroughRouting = ConsistencyContext.callWith(onTimeline2, () -> {
        try (Connection c = routing.getConnection()) {
          c.setReadOnly(true);
          return Pools.exists(c, "facts", 2);
        }
      });
      assertThat(seenThroughRouting).isTrue();
      assertThat(routing.stats().primaryConnections()).isEqualTo(1);
      assertThat(oldOnly.stats().fallbacks()).containsEntry(Route.FallbackReason.OTHER_HISTORY, 3L);
    }
  }

  private static ReplicaTracker tracker(int port, String user, String name) {
    HikariDataSource source = pool(pg.jdbcUrlOf(port).replace("user=postgres", "user=" + user));
    return ReplicaTracker.builder(source).name(name).retryInterval(Duration.ZERO).build();
  }

  private static HikariDataSource pool(String url) {
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(url);
    config.setMaximumPoolSize(4);
    config.setMinimumIdle(0);
    config.setConnectionTimeout(10_000);
    HikariDataSource pool = new HikariDataSource(config);
    POOLS.add(pool);
    return pool;
  }

  private static ConsistencyToken write(HikariDataSource primary, long id) throws Exception {
    try (Connection c = primary.getConnection(); Statement s = c.createStatement()) {
      s.executeUpdate("INSERT INTO facts(id, v) VALUES (" + id + ", 'fact')");
      return WritePosition.tokenAfterCommit(c);
    }
  }

  /** Writes rows until the primary's position is past {@code beyond}; returns the last write's token. */
  private static ConsistencyToken writeBeyond(HikariDataSource primary, Lsn beyond, long firstId) throws Exception {
    long id = firstId;
    ConsistencyToken token;
    do {
      try (Connection c = primary.getConnection(); Statement s = c.createStatement()) {
        s.executeUpdate("INSERT INTO facts(id, v) SELECT g, repeat('x', 200) FROM generate_series("
            + id + ", " + (id + 999) + ") g");
        token = WritePosition.tokenAfterCommit(c);
      }
      id += 1_000;
    } while (!token.lsn().isAtLeast(beyond) || token.lsn().equals(beyond));
    return token;
  }

  private static void awaitReplayed(int port, Lsn lsn) {
    HikariDataSource standby = pool(pg.jdbcUrlOf(port));
    await().atMost(Duration.ofSeconds(60)).until(() ->
        Lsn.parse(Pools.queryString(standby, "SELECT pg_last_wal_replay_lsn()::text")).isAtLeast(lsn));
  }
}
