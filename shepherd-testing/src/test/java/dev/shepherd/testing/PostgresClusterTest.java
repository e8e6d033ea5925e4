package dev.shepherd.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PostgresClusterTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();

  @Test
  @Order(1)
  void rowWrittenOnThePrimaryBecomesVisibleOnTheReplica() throws SQLException {
    try (Connection primary = pg.primaryConnection(); Statement s = primary.createStatement()) {
      s.execute("CREATE TABLE smoke (id int PRIMARY KEY, name text)");
      s.execute("INSERT INTO smoke VALUES (1, 'shepherd')");
    }
    await().atMost(Duration.ofSeconds(30)).until(() -> replicaName(1), "shepherd"::equals);
    try (Connection replica = pg.replicaConnection(); Statement s = replica.createStatement();
        ResultSet rs = s.executeQuery("SELECT pg_is_in_recovery()")) {
      rs.next();
      assertThat(rs.getBoolean(1)).as("the replica is a hot standby").isTrue();
    }
  }

  @Test
  @Order(2)
  void pausedReplayHoldsBackNewRowsUntilResumed() throws SQLException {
    pg.pauseReplay();
    try (Connection primary = pg.primaryConnection(); Statement s = primary.createStatement()) {
      s.execute("INSERT INTO smoke VALUES (2, 'paused')");
    }
    // While paused, WAL is received but not replayed: the row must stay invisible.
    await().pollDelay(Duration.ofMillis(300)).atMost(Duration.ofSeconds(5))
        .until(() -> replicaReceivedPastReplay());
    assertThat(replicaName(2)).isNull();
    pg.resumeReplay();
    await().atMost(Duration.ofSeconds(30)).until(() -> replicaName(2), "paused"::equals);
  }

  @Test
  @Order(3)
  void replicaStopsAndStartsAgain() throws SQLException {
    pg.stopReplica();
    assertThat(ServerSupport.isListening(pg.replicaPort())).isFalse();
    try (Connection primary = pg.primaryConnection(); Statement s = primary.createStatement()) {
      s.execute("INSERT INTO smoke VALUES (3, 'while down')");
    }
    pg.startReplica();
    await().atMost(Duration.ofSeconds(30)).until(() -> replicaName(3), "while down"::equals);
  }

  @Test
  @Order(4)
  void promotedReplicaLeavesRecoveryAndCanBeRebuilt() throws SQLException {
    pg.promoteReplica();
    assertThat(replicaInRecovery()).isFalse();
    pg.rebuildReplica();
    assertThat(replicaInRecovery()).isTrue();
    pg.awaitReplicaCaughtUp(Duration.ofSeconds(30));
    assertThat(replicaName(1)).isEqualTo("shepherd");
  }

  private static boolean replicaInRecovery() throws SQLException {
    try (Connection replica = pg.replicaConnection(); Statement s = replica.createStatement();
        ResultSet rs = s.executeQuery("SELECT pg_is_in_recovery()")) {
      rs.next();
      return rs.getBoolean(1);
    }
  }

  private static boolean replicaReceivedPastReplay() throws SQLException {
    try (Connection replica = pg.replicaConnection(); Statement s = replica.createStatement();
        ResultSet rs = s.executeQuery(
            "SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn() AND pg_is_wal_replay_paused()")) {
      rs.next();
      return rs.getBoolean(1);
    }
  }

  private static String replicaName(int id) throws SQLException {
    try (Connection replica = pg.replicaConnection(); Statement s = replica.createStatement();
        ResultSet rs = s.executeQuery("SELECT to_regclass('smoke') IS NOT NULL")) {
      rs.next();
      if (!rs.getBoolean(1)) {
        return null;
      }
    }
    try (Connection replica = pg.replicaConnection(); Statement s = replica.createStatement();
        ResultSet rs = s.executeQuery("SELECT name FROM smoke WHERE id = " + id)) {
      return rs.next() ? rs.getString(1) : null;
    }
  }

  @Test
  @Order(5)
  void separateClusterLeavesNoProcessNorDirectoryAfterClose() throws SQLException {
    PostgresCluster other = PostgresCluster.primaryOnly();
    other.start();
    int port = other.primaryPort();
    Path base = other.baseDirectory();
    try (Connection c = other.primaryConnection(); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT 41 + 1")) {
      rs.next();
      assertThat(rs.getInt(1)).isEqualTo(42);
    }
    other.close();
    assertThat(ServerSupport.isPortFree(port)).as("port %d free after close", port).isTrue();
    assertThat(Files.exists(base)).as("%s deleted after close", base).isFalse();
  }
}
