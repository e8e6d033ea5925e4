package dev.shepherd.spring.boot.autoconfigure.idempotency;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.IdempotencyStoreException;
import dev.shepherd.idempotency.OrphanPolicy;
import dev.shepherd.idempotency.StoredResponse;
import dev.shepherd.idempotency.Tracked;
import dev.shepherd.spring.boot.autoconfigure.Failures;
import dev.shepherd.testing.LogCapture;
import dev.shepherd.testing.PostgresCluster;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.postgresql.ds.PGSimpleDataSource;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration;
import org.springframework.boot.test.context.runner.WebApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The JDBC idempotency store's own connection pool: with every connection of the application's
 * pool held by requests (and that pool's connection timeout long, as HikariCP's default 30 s is), a
 * claim, a lease renewal and a complete still go through at once on the store's pool; the pool is
 * closed with the context; the settings, the opt-out and a bean of the application's own apply.
 *
 * <p>No wall-clock bound is asserted: the store's work is awaited for half the application pool's
 * connection timeout, so it fails only when the store waited for the application's pool.
 */
class IdempotencyStorePoolTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.primaryOnly();

  private static final int APP_POOL_SIZE = 2;
  private static final Duration APP_CONNECTION_TIMEOUT = Duration.ofSeconds(60);
  private static final Duration LEASE = Duration.ofSeconds(60);
  private static final Duration RETENTION = Duration.ofHours(1);

  private final WebApplicationContextRunner runner = new WebApplicationContextRunner()
      .withConfiguration(AutoConfigurations.of(DataSourceAutoConfiguration.class, ShepherdIdempotencyAutoConfiguration.class))
      .withPropertyValues("spring.datasource.url=" + pg.primaryJdbcUrl(), "spring.datasource.username=" + pg.user(),
          "spring.datasource.hikari.maximum-pool-size=" + APP_POOL_SIZE,
          "spring.datasource.hikari.connection-timeout=" + APP_CONNECTION_TIMEOUT.toMillis(),
          "shepherd.idempotency.jdbc.create-schema=true");

  /** Requests that hold every connection of a pool until released. */
  private static final class Requests implements AutoCloseable {
    private final CountDownLatch release = new CountDownLatch(1);
    private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();

    Requests(DataSource pool, int connections) throws InterruptedException {
      CountDownLatch holding = new CountDownLatch(connections);
      for (int i = 0; i < connections; i++) {
        threads.submit(() -> {
          Connection c = pool.getConnection();
          try {
            holding.countDown();
            release.await();
          } finally {
            c.close();
          }
          return null;
        });
      }
      assertThat(holding.await(APP_CONNECTION_TIMEOUT.toSeconds(), TimeUnit.SECONDS)).as("the requests got every connection").isTrue();
    }

    /** Whether the requests still hold their connections. */
    boolean holding() {
      return release.getCount() > 0;
    }

    @Override
    public void close() {
      release.countDown();
      threads.close();
    }
  }

  /** Claims a fresh key, renews its lease, completes it and reads it back, on another thread. */
  private static CompletableFuture<Tracked> claimRenewComplete(IdempotencyStore store) {
    return CompletableFuture.supplyAsync(() -> {
      String key = "pool-" + UUID.randomUUID();
      Tracked.Claimed claimed = (Tracked.Claimed) store.claim(key, "fingerprint", LEASE, RETENTION, OrphanPolicy.TAKE_OVER);
      assertThat(store.renew(key, claimed.fencingToken(), LEASE, RETENTION)).as("renewed").isTrue();
      StoredResponse response = new StoredResponse(201, List.of(), "created".getBytes(StandardCharsets.UTF_8), Instant.now());
      assertThat(store.complete(key, claimed.fencingToken(), response, RETENTION)).as("completed").isTrue();
      return store.claim(key, "fingerprint", LEASE, RETENTION, OrphanPolicy.TAKE_OVER);
    });
  }

  /** Waits for work that must not wait for the application's pool: half its connection timeout. */
  private static <T> T awaitWithoutTheApplicationPool(CompletableFuture<T> work) throws Exception {
    return work.get(APP_CONNECTION_TIMEOUT.toSeconds() / 2, TimeUnit.SECONDS);
  }

  @Test
  void claimRenewAndCompleteSucceedWhileRequestsHoldEveryConnectionOfTheApplicationsPool() throws Exception {
    AtomicReference<HikariDataSource> storePool = new AtomicReference<>();
    runner.run(context -> {
      assertThat(context).hasNotFailed().hasSingleBean(ShepherdIdempotencyDataSource.class);
      HikariDataSource app = (HikariDataSource) context.getBean(DataSource.class);
      ShepherdIdempotencyDataSource own = context.getBean(ShepherdIdempotencyDataSource.class);
      assertThat(own.owned()).isTrue();
      storePool.set((HikariDataSource) own.dataSource());
      assertThat(storePool.get().getJdbcUrl()).isEqualTo(app.getJdbcUrl());
      assertThat(storePool.get().getMaximumPoolSize()).isEqualTo(4);
      assertThat(storePool.get().getConnectionTimeout()).isEqualTo(Duration.ofSeconds(5).toMillis());
      IdempotencyStore store = context.getBean(IdempotencyStore.class);
      try (Requests requests = new Requests(app, APP_POOL_SIZE)) {
        assertThat(requests.holding()).isTrue();
        assertThat(app.getHikariPoolMXBean().getActiveConnections()).isEqualTo(APP_POOL_SIZE);
        Tracked replay = awaitWithoutTheApplicationPool(claimRenewComplete(store));
        assertThat(replay).isInstanceOf(Tracked.Completed.class);
        assertThat(((Tracked.Completed) replay).response().status()).isEqualTo(201);
        // The application's pool was exhausted the whole time: nothing of the store went through it.
        assertThat(app.getHikariPoolMXBean().getActiveConnections()).isEqualTo(APP_POOL_SIZE);
        assertThat(app.getHikariPoolMXBean().getIdleConnections()).isZero();
        // The health contributor's call, a renewal of a claim nobody holds, goes through as well.
        assertThat(awaitWithoutTheApplicationPool(CompletableFuture.supplyAsync(
            () -> store.renew("nobody-" + UUID.randomUUID(), 1L, LEASE, RETENTION)))).isFalse();
      }
      assertThat(storePool.get().isClosed()).isFalse();
    });
    assertThat(storePool.get().isClosed()).as("the store's pool is closed with the context").isTrue();
  }

  @Test
  void thePoolSettingsApplyAndABadOneNamesItsProperty() {
    runner.withPropertyValues("shepherd.idempotency.jdbc.pool.maximum-size=2", "shepherd.idempotency.jdbc.pool.connection-timeout=750ms")
        .run(context -> {
          HikariDataSource pool = (HikariDataSource) context.getBean(ShepherdIdempotencyDataSource.class).dataSource();
          assertThat(pool.getMaximumPoolSize()).isEqualTo(2);
          assertThat(pool.getConnectionTimeout()).isEqualTo(750);
          assertThat(pool.getPoolName()).isEqualTo("shepherd-idempotency");
        });
    runner.withPropertyValues("shepherd.idempotency.jdbc.pool.maximum-size=0").run(context ->
        assertThat(Failures.of(context)).contains("shepherd.idempotency.jdbc.pool.maximum-size"));
    runner.withPropertyValues("shepherd.idempotency.jdbc.pool.connection-timeout=10ms").run(context ->
        assertThat(Failures.of(context)).contains("shepherd.idempotency.jdbc.pool.connection-timeout"));
  }

  @Test
  void optedOutTheStoreWaitsForTheApplicationsPoolAsBefore() {
    runner.withPropertyValues("shepherd.idempotency.jdbc.pool.enabled=false", "spring.datasource.hikari.connection-timeout=300")
        .run(context -> {
          assertThat(context).hasNotFailed().doesNotHaveBean(ShepherdIdempotencyDataSource.class);
          IdempotencyStore store = context.getBean(IdempotencyStore.class);
          try (Requests requests = new Requests(context.getBean(DataSource.class), APP_POOL_SIZE)) {
            assertThat(requests.holding()).isTrue();
            assertThatThrownBy(() -> store.claim("opted-out-" + UUID.randomUUID(), "fingerprint", LEASE, RETENTION, OrphanPolicy.TAKE_OVER))
                .isInstanceOf(IdempotencyStoreException.class);
          }
        });
  }

  @Configuration(proxyBeanMethods = false)
  static class OwnStoreDataSource {
    @Bean
    ShepherdIdempotencyDataSource shepherdIdempotencyDataSource() {
      return ShepherdIdempotencyDataSource.owning(pg.primaryDataSource());
    }
  }

  @Test
  void theApplicationsOwnStoreDataSourceIsUsedAndClosed() throws Exception {
    AtomicReference<HikariDataSource> own = new AtomicReference<>();
    runner.withUserConfiguration(OwnStoreDataSource.class).run(context -> {
      assertThat(context).hasNotFailed().hasSingleBean(ShepherdIdempotencyDataSource.class);
      own.set((HikariDataSource) context.getBean(ShepherdIdempotencyDataSource.class).dataSource());
      assertThat(own.get().getPoolName()).isNotEqualTo("shepherd-idempotency");
      try (Requests requests = new Requests(context.getBean(DataSource.class), APP_POOL_SIZE)) {
        assertThat(requests.holding()).isTrue();
        assertThat(awaitWithoutTheApplicationPool(claimRenewComplete(context.getBean(IdempotencyStore.class))))
            .isInstanceOf(Tracked.Completed.class);
      }
    });
    assertThat(own.get().isClosed()).isTrue();
  }

  @Configuration(proxyBeanMethods = false)
  static class PlainDataSource {
    @Bean
    DataSource dataSource() {
      PGSimpleDataSource plain = new PGSimpleDataSource();
      plain.setUrl(pg.primaryJdbcUrl());
      plain.setUser(pg.user());
      return plain;
    }
  }

  @Test
  void anApplicationDataSourceThatIsNotHikariGetsAStorePoolFromSpringDatasourceProperties() {
    runner.withUserConfiguration(PlainDataSource.class).run(context -> {
      assertThat(context).hasNotFailed();
      ShepherdIdempotencyDataSource own = context.getBean(ShepherdIdempotencyDataSource.class);
      assertThat(own.owned()).isTrue();
      assertThat(((HikariDataSource) own.dataSource()).getJdbcUrl()).isEqualTo(pg.primaryJdbcUrl());
      assertThat(((HikariDataSource) own.dataSource()).getUsername()).isEqualTo(pg.user());
    });
    // Without spring.datasource.url nothing says where the database is: the store keeps the application's, and says so.
    try (LogCapture log = LogCapture.of(StorePools.class)) {
      new WebApplicationContextRunner()
          .withConfiguration(AutoConfigurations.of(DataSourceAutoConfiguration.class, ShepherdIdempotencyAutoConfiguration.class))
          .withPropertyValues("shepherd.idempotency.jdbc.create-schema=true")
          .withUserConfiguration(PlainDataSource.class).run(context -> {
            assertThat(context).hasNotFailed();
            ShepherdIdempotencyDataSource own = context.getBean(ShepherdIdempotencyDataSource.class);
            assertThat(own.owned()).isFalse();
            assertThat(own.dataSource()).isSameAs(context.getBean(DataSource.class));
          });
      assertThat(log.messages()).anyMatch(m -> m.contains("shares the application's DataSource"));
    }
  }
}
