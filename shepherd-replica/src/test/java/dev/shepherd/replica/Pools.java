package dev.shepherd.replica;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import javax.sql.DataSource;

/** HikariCP pools and small SQL helpers for the tests. */
final class Pools {

  private Pools() {}

  /** A pool with a generous connection timeout: the test machine's 2 cores are shared and loaded. */
  static HikariDataSource pool(String jdbcUrl, String name) {
    return pool(jdbcUrl, name, Duration.ofSeconds(10));
  }

  /**
   * A pool whose connection timeout decides how fast a replica that refuses connections is reported
   * (HikariCP's minimum is 250 ms). Built only once the server answers.
   */
  static HikariDataSource pool(String jdbcUrl, String name, Duration connectionTimeout) {
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(jdbcUrl);
    config.setPoolName(name);
    config.setMaximumPoolSize(8);
    config.setMinimumIdle(1);
    config.setConnectionTimeout(connectionTimeout.toMillis());
    config.setInitializationFailTimeout(Duration.ofSeconds(30).toMillis());
    return new HikariDataSource(config);
  }

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
