package dev.shepherd.idempotency;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import dev.shepherd.testing.FaultProxy;
import dev.shepherd.testing.PostgresCluster;
import java.net.SocketTimeoutException;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The JDBC store against a PostgreSQL that stops answering, behind a fault proxy. */
class JdbcHungDatabaseTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.primaryOnly();

  private static final Duration LONG = Duration.ofMinutes(10);

  /**
   * With the default timeouts (query 5 s, network 6 s), a call against a hung database fails with
   * its network timeout. The query timeout's cancel goes out first (at 5 s) through the same hung
   * path; pgjdbc makes the executing thread wait for a cancel in flight, bounded only by the
   * driver's cancelSignalTimeout (set here to an hour) and by the server closing a connection that
   * sent no startup packet ({@code authentication_timeout}, raised here to its maximum, 10 min), so
   * the call could not return while the proxy holds the cancel unless the store gives the cancel
   * up at the network deadline. The timeout below is a hang guard, not a measurement.
   */
  @Test
  @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
  void callAgainstAHungDatabaseFailsWithItsNetworkTimeoutNotAfterTheCancelSignalTimeout()
      throws Exception {
    try (FaultProxy proxy = FaultProxy.to(pg.primaryPort());
        SingleConnectionDataSource dataSource = new SingleConnectionDataSource(
            "jdbc:postgresql://127.0.0.1:" + proxy.port() + "/postgres?user=" + pg.user()
                + "&connectTimeout=5&cancelSignalTimeout=3600")) {
      JdbcIdempotencyStore store =
          JdbcIdempotencyStore.builder(dataSource).createSchema(true).build(); // default timeouts
      try (Connection c = pg.primaryConnection(); Statement s = c.createStatement()) {
        s.execute("ALTER SYSTEM SET authentication_timeout = '600s'");
        s.execute("SELECT pg_reload_conf()");
      }
      long before = proxy.acceptedConnections();
      proxy.stopForwarding();
      try {
        Throwable failure = catchThrowable(() -> store.claim(
            "hung:" + UUID.randomUUID(), "fp", LONG, LONG, OrphanPolicy.TAKE_OVER));

        assertThat(failure).isInstanceOf(IdempotencyStoreException.class)
            .hasRootCauseInstanceOf(SocketTimeoutException.class); // the network timeout
        // The cancel was sent (one cancel connection at the proxy), and the call returned while
        // that cancel was still unanswered: the proxy has forwarded nothing since.
        assertThat(proxy.acceptedConnections() - before).isEqualTo(1);
      } finally {
        proxy.restore();
      }
    }
  }
}
