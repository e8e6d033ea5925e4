package dev.shepherd.idempotency.testkit;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.JdbcIdempotencyStore;
import dev.shepherd.testing.PostgresCluster;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.postgresql.ds.PGSimpleDataSource;

/** The store contract against {@link JdbcIdempotencyStore} on a real PostgreSQL. */
class JdbcStoreContractTest extends IdempotencyStoreContract {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.primaryOnly();

  private static HikariDataSource dataSource;

  @BeforeAll
  static void pool() {
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(pg.primaryJdbcUrl());
    config.setMaximumPoolSize(40);
    config.setConnectionTimeout(2000);
    dataSource = new HikariDataSource(config);
  }

  @AfterAll
  static void closePool() {
    dataSource.close();
  }

  @Override
  protected IdempotencyStore newStore() {
    return JdbcIdempotencyStore.builder(dataSource).createSchema(true).build();
  }

  @Override
  protected IdempotencyStore unreachableStore() {
    PGSimpleDataSource closed = new PGSimpleDataSource();
    closed.setURL("jdbc:postgresql://127.0.0.1:" + closedPort() + "/postgres");
    closed.setConnectTimeout(2);
    return JdbcIdempotencyStore.builder(closed).build();
  }

  private static int closedPort() {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  protected boolean isStored(String key) {
    try (Connection c = dataSource.getConnection();
        PreparedStatement ps = c.prepareStatement(
            "SELECT 1 FROM shepherd_idempotency WHERE idempotency_key = ?")) {
      ps.setString(1, key);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next();
      }
    } catch (SQLException e) {
      throw new IllegalStateException(e);
    }
  }
}
