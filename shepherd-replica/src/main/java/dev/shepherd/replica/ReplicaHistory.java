package dev.shepherd.replica;

import org.jspecify.annotations.Nullable;

/**
 * Which history a standby replays, as its poll saw it: the cluster's system identifier and the
 * timeline of the WAL it replays, to compare a {@link ConsistencyToken}'s {@link DatabaseIdentity}
 * with before a replay position counts.
 *
 * <p>A WAL position means something only within one history: two timelines share their WAL up to
 * the point where the newer one forked, and differ after it. A token's position lies after its
 * timeline's fork (a primary writes on its timeline only after the promotion that started it), so a
 * standby on another timeline may report a replay position at or past the token's without having
 * the write. PostgreSQL 15 has no function that returns the timeline a standby replays, so it is
 * read from two places:
 *
 * <ul>
 *   <li>{@code received_tli} of {@code pg_stat_get_wal_receiver()}: the timeline of the WAL the
 *       receiver last wrote. The startup process replays only WAL the receiver has flushed, asked
 *       for on the timeline it follows, so the replayed WAL is on this timeline or on an ancestor
 *       up to the fork, which is the same WAL: exact. It is visible only to superusers and members
 *       of {@code pg_read_all_stats} (as {@code pg_monitor}); to others, and while no receiver
 *       runs, it is null.
 *   <li>otherwise {@code timeline_id} of {@code pg_control_checkpoint()}: the timeline of the last
 *       restartpoint, which lags a switch to a newer timeline until the next one: a lower bound.
 * </ul>
 *
 * <p>The poll reads the replay position before the timeline, so a switch between the two reads
 * shows the newer timeline with the older position, which is never taken for more than it is.
 *
 * @param systemIdentifier the standby's {@code system_identifier} ({@code pg_control_system()})
 * @param timeline the replayed timeline when {@code exact}, else a lower bound of it
 * @param exact whether {@code timeline} came from the WAL receiver
 */
record ReplicaHistory(long systemIdentifier, int timeline, boolean exact) {

  /**
   * Returns whether a standby with this history at {@code replayed} has the write of a token of
   * {@code token}'s history at {@code target}. With only a lower bound of the timeline that equals
   * the token's, the standby counts as on it (it may have switched to a newer one since its last
   * restartpoint; then the token's write, after the fork, was lost in the failover and no server of
   * the new history has it either).
   */
  boolean reached(DatabaseIdentity token, Lsn target, Lsn replayed) {
    return systemIdentifier == token.systemIdentifier() && timeline == token.timeline() && replayed.isAtLeast(target);
  }

  /**
   * Returns why a standby with this history will never have a write of {@code token}'s history at
   * {@code target}, or null when it still may (it is on the token's timeline, or on an older one
   * it may leave for the token's).
   */
  @Nullable String never(DatabaseIdentity token, Lsn target, Lsn replayed) {
    if (systemIdentifier != token.systemIdentifier()) {
      return "the replica belongs to another cluster (system identifier " + Long.toUnsignedString(systemIdentifier)
          + ", the token's " + Long.toUnsignedString(token.systemIdentifier()) + ")";
    }
    if (timeline > token.timeline()) {
      return "the replica replays timeline " + (exact ? "" : "at least ") + timeline + ", newer than the token's timeline "
          + token.timeline() + ": the token's position may lie on WAL that the failover left behind";
    }
    if (exact && timeline < token.timeline() && replayed.isAtLeast(target)) {
      return "the replica replayed " + replayed + " on timeline " + timeline + ", at or past the token's position "
          + target + " of the newer timeline " + token.timeline() + ": its WAL left the token's history before that"
          + " position, so it can never switch to it";
    }
    return null;
  }

  @Override
  public String toString() {
    return "system " + Long.toUnsignedString(systemIdentifier) + ", timeline " + (exact ? "" : ">=") + timeline;
  }
}
