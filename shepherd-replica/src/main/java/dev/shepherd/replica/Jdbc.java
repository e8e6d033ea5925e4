package dev.shepherd.replica;

import java.sql.Connection;
import java.sql.SQLException;

/** JDBC steps that the routing connection and the replica poller share. */
final class Jdbc {

  private Jdbc() {}

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
}
