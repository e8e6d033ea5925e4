package dev.shepherd.replica;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.testing.PostgresCluster;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The routing data source on a real primary and streaming replica, the way a transaction manager drives it. */
class ReplicaRoutingDataSourceTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();

  static HikariDataSource primary;
  static HikariDataSource replica;
  static ReplicaTracker tracker;

  @BeforeAll
  static void pools() throws Exception {
    primary = pg.primaryDataSource();
    replica = pg.replicaDataSource();
    Pools.execute(primary, "CREATE TABLE routed (id bigint PRIMARY KEY, v text)");
    pg.awaitReplicaCaughtUp(Duration.ofSeconds(30));
    tracker = ReplicaTracker.builder(replica).name("r1").build();
  }

  @AfterAll
  static void close() {
    tracker.close();
    replica.close();
    primary.close();
  }

  private static ReplicaRouter router(Duration maxWait) {
    return ReplicaRouter.builder(primary).replica(tracker).maxWait(maxWait).build();
  }

  /** A transaction the way DataSourceTransactionManager runs one: read-only, auto-commit off, work, commit, reset. */
  private static String serverRole(Connection c) throws Exception {
    try (PreparedStatement s = c.prepareStatement("SELECT pg_is_in_recovery()"); ResultSet rs = s.executeQuery()) {
      rs.next();
      return rs.getBoolean(1) ? "replica" : "primary";
    }
  }

  private static void insertInTransaction(ReplicaRoutingDataSource ds, long id) throws Exception {
    try (Connection c = ds.getConnection()) {
      c.setAutoCommit(false);
      assertThat(serverRole(c)).isEqualTo("primary");
      try (PreparedStatement s = c.prepareStatement("INSERT INTO routed(id, v) VALUES (?, ?)")) {
        s.setLong(1, id);
        s.setString(2, "v" + id);
        s.executeUpdate();
      }
      c.commit();
      c.setAutoCommit(true);
    }
  }

  private static String readInReadOnlyTransaction(ReplicaRoutingDataSource ds, long id, List<String> servedBy) throws Exception {
    try (Connection c = ds.getConnection()) {
      c.setReadOnly(true);
      c.setAutoCommit(false);
      servedBy.add(serverRole(c));
      try (PreparedStatement s = c.prepareStatement("SELECT v FROM routed WHERE id = ?")) {
        s.setLong(1, id);
        try (ResultSet rs = s.executeQuery()) {
          String v = rs.next() ? rs.getString(1) : null;
          c.commit();
          c.setAutoCommit(true);
          c.setReadOnly(false);
          return v;
        }
      }
    }
  }

  /**
   * A read-only connection whose replica's pool gives no connection reads on the primary, and the
   * router counts it as that fallback, not as a replica read (it was counted as a replica read).
   */
  @Test
  void aReadOnlyConnectionWhoseReplicaGivesNoConnectionIsCountedAsAFallback() throws Exception {
    DataSource refusing = DataSources.beforeConnect(replica, () -> {
      if (!Thread.currentThread().getName().startsWith("shepherd-replica-poller")) {
        throw new java.sql.SQLTransientConnectionException("test: the replica's pool is exhausted");
      }
    });
    try (ReplicaTracker refusingTracker = ReplicaTracker.builder(refusing).name("refusing").build()) {
      assertThat(refusingTracker.awaitReplay(Lsn.ZERO, Duration.ofSeconds(30)))
          .isInstanceOf(ReplayResult.Replayed.class);
      ReplicaRouter router = ReplicaRouter.builder(primary).replica(refusingTracker).build();
      ReplicaRoutingDataSource ds = ReplicaRoutingDataSource.builder(primary, router).build();
      String role;
      try (Connection c = ds.getConnection()) {
        c.setReadOnly(true);
        role = serverRole(c);
      }
      assertThat(role).isEqualTo("primary");
      assertThat(router.stats().replicaReads()).isZero();
      assertThat(router.stats().fallbacks()).containsEntry(Route.FallbackReason.REPLICA_UNAVAILABLE, 1L);
    }
  }

  @Test
  void readOnlyWorkAfterACommitInTheSameScopeIsServedByTheReplicaAndSeesTheWrite() throws Exception {
    ReplicaRoutingDataSource ds = ReplicaRoutingDataSource.builder(primary, router(Duration.ofSeconds(10))).build();
    List<String> servedBy = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      long id = 10_000 + i;
      String seen = ConsistencyContext.callWith(null, () -> {
        insertInTransaction(ds, id);
        assertThat(ConsistencyContext.current()).as("the commit recorded its position").isPresent();
        return readInReadOnlyTransaction(ds, id, servedBy);
      });
      assertThat(seen).as("iteration %d", i).isEqualTo("v" + id);
    }
    assertThat(servedBy).hasSize(200).containsOnly("replica");
    assertThat(ds.stats().writesRecorded()).isEqualTo(200);
  }

  @Test
  void outsideAnyScopeAThreadsReadOnlyWorkWaitsForThatThreadsOwnLastWrite() throws Exception {
    List<Route> routes = new java.util.concurrent.CopyOnWriteArrayList<>();
    ReplicaRouter router = ReplicaRouter.builder(primary).replica(tracker).maxWait(Duration.ofSeconds(10)).listener(routes::add).build();
    List<Lsn> writes = new ArrayList<>();
    ReplicaRoutingDataSource ds = ReplicaRoutingDataSource.builder(primary, router).onWrite(writes::add).build();
    List<String> servedBy = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      long id = 50_000 + i;
      insertInTransaction(ds, id);
      assertThat(readInReadOnlyTransaction(ds, id, servedBy)).as("iteration %d", i).isEqualTo("v" + id);
      assertThat(routes.get(routes.size() - 1).required()).as("the read waited for the thread's write")
          .isEqualTo(writes.get(writes.size() - 1));
    }
    assertThat(servedBy).containsOnly("replica");
    Lsn[] seenByAnotherThread = new Lsn[1];
    Thread other = Thread.ofVirtual().start(() -> seenByAnotherThread[0] = ds.requiredLsn());
    other.join();
    assertThat(seenByAnotherThread[0]).as("another thread does not wait for this thread's writes").isNull();
  }

  @Test
  void withReplayPausedTheReadFallsBackToThePrimaryAndStillSeesTheWrite() throws Exception {
    ReplicaRoutingDataSource ds = ReplicaRoutingDataSource.builder(primary, router(Duration.ofMillis(300))).build();
    pg.pauseReplay();
    try {
      List<String> servedBy = new ArrayList<>();
      String seen = ConsistencyContext.callWith(null, () -> {
        insertInTransaction(ds, 20_001);
        return readInReadOnlyTransaction(ds, 20_001, servedBy);
      });
      assertThat(seen).isEqualTo("v20001");
      assertThat(servedBy).containsExactly("primary");
    } finally {
      pg.resumeReplay();
    }
  }

  @Test
  void autoCommitWritesAreRecordedWhenTheConnectionCloses() throws Exception {
    ReplicaRoutingDataSource ds = ReplicaRoutingDataSource.builder(primary, router(Duration.ofSeconds(10))).build();
    ConsistencyToken token = ConsistencyContext.callWith(null, () -> {
      try (Connection c = ds.getConnection(); PreparedStatement s = c.prepareStatement("INSERT INTO routed(id, v) VALUES (30001, 'x')")) {
        s.executeUpdate();
      }
      return ConsistencyContext.current().orElseThrow();
    });
    assertThat(tracker.awaitReplay(token.lsn(), Duration.ofSeconds(10))).isInstanceOf(ReplayResult.Replayed.class);
    assertThat(Pools.exists(replica, "routed", 30_001)).isTrue();
  }

  @Test
  void aHeldConnectionIsRoutedAgainAtEachTransactionBoundary() throws Exception {
    ReplicaRoutingDataSource ds = ReplicaRoutingDataSource.builder(primary, router(Duration.ofSeconds(10))).build();
    try (Connection c = ds.getConnection()) {
      c.setReadOnly(true);
      assertThat(serverRole(c)).isEqualTo("replica");
      c.setReadOnly(false);
      assertThat(serverRole(c)).isEqualTo("primary");
      c.setReadOnly(true);
      assertThat(serverRole(c)).isEqualTo("replica");
    }
  }

  @Test
  void theReadOnlySignalRoutesWithoutSetReadOnly() throws Exception {
    AtomicBoolean readOnly = new AtomicBoolean(true);
    ReplicaRoutingDataSource ds = ReplicaRoutingDataSource.builder(primary, router(Duration.ofSeconds(10)))
        .readOnlyWhen(readOnly::get).build();
    try (Connection c = ds.getConnection()) {
      assertThat(serverRole(c)).isEqualTo("replica");
    }
    readOnly.set(false);
    try (Connection c = ds.getConnection()) {
      assertThat(serverRole(c)).isEqualTo("primary");
    }
  }

  @Test
  void aRolledBackTransactionRecordsNothing() throws Exception {
    ReplicaRoutingDataSource ds = ReplicaRoutingDataSource.builder(primary, router(Duration.ofSeconds(10))).build();
    boolean recorded = ConsistencyContext.callWith(null, () -> {
      try (Connection c = ds.getConnection()) {
        c.setAutoCommit(false);
        try (PreparedStatement s = c.prepareStatement("INSERT INTO routed(id, v) VALUES (40001, 'x')")) {
          s.executeUpdate();
        }
        c.rollback();
        c.setAutoCommit(true);
      }
      return ConsistencyContext.current().isPresent();
    });
    assertThat(recorded).isFalse();
    assertThat(Pools.exists(primary, "routed", 40_001)).isFalse();
  }
}
