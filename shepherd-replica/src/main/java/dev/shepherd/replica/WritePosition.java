package dev.shepherd.replica;

import dev.shepherd.core.internal.Require;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;
import org.postgresql.core.BaseConnection;
import org.postgresql.core.TransactionState;

/**
 * The write side of read-your-writes: after a commit on the primary, returns the {@link Lsn} a
 * reader must wait for on a replica before it is sure to see that commit.
 *
 * <pre>{@code
 * try (Connection c = primary.getConnection()) {
 *   c.createStatement().executeUpdate("INSERT ...");        // autocommit, or c.commit()
 *   Lsn mustSee = WritePosition.afterCommit(c);
 * }
 * }</pre>
 *
 * <h2>Why {@code pg_current_wal_lsn()} and not {@code pg_current_wal_insert_lsn()}</h2>
 *
 * The helper runs {@code SELECT pg_current_wal_lsn()}: the position up to which the primary has
 * <em>written</em> WAL. With {@code synchronous_commit} on (or {@code local}, {@code remote_write},
 * {@code remote_apply}) a commit returns only after its commit record is written and flushed, so
 * this position is at or after the end of the commit record: waiting for it is enough, and it is
 * WAL that exists, so the replica will receive and replay it.
 *
 * <p>The obvious alternative, {@code pg_current_wal_insert_lsn()} (what fly_postgres returns), is
 * where the <em>next</em> record will be inserted. When the last record ends exactly on a WAL page
 * boundary (every 8 KiB), the next record starts after the next page's header, so the insert LSN
 * points 24 bytes (40 at a segment start) past the boundary: into WAL that does not exist yet. A
 * replica that has replayed everything reports the boundary itself, so a wait for the insert LSN
 * hangs until some unrelated WAL arrives (on a quiet system, never). In 2,000 autocommit inserts
 * this happened about twice; {@code WritePositionTest} shows that a wait for the position this
 * helper returns never hangs that way. The insert LSN may also include records that other sessions
 * have reserved but not yet written, which the replica cannot have either.
 *
 * <h2>Conditions</h2>
 *
 * <ul>
 *   <li>Call it after the commit, on the connection that committed (or any primary connection: the
 *       written position only grows). Inside an open transaction the commit has not happened, so
 *       the helper refuses with {@link IllegalStateException}.
 *   <li>{@code synchronous_commit = off} lets a commit return before its record is written; the
 *       written position can then be before the commit, and a reader could see stale data. The
 *       helper reads the session's setting and refuses with {@link IllegalStateException} when it
 *       is {@code off}. What it cannot see: a {@code SET LOCAL synchronous_commit = off} inside
 *       the transaction that committed (it ended with that transaction, so the session reads
 *       {@code on} again by the time this runs). Do not turn synchronous commit off per
 *       transaction for writes whose readers must see them.
 * </ul>
 *
 * <p>Stateless and thread-safe; a connection is, as always in JDBC, used by one thread at a time.
 */
public final class WritePosition {

  static final String QUERY = "SELECT pg_current_wal_lsn()::text, current_setting('synchronous_commit')";
  static final String TOKEN_QUERY = "SELECT pg_current_wal_lsn()::text, current_setting('synchronous_commit'),"
      + " system_identifier::text, pg_walfile_name(pg_current_wal_lsn()) FROM pg_control_system()";

  private WritePosition() {}

  /**
   * Returns the LSN a reader must wait for to see every transaction this connection has committed.
   *
   * <p>When the connection is not in autocommit mode (and no transaction is open), the query runs
   * in a transaction of its own that this method commits, so no transaction is left open.
   *
   * <p>The query is bounded: it runs with the connection's network timeout set to at most 2 s
   * ({@link Connection#setNetworkTimeout}; the connection's own value is set back afterwards, and a
   * shorter one is kept), so a primary that stops answering fails this call with a
   * {@link java.sql.SQLTimeoutException} naming the timeout instead of holding the caller.
   *
   * @param primary a connection to the primary, with no transaction open
   * @return the position to wait for on a replica
   * @throws NullPointerException if {@code primary} is null
   * @throws IllegalStateException if a transaction is open on {@code primary}, if the session's
   *     {@code synchronous_commit} is {@code off}, or if the server is a standby (the message says
   *     which)
   * @throws java.sql.SQLTimeoutException if the primary does not answer within 2 s
   * @throws SQLException if the query fails
   */
  public static Lsn afterCommit(Connection primary) throws SQLException {
    return read(primary, false, Jdbc.DEFAULT_QUERY_TIMEOUT).lsn;
  }

