package dev.shepherd.idempotency.servlet;

import static dev.shepherd.idempotency.servlet.Http.assertProblem;
import static dev.shepherd.idempotency.servlet.Http.text;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.JdbcIdempotencyStore;
import dev.shepherd.testing.PostgresCluster;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The filter over the JDBC store on a real PostgreSQL, and PostgreSQL stopped while a request runs:
 * 503, no key claimed forever, and the key works again once PostgreSQL is back.
 */
class IdempotencyFilterPostgresTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.primaryOnly();

  private static final Duration LEASE = Duration.ofSeconds(2);

  private final TestServlet servlet = new TestServlet();
  private HikariDataSource dataSource;
  private IdempotencyTracker tracker;
  private JettyApp app;

  @BeforeEach
  void start() throws Exception {
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(pg.primaryJdbcUrl());
    config.setUsername(pg.user());
    config.setMaximumPoolSize(8);
    // Fail fast while PostgreSQL is down: a store call gives up after seconds, not thirty, yet
    // leaves room for a slow connection set-up on a busy two-core machine.
    config.setConnectionTimeout(5000);
    config.setValidationTimeout(500);
    config.setInitializationFailTimeout(-1);
    dataSource = new HikariDataSource(config);
    tracker = IdempotencyTracker.builder()
        .store(JdbcIdempotencyStore.builder(dataSource).createSchema(true).build())
        .lease(LEASE)
        .heartbeatInterval(Duration.ofMillis(500))
        .build();
    app = new JettyApp(IdempotencyFilter.builder(tracker).build(), servlet);
  }

  @AfterEach
  void stop() {
    servlet.gate.countDown();
    if (app != null) {
      app.close();
    }
    if (tracker != null) {
      tracker.close();
    }
    dataSource.close();
  }

  @Test
  void replaysFromPostgres() throws Exception {
    HttpResponse<byte[]> first = app.send(app.post("/orders", "\"pg-1\"", "{}").build());
    HttpResponse<byte[]> replay = app.send(app.post("/orders", "\"pg-1\"", "{}").build());

    assertThat(first.statusCode()).isEqualTo(201);
    assertThat(replay.body()).isEqualTo(first.body());
    assertThat(replay.headers().firstValue("Idempotent-Replayed")).hasValue("true");
    assertProblem(app.send(app.post("/orders", "\"pg-1\"", "{\"x\":1}").build()), 422,
        "key-reused");
    assertThat(servlet.runs("/orders")).isEqualTo(1);
  }

  @Test
  void postgresStoppedMidRequestGives503AndTheKeyWorksOnceItIsBack() throws Exception {
    String key = "\"pg-down\"";
    CompletableFuture<HttpResponse<byte[]>> inFlight = app.client.sendAsync(
        app.post("/slow", key, "{}").build(), HttpResponse.BodyHandlers.ofByteArray());
    assertThat(servlet.entered.await(30, TimeUnit.SECONDS)).isTrue();

    pg.stopPrimary();
    try {
      servlet.gate.countDown();
      HttpResponse<byte[]> response = inFlight.get(60, TimeUnit.SECONDS);
      assertProblem(response, 503, "store-unavailable");
      assertThat(response.headers().firstValue("Retry-After")).hasValue("1");
      assertThat(servlet.runs("/slow")).isEqualTo(1);

      // While PostgreSQL is down, a new request cannot be tracked either: 503, handler not run.
      assertProblem(app.send(app.post("/orders", "\"pg-new\"", "{}").build()), 503,
          "store-unavailable");
      assertThat(servlet.runs("/orders")).isZero();
    } finally {
      pg.startPrimary();
    }

    // The claim made before the outage is no longer renewed: once its lease runs out the key is
    // taken over, so it never stays claimed. Until then a retry may see 409.
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200)).until(() -> {
      HttpResponse<byte[]> retry = app.send(app.post("/slow", key, "{}").build());
      if (retry.statusCode() == 409 || retry.statusCode() == 503) {
        return false;
      }
      assertThat(retry.statusCode()).isEqualTo(201);
      assertThat(text(retry)).isEqualTo("slow run 2");
      return true;
    });
    HttpResponse<byte[]> replay = app.send(app.post("/slow", key, "{}").build());
    assertThat(text(replay)).isEqualTo("slow run 2");
    assertThat(replay.headers().firstValue("Idempotent-Replayed")).hasValue("true");
    assertThat(app.send(app.post("/orders", "\"pg-new\"", "{}").build()).statusCode())
        .isEqualTo(201);
  }
}
