package dev.shepherd.idempotency;

import dev.shepherd.core.internal.Require;
import java.lang.System.Logger.Level;
import java.sql.Connection;
import java.sql.SQLException;

/**
 * A database transaction bound to a claim: the request's own writes and the key's stored response
 * are committed together, or neither is, when the request's data lives in the same PostgreSQL
 * database as a {@link JdbcIdempotencyStore}.
 *
 * <pre>{@code
 * case Tracked.Claimed claim -> {
 *   try (JdbcClaimTransaction tx = JdbcClaimTransaction.begin(tracker, claim)) {
 *     try (PreparedStatement insert = tx.connection().prepareStatement(
 *         "INSERT INTO orders (idempotency_key, item) VALUES (?, ?)")) {
 *       insert.setString(1, claim.key());
 *       insert.setString(2, item);
 *       insert.executeUpdate();
 *     }
 *     StoredResponse response = created(item);
 *     tx.commit(response); // the order and the response, in one COMMIT
 *     yield response;
 *   } catch (SQLException | RuntimeException e) {
 *     tracker.fail(claim, e); // nothing of the request was committed
 *     throw e;
 *   }
 * }
 * }</pre>
 *
 * <h2>Why</h2>
 *
 * A request that writes to the database and then stores its response in a second step can crash
 * between the two: its writes are committed, its key is not completed, and once the lease runs out
 * a retry runs the request again. Here the record's update to completed (conditioned on the claim's
 * fencing token) runs on the request's own connection, right before its {@code COMMIT}, so the
 * two are one atomic step (the "atomic phase" of Brandur Leach's idempotency keys on PostgreSQL).
 * After a crash at any point before the commit, nothing of the request is in the database and its
 * key is claimable again once the lease runs out; after the commit, every retry replays.
 *
 * <p>The record's update is also the fence: if the claim's lease ran out and another request took
 * the key over, the update matches no row, {@link #commit} rolls everything back and throws
 * {@link ClaimLostException}; the successor's result stands alone.
 *
 * <h2>States</h2>
 *
 * <pre>
 *   OPEN ──commit(response) ok──▶ COMMITTED (the tracker stops renewing; replays from now on)
 *     │  ──commit: token not current──▶ ROLLED_BACK, ClaimLostException
 *     │  ──commit: UPDATE failed──────▶ ROLLED_BACK, IdempotencyStoreException (the tracker stops
 *     │                                 renewing: the key is claimable when the lease runs out)
 *     │  ──commit: COMMIT failed──────▶ UNKNOWN, IdempotencyStoreException (the tracker stops
 *     │                                 renewing: if the COMMIT did not happen, the key becomes
 *     │                                 claimable when the lease runs out, with nothing written)
 *     └─ close() without commit ──────▶ ROLLED_BACK (the claim stays held: fail or release it)
 * </pre>
 *
 * <p>The connection comes from the store's
 * {@link JdbcIdempotencyStore.Builder#transactionDataSource(javax.sql.DataSource) transaction
 * DataSource}
 * (by default the store's own; give requests a pool apart from the store's, or a request holding
 * the last connection starves the renewals of its own claim) with auto-commit off and the store's
 * network timeout (so the request's own statements also fail once the database sends nothing for
 * that long); {@link #close()} rolls back what was not committed, puts back the auto-commit and
 * network timeout the connection was handed out with, and closes it. Confined to one thread, like
 * a connection.
 */
public final class JdbcClaimTransaction implements AutoCloseable {

  private static final System.Logger LOG = System.getLogger(JdbcClaimTransaction.class.getName());

  private enum State { OPEN, COMMITTED, ROLLED_BACK, UNKNOWN }

  private final IdempotencyTracker tracker;
  private final JdbcIdempotencyStore store;
  private final Tracked.Claimed claim;
  private final Connection connection;
  /** The connection's auto-commit and network timeout when it was handed out, put back at close. */
  private final boolean previousAutoCommit;
  private final int previousNetworkTimeout;
  private State state = State.OPEN;

  private JdbcClaimTransaction(
      IdempotencyTracker tracker, JdbcIdempotencyStore store, Tracked.Claimed claim,
      Connection connection, boolean previousAutoCommit, int previousNetworkTimeout) {
    this.tracker = tracker;
    this.store = store;
    this.claim = claim;
    this.connection = connection;
    this.previousAutoCommit = previousAutoCommit;
    this.previousNetworkTimeout = previousNetworkTimeout;
  }