  /**
   * As {@link #afterCommit(Connection)}, with the query bounded by {@code timeout} instead of 2 s.
   *
   * @param primary a connection to the primary, with no transaction open
   * @param timeout how long the query may take on the connection (its network timeout meanwhile)
   * @return the position to wait for on a replica
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if {@code timeout} is not positive
   * @throws IllegalStateException as {@link #afterCommit(Connection)}
   * @throws java.sql.SQLTimeoutException if the primary does not answer within {@code timeout}
   * @throws SQLException if the query fails
   */
  public static Lsn afterCommit(Connection primary, Duration timeout) throws SQLException {
    return read(primary, false, Require.positive(timeout, "timeout")).lsn;
  }

  /**
   * Returns the token of every transaction this connection has committed: the position of
   * {@link #afterCommit(Connection)}, issued now, with the primary's {@link DatabaseIdentity}
   * read in the same statement (so it is exact even right after a failover, where a cached
   * identity may lag). Record it with {@link ConsistencyContext#recordWrite(ConsistencyToken)}.
   * The query is bounded by 2 s, as in {@link #afterCommit(Connection)}.
   *
   * @param primary a connection to the primary, with no transaction open
   * @return the token
   * @throws NullPointerException if {@code primary} is null
   * @throws IllegalStateException as {@link #afterCommit(Connection)}
   * @throws java.sql.SQLTimeoutException if the primary does not answer within 2 s
   * @throws SQLException if the query fails
   */
  public static ConsistencyToken tokenAfterCommit(Connection primary) throws SQLException {
    return tokenAfterCommit(primary, Jdbc.DEFAULT_QUERY_TIMEOUT);
  }

  /**
   * As {@link #tokenAfterCommit(Connection)}, with the query bounded by {@code timeout}.
   *
   * @param primary a connection to the primary, with no transaction open
   * @param timeout how long the query may take on the connection (its network timeout meanwhile)
   * @return the token
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if {@code timeout} is not positive
   * @throws IllegalStateException as {@link #afterCommit(Connection)}
   * @throws java.sql.SQLTimeoutException if the primary does not answer within {@code timeout}
   * @throws SQLException if the query fails
   */
  public static ConsistencyToken tokenAfterCommit(Connection primary, Duration timeout) throws SQLException {
    Written written = read(primary, true, Require.positive(timeout, "timeout"));
    return new ConsistencyToken(written.lsn, Instant.now(), written.database);
  }

  private record Written(Lsn lsn, @Nullable DatabaseIdentity database) {}

  /** Runs the query, bounded by {@code timeout}; with {@code identity}, also reads the primary's history. */
  private static Written read(Connection primary, boolean identity, Duration timeout) throws SQLException {
    Require.nonNull(primary, "primary");
    if (primary.isWrapperFor(BaseConnection.class)) {
      TransactionState state = primary.unwrap(BaseConnection.class).getTransactionState();
      if (state != TransactionState.IDLE) {
        throw new IllegalStateException("WritePosition.afterCommit called with a transaction "
            + state.name().toLowerCase(Locale.ROOT)
            + ": call it after commit(), when the commit record exists");
      }
    }
    return Jdbc.bounded(primary, timeout, "the primary (write position query)", () -> query(primary, identity));
  }

  private static Written query(Connection primary, boolean identity) throws SQLException {
    boolean autoCommit = primary.getAutoCommit();
    String text;
    String synchronousCommit;
    DatabaseIdentity database = null;
    try (PreparedStatement statement = primary.prepareStatement(identity ? TOKEN_QUERY : QUERY);
        ResultSet row = statement.executeQuery()) {
      row.next();
      text = row.getString(1);
      synchronousCommit = row.getString(2);
      if (identity) {
        database = DatabaseIdentity.parse(row.getString(3), row.getString(4));
      }
    } catch (SQLException e) {
      if ("55000".equals(e.getSQLState())) { // object_not_in_prerequisite_state: recovery is in progress
        throw new IllegalStateException("WritePosition.afterCommit needs the primary, but the server is a "
            + "standby (" + e.getMessage() + ")", e);
      }
      throw e;
    } finally {
      if (!autoCommit && !primary.isClosed()) {
        primary.commit();
      }
    }
    if ("off".equalsIgnoreCase(synchronousCommit)) {
      throw new IllegalStateException("synchronous_commit is off in this session: a commit may return "
          + "before its WAL is written, so no position read afterwards is sure to cover it; "
          + "set synchronous_commit to on or local for transactions that need read-your-writes");
    }
    return new Written(Lsn.parse(text), database);
  }

  /**
   * Returns the LSN a reader must wait for to see every transaction committed on the primary so
   * far, using a connection from {@code primary}.
   *
   * @param primary the primary's data source
   * @return the position to wait for on a replica
   * @throws NullPointerException if {@code primary} is null
   * @throws IllegalStateException as {@link #afterCommit(Connection)}
   * @throws SQLException if no connection can be had or the query fails
   */
  public static Lsn current(DataSource primary) throws SQLException {
    Require.nonNull(primary, "primary");
    try (Connection connection = primary.getConnection()) {
      return afterCommit(connection);
    }
  }
}
