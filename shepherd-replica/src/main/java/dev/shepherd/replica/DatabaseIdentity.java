package dev.shepherd.replica;

import dev.shepherd.core.internal.Require;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import javax.sql.DataSource;

/**
 * Which database history a WAL position belongs to: the cluster's system identifier and the
 * primary's timeline.
 *
 * <p>A WAL position means something only within one history. {@code initdb} gives every cluster a
 * random 64-bit system identifier ({@code pg_control_system()}), which {@code pg_basebackup} copies
 * to its replicas; a promotion keeps it but starts a new timeline, whose WAL differs from the old
 * timeline's after the fork. So a position recorded on another cluster (a restore into a fresh
 * cluster, another environment) or on an older timeline (before a failover) says nothing about what
 * a replica of the current primary has replayed, and waiting for it is pointless.
 *
 * <p>Immutable and thread-safe.
 *
 * @param systemIdentifier the cluster's {@code system_identifier} from {@code pg_control_system()}
 * @param timeline the primary's current timeline (1 for a cluster that never failed over)
 */
public record DatabaseIdentity(long systemIdentifier, int timeline) {

  /**
   * The query: the system identifier, and the timeline from the name of the WAL file the primary
   * writes now (its first 8 hex digits). {@code pg_walfile_name} raises an error on a standby,
   * which has no current timeline of its own to write on.
   */
  static final String QUERY = "SELECT system_identifier::text, pg_walfile_name(pg_current_wal_lsn())"
      + " FROM pg_control_system()";

  /**
   * Checks the timeline.
   *
   * @param systemIdentifier the cluster's system identifier
   * @param timeline the timeline
   * @throws IllegalArgumentException if {@code timeline} is not positive
   */
  public DatabaseIdentity {
    Require.argument(timeline > 0, "timeline must be positive, was " + timeline);
  }

  /**
   * Returns the identity of the primary {@code primary} is connected to.
   *
   * <p>The query runs with the connection's network timeout at most 2 s (set back afterwards), so a
   * primary that stops answering fails it with a {@link java.sql.SQLTimeoutException}.
   *
   * @param primary a connection to the primary (autocommit, or with no transaction that matters:
   *     the query reads no table)
   * @return the identity
   * @throws NullPointerException if {@code primary} is null
   * @throws IllegalStateException if the server is a standby
   * @throws java.sql.SQLTimeoutException if the primary does not answer within 2 s
   * @throws SQLException if the query fails
   */
  public static DatabaseIdentity of(Connection primary) throws SQLException {
    return of(primary, Jdbc.DEFAULT_QUERY_TIMEOUT);
  }

  /** As {@link #of(Connection)}, bounded by {@code timeout}. */
  static DatabaseIdentity of(Connection primary, java.time.Duration timeout) throws SQLException {
    Require.nonNull(primary, "primary");
    return Jdbc.bounded(primary, timeout, "the primary (identity query)", () -> query(primary));
  }

  private static DatabaseIdentity query(Connection primary) throws SQLException {
    try (PreparedStatement statement = primary.prepareStatement(QUERY);
        ResultSet row = statement.executeQuery()) {
      if (!row.next()) {
        throw new SQLException("no row from " + QUERY);
      }
      return parse(row.getString(1), row.getString(2));
    } catch (SQLException e) {
      if ("55000".equals(e.getSQLState())) { // object_not_in_prerequisite_state: recovery is in progress
        throw new IllegalStateException("DatabaseIdentity needs the primary, but the server is a standby ("
            + e.getMessage() + ")", e);
      }
      throw e;
    }
  }

  /**
   * Returns the identity of the primary {@code primary} hands out connections to.
   *
   * @param primary the primary's data source
   * @return the identity
   * @throws NullPointerException if {@code primary} is null
   * @throws IllegalStateException if the server is a standby
   * @throws java.sql.SQLTimeoutException if the primary does not answer within 2 s
   * @throws SQLException if no connection can be had or the query fails
   */
  public static DatabaseIdentity of(DataSource primary) throws SQLException {
    Require.nonNull(primary, "primary");
    try (Connection connection = primary.getConnection()) {
      return of(connection);
    }
  }

  static DatabaseIdentity parse(String systemIdentifier, String walFileName) throws SQLException {
    if (systemIdentifier == null || walFileName == null || walFileName.length() != 24) {
      throw new SQLException("unexpected identity row: system_identifier=" + systemIdentifier
          + ", wal file=" + walFileName);
    }
    try {
      return new DatabaseIdentity(Long.parseUnsignedLong(systemIdentifier),
          Integer.parseUnsignedInt(walFileName.substring(0, 8), 16));
    } catch (IllegalArgumentException e) {
      throw new SQLException("unexpected identity row: system_identifier=" + systemIdentifier
          + ", wal file=" + walFileName, e);
    }
  }

  @Override
  public String toString() {
    return "DatabaseIdentity[system " + Long.toUnsignedString(systemIdentifier) + ", timeline " + timeline + "]";
  }
}
