package dev.shepherd.idempotency;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.List;
import java.util.function.Consumer;

/**
 * A request handler that writes to the same PostgreSQL database as its idempotency store, in a
 * {@link JdbcClaimTransaction}: two business writes (an order and its line), then the response,
 * with a hook called at each point where a crash is interesting.
 */
final class OrderHandler {

  /** Where a crash can happen. */
  enum Point { BEFORE_WRITES, BETWEEN_WRITES, BEFORE_COMMIT, AFTER_COMMIT }

  private OrderHandler() {}

  static void createTables(Connection c) throws SQLException {
    try (Statement s = c.createStatement()) {
      // No unique constraint on purpose: a second run of a request must show up as a second row.
      s.execute("CREATE TABLE IF NOT EXISTS kill_orders (idempotency_key text NOT NULL)");
      s.execute("CREATE TABLE IF NOT EXISTS kill_order_lines (idempotency_key text NOT NULL)");
    }
  }

  static StoredResponse response(String key) {
    return new StoredResponse(201, List.of(), ("order " + key).getBytes(UTF_8), Instant.EPOCH);
  }

  static StoredResponse handle(
      IdempotencyTracker tracker, Tracked.Claimed claim, Consumer<Point> hook)
      throws SQLException {
    StoredResponse response = response(claim.key());
    try (JdbcClaimTransaction tx = JdbcClaimTransaction.begin(tracker, claim)) {
      hook.accept(Point.BEFORE_WRITES);
      insert(tx.connection(), "kill_orders", claim.key());
      hook.accept(Point.BETWEEN_WRITES);
      insert(tx.connection(), "kill_order_lines", claim.key());
      hook.accept(Point.BEFORE_COMMIT);
      tx.commit(response);
    }
    hook.accept(Point.AFTER_COMMIT);
    return response;
  }

  private static void insert(Connection c, String table, String key) throws SQLException {
    try (PreparedStatement ps =
        c.prepareStatement("INSERT INTO " + table + " (idempotency_key) VALUES (?)")) {
      ps.setString(1, key);
      ps.executeUpdate();
    }
  }
}
