package dev.shepherd.spring.boot.autoconfigure.actuate;

import dev.shepherd.replica.ReplicaTracker;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import org.springframework.boot.health.contributor.AbstractHealthIndicator;
import org.springframework.boot.health.contributor.Health;

/**
 * Health of one replica, from one query on it (5 s timeout): UP while it is a standby with a WAL
 * receiver, with its replay position, replay backlog in bytes and the age of the last replayed
 * transaction; DOWN when it cannot be queried ({@code unavailable}), is no longer in recovery
 * ({@code promoted}) or has no WAL receiver ({@code not-replicating}). The tracker's own view is in
 * the {@code tracker} detail.
 */
public final class ReplicaHealthIndicator extends AbstractHealthIndicator {

  static final String QUERY = "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
      + "pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), "
      + "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), "
      + "(SELECT count(*) FROM pg_stat_wal_receiver)";

  private final ReplicaTracker tracker;

  /**
   * Creates the indicator.
   *
   * @param tracker the replica's tracker (its data source is queried)
   */
  public ReplicaHealthIndicator(ReplicaTracker tracker) {
    super("replica " + tracker.name() + " health check failed");
    this.tracker = tracker;
  }

  @Override
  protected void doHealthCheck(Health.Builder builder) throws Exception {
    builder.withDetail("tracker", tracker.status().name());
    tracker.lastReplayed().ifPresent(lsn -> builder.withDetail("trackerReplayed", lsn.toString()));
    try (Connection c = tracker.dataSource().getConnection(); Statement s = c.createStatement()) {
      s.setQueryTimeout(5);
      try (ResultSet rs = s.executeQuery(QUERY)) {
        rs.next();
        boolean inRecovery = rs.getBoolean(1);
        if (!inRecovery) {
          builder.down().withDetail("state", "promoted");
          return;
        }
        builder.withDetail("replayLsn", String.valueOf(rs.getString(2)));
        long backlog = rs.getLong(3);
        if (!rs.wasNull()) {
          builder.withDetail("replayBacklogBytes", backlog);
        }
        double age = rs.getDouble(4);
        if (!rs.wasNull()) {
          builder.withDetail("lastReplayedTransactionAgeSeconds", age);
        }
        if (rs.getLong(5) == 0) {
          builder.down().withDetail("state", "not-replicating");
          return;
        }
        builder.up().withDetail("state", "streaming");
      }
    } catch (java.sql.SQLException e) {
      builder.down(e).withDetail("state", "unavailable");
    }
  }
}
