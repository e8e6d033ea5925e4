package dev.shepherd.demo;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.testing.PostgresCluster;
import java.io.PrintStream;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * The service's PostgreSQL primary and streaming replica: external ones from
 * {@code --primary-url/--replica-url}, or an embedded pair started from the Debian binaries in a
 * temporary directory (the {@link PostgresCluster} fixture) and removed on close.
 */
final class Database implements AutoCloseable {

  private final @Nullable PostgresCluster embedded;
  private final HikariDataSource primary;
  private final HikariDataSource replica;

  private Database(@Nullable PostgresCluster embedded, String primaryUrl, String replicaUrl) {
    this.embedded = embedded;
    this.primary = pool("primary", primaryUrl, 20);
    this.replica = pool("replica", replicaUrl, 20);
  }

  static Database open(DemoOptions options, PrintStream out) {
    if (options.primaryUrl().isPresent()) {
      return new Database(null, options.primaryUrl().get(), options.replicaUrl().orElseThrow());
    }
    out.println("shepherd demo: starting an embedded PostgreSQL primary and streaming replica ...");
    PostgresCluster cluster = PostgresCluster.create();
    cluster.start();
    try {
      return new Database(cluster, cluster.primaryJdbcUrl(), cluster.replicaJdbcUrl());
    } catch (RuntimeException e) {
      cluster.close();
      throw e;
    }
  }

  private static HikariDataSource pool(String name, String url, int size) {
    HikariConfig config = new HikariConfig();
    config.setPoolName("demo-" + name);
    config.setJdbcUrl(url);
    config.setMaximumPoolSize(size);
    config.setMinimumIdle(2);
    config.setConnectionTimeout(5_000);
    config.setInitializationFailTimeout(-1); // a replica that is down at start must not stop the service
    return new HikariDataSource(config);
  }

  HikariDataSource primary() {
    return primary;
  }

  HikariDataSource replica() {
    return replica;
  }

  Optional<PostgresCluster> embedded() {
    return Optional.ofNullable(embedded);
  }

  String primaryDescription() {
    return primary.getJdbcUrl() + (embedded != null ? " (embedded, in " + embedded.baseDirectory() + ")" : "");
  }

  String replicaDescription() {
    return replica.getJdbcUrl() + (embedded != null ? " (embedded streaming replica)" : "");
  }

  void createSchema() throws SQLException {
    try (Connection c = primary.getConnection(); Statement s = c.createStatement()) {
      s.execute("""
          CREATE TABLE IF NOT EXISTS orders (
            id bigserial PRIMARY KEY,
            customer text NOT NULL,
            product text NOT NULL,
            quantity int NOT NULL CHECK (quantity > 0),
            created_at timestamptz NOT NULL DEFAULT now())""");
    }
  }

  @Override
  public void close() {
    primary.close();
    replica.close();
    if (embedded != null) {
      embedded.close();
    }
  }
}
