package dev.shepherd.replica;

import dev.shepherd.core.Require;
import org.jspecify.annotations.Nullable;

/**
 * The write position a client (a browser session, a job, a downstream call) has caused or seen,
 * which its later reads must see: read-your-writes carried between requests and into asynchronous
 * work.
 *
 * <p>On the wire a token is signed by a {@link ConsistencyTokenCodec}, so a client cannot forge a
 * position (which could make every read of its wait, or go to the primary). Two tokens
 * {@linkplain #merge merge} by keeping the greater position: a reader that must see both writes
 * must see the later one.
 *
 * <p>Immutable and thread-safe.
 *
 * @param lsn the position a read must see
 */
public record ConsistencyToken(Lsn lsn) {

  /**
   * Checks the position.
   *
   * @param lsn the position a read must see
   * @throws NullPointerException if {@code lsn} is null
   */
  public ConsistencyToken {
    Require.nonNull(lsn, "lsn");
  }

  /**
   * Returns a token for a position.
   *
   * @param lsn the position
   * @return the token
   * @throws NullPointerException if {@code lsn} is null
   */
  public static ConsistencyToken of(Lsn lsn) {
    return new ConsistencyToken(lsn);
  }

  /**
   * Returns the token with the greater position of this one and {@code other}.
   *
   * @param other another token, or null
   * @return this token if {@code other} is null or not later, else {@code other}
   */
  // Same name as the static two-token merge on purpose: both merge by the later position.
  @SuppressWarnings("AmbiguousMethodReference")
  public ConsistencyToken merge(@Nullable ConsistencyToken other) {
    return other == null || lsn.isAtLeast(other.lsn) ? this : other;
  }

  /**
   * Merges two tokens either of which may be null.
   *
   * @param a a token, or null
   * @param b a token, or null
   * @return the one with the greater position; null if both are null
   */
  @SuppressWarnings("AmbiguousMethodReference") // see the instance merge
  public static @Nullable ConsistencyToken merge(@Nullable ConsistencyToken a, @Nullable ConsistencyToken b) {
    return a == null ? b : a.merge(b);
  }
}