  /**
   * Opens a transaction for a claim of a tracker whose store is a {@link JdbcIdempotencyStore}.
   *
   * @param tracker the tracker that returned the claim
   * @param claim the claim
   * @return an open transaction; close it (try-with-resources)
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if the tracker's store is not a {@link JdbcIdempotencyStore}
   * @throws IdempotencyStoreException if no connection could be opened
   */
  public static JdbcClaimTransaction begin(IdempotencyTracker tracker, Tracked.Claimed claim) {
    Require.nonNull(tracker, "tracker");
    Require.nonNull(claim, "claim");
    if (!(tracker.store() instanceof JdbcIdempotencyStore store)) {
      throw new IllegalArgumentException(
          "a claim transaction needs a tracker over a JdbcIdempotencyStore, was "
              + tracker.store());
    }
    Connection c;
    int[] networkTimeout = new int[1];
    try {
      c = store.openConnection(networkTimeout);
    } catch (SQLException e) {
      throw new IdempotencyStoreException(
          "cannot open a transaction for idempotency key '" + claim.key() + "': "
              + e.getMessage(), e);
    }
    boolean autoCommit;
    try {
      autoCommit = c.getAutoCommit();
      c.setAutoCommit(false);
    } catch (SQLException e) {
      store.restoreNetworkTimeout(c, networkTimeout[0]);
      closeQuietly(c);
      throw new IdempotencyStoreException(
          "cannot open a transaction for idempotency key '" + claim.key() + "': "
              + e.getMessage(), e);
    }
    return new JdbcClaimTransaction(tracker, store, claim, c, autoCommit, networkTimeout[0]);
  }

  /**
   * Returns the connection the request writes with. Do not commit, roll back or close it: this
   * transaction does.
   *
   * @return the connection, auto-commit off
   */
  public Connection connection() {
    return connection;
  }

  /**
   * Returns the claim this transaction completes.
   *
   * @return the claim
   */
  public Tracked.Claimed claim() {
    return claim;
  }

  /**
   * Completes the claim with a response in this transaction and commits it: the request's writes
   * and the stored response become visible together.
   *
   * @param response the response to store
   * @throws NullPointerException if {@code response} is null
   * @throws IllegalStateException if the transaction is no longer open
   * @throws ClaimLostException if the claim's fencing token is no longer current; everything was
   *     rolled back
   * @throws IdempotencyStoreException if a statement or the {@code COMMIT} failed; if it was the
   *     {@code COMMIT}, the outcome is unknown (a retry after the lease replays if it happened and
   *     runs the request again, on an empty slate, if it did not)
   */
  public void commit(StoredResponse response) {
    Require.nonNull(response, "response");
    Require.state(state == State.OPEN, "claim transaction is " + state + ", not OPEN");
    long start = tracker.tickerRead();
    boolean completed;
    try {
      completed = store.complete(connection, claim.key(), claim.fencingToken(), response,
          tracker.retention());
    } catch (SQLException e) {
      rollbackQuietly();
      tracker.abandon(claim); // nothing was committed: the key is claimable once the lease ends
      throw new IdempotencyStoreException(
          "PostgreSQL failed to complete idempotency key '" + claim.key() + "' in the request's"
              + " transaction (rolled back; the key is claimable again once its lease runs out): "
              + e.getMessage(), e);
    }
    if (!completed) {
      rollbackQuietly();
      tracker.abandon(claim);
      throw new ClaimLostException(claim.key(), claim.fencingToken(), "complete");
    }
    try {
      connection.commit();
    } catch (SQLException e) {
      state = State.UNKNOWN;
      tracker.abandon(claim);
      throw new IdempotencyStoreException(
          "COMMIT of idempotency key '" + claim.key() + "' failed, its outcome is unknown: "
              + e.getMessage(), e);
    }
    state = State.COMMITTED;
    tracker.completedElsewhere(claim, response, start);
  }

  /**
   * Rolls back what was not committed and closes the connection. The claim itself is left as it
   * is: after a rollback, {@link IdempotencyTracker#fail} or {@link IdempotencyTracker#release} it.
   */
  @Override
  public void close() {
    if (state == State.OPEN) {
      rollbackQuietly();
    }
    if (previousAutoCommit) { // one handed out with auto-commit off goes back that way
      try {
        connection.setAutoCommit(true);
      } catch (SQLException e) {
        LOG.log(Level.DEBUG, "could not restore auto-commit", e);
      }
    }
    store.restoreNetworkTimeout(connection, previousNetworkTimeout);
    closeQuietly(connection);
  }

  private void rollbackQuietly() {
    state = State.ROLLED_BACK;
    try {
      connection.rollback();
    } catch (SQLException e) {
      LOG.log(Level.WARNING, "rollback of idempotency key '" + claim.key() + "' failed", e);
    }
  }

  private static void closeQuietly(Connection c) {
    try {
      c.close();
    } catch (SQLException e) {
      LOG.log(Level.DEBUG, "closing a connection failed", e);
    }
  }

  @Override
  public String toString() {
    return "JdbcClaimTransaction[" + claim.key() + ", token " + claim.fencingToken() + ", "
        + state + "]";
  }
}
