package dev.shepherd.replica;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import javax.sql.DataSource;

/** Small SQL helpers for the tests (pools come from {@code PostgresCluster}). */
final class Pools {

  private Pools() {}

  static void execute(DataSource dataSource, String sql) throws SQLException {
    try (Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
      s.execute(sql);
    }
  }

  static String queryString(DataSource dataSource, String sql) throws SQLException {
    try (Connection c = dataSource.getConnection(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
      rs.next();
      return rs.getString(1);
    }
  }

  /** Inserts a row in autocommit and returns the position to wait for. */
  static Lsn insert(DataSource primary, String table, long id) throws SQLException {
    try (Connection c = primary.getConnection()) {
      c.setAutoCommit(true);
      try (PreparedStatement s = c.prepareStatement("INSERT INTO " + table + "(id, v) VALUES (?, ?)")) {
        s.setLong(1, id);
        s.setString(2, "row-" + id);
        s.executeUpdate();
      }
      return WritePosition.afterCommit(c);
    }
  }

  static boolean exists(Connection connection, String table, long id) throws SQLException {
    try (PreparedStatement s = connection.prepareStatement("SELECT 1 FROM " + table + " WHERE id = ?")) {
      s.setLong(1, id);
      try (ResultSet rs = s.executeQuery()) {
        return rs.next();
      }
    }
  }

  static boolean exists(DataSource dataSource, String table, long id) throws SQLException {
    try (Connection c = dataSource.getConnection()) {
      return exists(c, table, id);
    }
  }
}
