package dev.shepherd.replica;

import dev.shepherd.core.internal.Require;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import org.jspecify.annotations.Nullable;

/**
 * The write position a client (a browser session, a job, a downstream call) has caused or seen,
 * which its later reads must see: read-your-writes carried between requests and into asynchronous
 * work.
 *
 * <p>A token also says when it was issued and, when known, which database history its position
 * belongs to ({@link DatabaseIdentity}: the cluster's system identifier and the primary's
 * timeline). A {@link ConsistencyTokenPolicy} uses both to ignore tokens that no longer mean
 * anything: too old to matter, or from another cluster or an older timeline, whose positions a
 * replica of the current primary may never reach.
 *
 * <p>On the wire a token is signed by a {@link ConsistencyTokenCodec}, so a client cannot forge a
 * position (which could make every read of its wait, or go to the primary). Two tokens
 * {@linkplain #merge merge} by keeping the greater position: a reader that must see both writes
 * must see the later one.
 *
 * <p>Immutable and thread-safe.
 *
 * @param lsn the position a read must see
 * @param issuedAt when the position was recorded, to the millisecond (finer parts are dropped, as
 *     the wire form keeps milliseconds)
 * @param database the history the position belongs to, or null if unknown (then it is not checked)
 */
public record ConsistencyToken(Lsn lsn, Instant issuedAt, @Nullable DatabaseIdentity database) {

  /**
   * Checks the position and time.
   *
   * @param lsn the position a read must see
   * @param issuedAt when it was recorded
   * @param database its history, or null if unknown
   * @throws NullPointerException if {@code lsn} or {@code issuedAt} is null
   */
  public ConsistencyToken {
    Require.nonNull(lsn, "lsn");
    issuedAt = Require.nonNull(issuedAt, "issuedAt").truncatedTo(ChronoUnit.MILLIS);
  }

  /**
   * Returns a token for a position issued now, of an unknown history.
   *
   * @param lsn the position
   * @return the token
   * @throws NullPointerException if {@code lsn} is null
   */
  public static ConsistencyToken of(Lsn lsn) {
    return new ConsistencyToken(lsn, Instant.now(), null);
  }

  /**
   * Returns a token for a position of a known history.
   *
   * @param lsn the position
   * @param database the history it belongs to
   * @param issuedAt when it was recorded
   * @return the token
   * @throws NullPointerException if an argument is null
   */
  public static ConsistencyToken of(Lsn lsn, DatabaseIdentity database, Instant issuedAt) {
    return new ConsistencyToken(lsn, issuedAt, Require.nonNull(database, "database"));
  }

  /**
   * Returns the token that covers this one and {@code other}.
   *
   * <p>Of the same history (or when either history is unknown): the greater position, the later
   * issue time (so the merged token lives as long as the younger one) and the known history. Of
   * two different histories: the token issued later, whole, since the earlier one belongs to a
   * history that the later write has left behind.
   *
   * <p>This trusts the issue times: a token issued in the future (by a server whose clock runs
   * ahead) wins over one of another history, and lends a token of the same history its issue time.
   * Merge only tokens a {@link ConsistencyTokenPolicy} found usable, or use
   * {@link ConsistencyTokenPolicy#merge}, which drops the others (tokens issued further ahead than
   * its maximum clock skew among them); {@link ConsistencyTokenFilter} checks every token it
   * receives before it merges them.
   *
   * @param other another token, or null
   * @return the merged token; this one if {@code other} is null
   */
  // Same name as the static two-token merge on purpose: both merge by the later position.
  @SuppressWarnings("AmbiguousMethodReference")
  public ConsistencyToken merge(@Nullable ConsistencyToken other) {
    if (other == null) {
      return this;
    }
    if (database != null && other.database != null && !database.equals(other.database)) {
      return other.issuedAt.isAfter(issuedAt) ? other : this;
    }
    Lsn position = lsn.isAtLeast(other.lsn) ? lsn : other.lsn;
    Instant issued = issuedAt.isAfter(other.issuedAt) ? issuedAt : other.issuedAt;
    DatabaseIdentity history = database != null ? database : other.database;
    return new ConsistencyToken(position, issued, history);
  }

  /**
   * Merges two tokens either of which may be null.
   *
   * @param a a token, or null
   * @param b a token, or null
   * @return as {@link #merge(ConsistencyToken)}; null if both are null
   */
  @SuppressWarnings("AmbiguousMethodReference") // see the instance merge
  public static @Nullable ConsistencyToken merge(@Nullable ConsistencyToken a, @Nullable ConsistencyToken b) {
    return a == null ? b : a.merge(b);
  }
}
