package dev.shepherd.replica;

/**
 * How a {@link ReplicaTracker} learns that its replica has replayed a position.
 *
 * <p>The default, {@link #AUTO}, reads {@code server_version_num} when the tracker first reaches the
 * replica and picks {@link #WAIT_FOR_LSN} from PostgreSQL 19 (version number 190000) on, else
 * {@link #POLLING}.
 */
public enum ReplayStrategy {

  /** Pick by server version: {@link #WAIT_FOR_LSN} from PostgreSQL 19 on, else {@link #POLLING}. */
  AUTO,

  /**
   * Poll {@code pg_last_wal_replay_lsn()} with an adaptive interval, one short autocommit query at a
   * time; works on every version with streaming replication.
   */
  POLLING,

  /**
   * Between polls, block on the server in {@code WAIT FOR LSN '<lowest pending>' WITH (TIMEOUT
   * '<max interval>', NO_THROW)} (PostgreSQL 19 and later), which returns as soon as the lowest
   * waited-for position is replayed instead of after a poll interval. Fails on older servers.
   */
  WAIT_FOR_LSN;

  /** The first {@code server_version_num} that has {@code WAIT FOR LSN}: PostgreSQL 19.0. */
  static final int WAIT_FOR_LSN_SINCE = 190000;

  /**
   * Resolves {@link #AUTO} for a server version; other strategies resolve to themselves.
   *
   * @param serverVersionNum the server's {@code server_version_num}, for example 150010
   * @return {@link #POLLING} or {@link #WAIT_FOR_LSN}
   */
  ReplayStrategy resolve(int serverVersionNum) {
    if (this != AUTO) {
      return this;
    }
    return serverVersionNum >= WAIT_FOR_LSN_SINCE ? WAIT_FOR_LSN : POLLING;
  }

  /**
   * Parses {@code server_version_num} text such as {@code "150010"}.
   *
   * @param text the setting's value
   * @return the number
   * @throws IllegalArgumentException if it is not a positive decimal number; the message quotes it
   */
  static int parseServerVersionNum(String text) {
    try {
      int value = Integer.parseInt(text.trim());
      if (value > 0) {
        return value;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new IllegalArgumentException("not a server_version_num: \"" + text + "\" (expected a number such as 150010)");
  }

  /**
   * Returns the {@code WAIT FOR LSN} statement of PostgreSQL 19 for a target and timeout: with
   * {@code NO_THROW} it returns a status row ({@code success}, {@code timeout}, {@code not in
   * recovery}) instead of raising an error.
   *
   * @param target the position to wait for
   * @param timeoutMillis the server-side timeout, at least 1
   * @return the SQL text
   */
  static String waitForLsnSql(Lsn target, long timeoutMillis) {
    return "WAIT FOR LSN '" + target + "' WITH (TIMEOUT '" + Math.max(1L, timeoutMillis) + "ms', NO_THROW)";
  }
}
