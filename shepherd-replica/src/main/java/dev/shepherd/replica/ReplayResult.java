package dev.shepherd.replica;

import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * The outcome of {@link ReplicaTracker#awaitReplay(Lsn, Duration)}: whether one replica has
 * replayed a WAL position, and if not, why.
 *
 * <pre>{@code
 * String where = switch (tracker.awaitReplay(lsn, Duration.ofSeconds(1))) {
 *   case ReplayResult.Replayed r -> "replica";                  // it has the write
 *   case ReplayResult.TimedOut t -> "primary: lagging";         // or its replay is paused
 *   case ReplayResult.ReplicaUnavailable u -> "primary: down";  // u.cause() says why
 *   case ReplayResult.Promoted p -> "primary: promoted";        // pg_is_in_recovery() is false now
 *   case ReplayResult.NotReplicating n -> "primary: " + n.reason();
 *   case ReplayResult.OtherHistory o -> "primary: " + o.reason(); // another timeline or cluster
 * };
 * }</pre>
 *
 * <p>Every outcome carries the position waited for and how long the caller waited.
 */
public sealed interface ReplayResult {

  /**
   * Returns the position that was waited for.
   *
   * @return the target LSN
   */
  Lsn target();

  /**
   * Returns how long the caller waited, zero when answered from the cache.
   *
   * @return the wait
   */
  Duration waited();

  /**
   * Returns whether the replica has replayed the target, so a read there sees it.
   *
   * @return true only for {@link Replayed}
   */
  default boolean isReplayed() {
    return this instanceof Replayed;
  }

  /**
   * The replica has replayed the target: a read on it now sees every commit up to it.
   *
   * @param target the position waited for
   * @param replayed the replica's replay position when seen, at or after {@code target}
   * @param waited how long the caller waited
   */
  record Replayed(Lsn target, Lsn replayed, Duration waited) implements ReplayResult {}

  /**
   * The timeout passed before the replica replayed the target (it lags, or its replay is paused).
   *
   * @param target the position waited for
   * @param lastReplayed the last replay position seen, or null if none was seen
   * @param waited how long the caller waited: the timeout
   */
  record TimedOut(Lsn target, @Nullable Lsn lastReplayed, Duration waited) implements ReplayResult {}

  /**
   * The replica did not answer (connection refused, reset, or query failed); reported as soon as
   * that is known, not after the timeout. While the replica stays unavailable, later waits report
   * this at once, and the tracker tries the replica again at most once per retry interval.
   *
   * @param target the position waited for
   * @param cause the failure
   * @param waited how long the caller waited
   */
  record ReplicaUnavailable(Lsn target, Exception cause, Duration waited) implements ReplayResult {}

  /**
   * The server is no longer in recovery ({@code pg_is_in_recovery()} is false although it has
   * replayed WAL): it was promoted and is now a primary on its own timeline, so it no longer follows
   * the primary the write went to.
   *
   * @param target the position waited for
   * @param lastReplayed the last position it replayed as a standby
   * @param waited how long the caller waited
   */
  record Promoted(Lsn target, @Nullable Lsn lastReplayed, Duration waited) implements ReplayResult {}

  /**
   * The server does not stream WAL from a primary, so waiting is pointless: it is a primary that
   * never was a standby, or it is in recovery with no WAL receiver running.
   *
   * @param target the position waited for
   * @param reason what was found, in words
   * @param waited how long the caller waited
   */
  record NotReplicating(Lsn target, String reason, Duration waited) implements ReplayResult {}

  /**
   * The replica replays another history than the token's ({@link DatabaseIdentity}: another
   * cluster, or a timeline the token's position is not on), so its replay position says nothing
   * about the token's write and it will never have it: reported as soon as a poll shows it, not
   * after the timeout. A replica on an older timeline that may still switch to the token's is
   * waited for instead (and times out if it does not).
   *
   * @param target the position waited for
   * @param required the history of the token's position
   * @param replica the replica's history as its poll saw it, in words
   * @param reason why the replica will never have the write
   * @param waited how long the caller waited
   */
  record OtherHistory(Lsn target, DatabaseIdentity required, String replica, String reason, Duration waited)
      implements ReplayResult {}
}
