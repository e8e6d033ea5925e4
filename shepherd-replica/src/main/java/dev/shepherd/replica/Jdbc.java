package dev.shepherd.replica;

import java.net.SocketTimeoutException;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLTimeoutException;
import java.time.Duration;

/** JDBC steps that the routing connection, the replica poller and the position queries share. */
final class Jdbc {

  /** The bound of a statement the library sends on a connection it was handed, unless set otherwise. */
  static final Duration DEFAULT_QUERY_TIMEOUT = Duration.ofSeconds(2);

  private Jdbc() {}

  /** One JDBC step on a connection. */
  @FunctionalInterface
  interface SqlCall<T> {
    T call() throws SQLException;
  }

  /**
   * Closes {@code connection}, which {@code failure} left half set up, so that it does not leak;
   * a failure to close is recorded as suppressed by {@code failure}, which the caller then throws.
   *
   * @param connection the connection to give back
   * @param failure the failure that ends its set-up
   */
  static void closeAfter(Connection connection, Exception failure) {
    try {
      connection.close();
    } catch (SQLException suppressed) {
      failure.addSuppressed(suppressed);
    }
  }

  /**
   * Runs {@code call} with the connection's network timeout ({@link Connection#setNetworkTimeout})
   * at most {@code timeout}, and sets the connection's own timeout back afterwards (unless the
   * failure closed the connection), so that a server that stops answering fails the call instead
   * of holding it, and the connection goes back to its owner as it came. A connection whose own
   * timeout is shorter keeps it. A failure that is the timeout becomes a {@link SQLTimeoutException}
   * whose message names {@code who} and the timeout.
   *
   * @param connection the connection
   * @param timeout the bound, rounded to milliseconds (at least 1 ms)
   * @param who what was asked, for the message ("replica r1", "the primary")
   * @param call the step
   * @return what {@code call} returned
   * @throws SQLException if the step fails or times out
   */
  static <T> T bounded(Connection connection, Duration timeout, String who, SqlCall<T> call) throws SQLException {
    int millis = millis(timeout);
    int before = connection.getNetworkTimeout();
    boolean lowered = before == 0 || before > millis;
    if (lowered) {
      connection.setNetworkTimeout(Runnable::run, millis);
    }
    try {
      return call.call();
    } catch (SQLException e) {
      throw timedOut(e, who, Duration.ofMillis(lowered ? millis : before));
    } finally {
      if (lowered && !connection.isClosed()) {
        connection.setNetworkTimeout(Runnable::run, before);
      }
    }
  }

  /**
   * Returns {@code e} as a {@link SQLTimeoutException} naming {@code who} and {@code timeout} when
   * it was caused by the network timeout (a socket read timed out), else {@code e} itself.
   */
  static SQLException timedOut(SQLException e, String who, Duration timeout) {
    if (e instanceof SQLTimeoutException || !causedBySocketTimeout(e)) {
      return e;
    }
    return new SQLTimeoutException(who + " did not answer within its network timeout of " + timeout.toMillis()
        + " ms (" + e.getMessage() + ")", e.getSQLState(), e);
  }

  private static boolean causedBySocketTimeout(Throwable e) {
    Throwable t = e;
    for (int depth = 0; t != null && depth < 16; depth++) { // bounded: a cause chain may loop
      if (t instanceof SocketTimeoutException) {
        return true;
      }
      t = t.getCause();
    }
    return false;
  }

  static int millis(Duration timeout) {
    return (int) Math.max(1L, Math.min(Integer.MAX_VALUE, timeout.toMillis()));
  }
}
