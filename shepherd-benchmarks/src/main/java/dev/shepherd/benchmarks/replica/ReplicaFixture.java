package dev.shepherd.benchmarks.replica;

import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.replica.Lsn;
import dev.shepherd.replica.WritePosition;
import dev.shepherd.testing.PostgresCluster;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;

/** A real primary and streaming replica on loopback with pools and a table, for one JMH trial. */
final class ReplicaFixture implements AutoCloseable {

  final PostgresCluster pg = PostgresCluster.create();
  final HikariDataSource primary;
  final HikariDataSource replica;
  final Connection writer;
  final PreparedStatement insert;
  private long nextId;

  ReplicaFixture() throws SQLException {
    pg.start();
    primary = pg.primaryDataSource(Duration.ofMillis(250));
    replica = pg.replicaDataSource(Duration.ofMillis(250));
    try (Connection c = primary.getConnection(); Statement s = c.createStatement()) {
      s.execute("CREATE TABLE bench (id bigint PRIMARY KEY, v text)");
    }
    pg.awaitReplicaCaughtUp(Duration.ofSeconds(30));
    writer = primary.getConnection();
    writer.setAutoCommit(true);
    insert = writer.prepareStatement("INSERT INTO bench(id, v) VALUES (?, 'x')");
  }

  /** Commits one row (autocommit) and returns its id. */
  long write() throws SQLException {
    long id = ++nextId;
    insert.setLong(1, id);
    insert.executeUpdate();
    return id;
  }

  Lsn commitLsn() throws SQLException {
    return WritePosition.afterCommit(writer);
  }

  static boolean exists(Connection c, long id) throws SQLException {
    try (PreparedStatement s = c.prepareStatement("SELECT 1 FROM bench WHERE id = ?")) {
      s.setLong(1, id);
      try (ResultSet rs = s.executeQuery()) {
        return rs.next();
      }
    }
  }

  @Override
  public void close() throws SQLException {
    writer.close();
    replica.close();
    primary.close();
    pg.close();
  }
}
