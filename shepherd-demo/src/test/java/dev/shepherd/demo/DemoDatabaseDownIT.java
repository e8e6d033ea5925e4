package dev.shepherd.demo;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.testing.PostgresCluster;
import dev.shepherd.testing.RedisServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The reference service with its primary gone (a real PostgreSQL primary and replica started by
 * the fixture, the primary stopped mid-run, idempotency records in Redis so the order reaches it): an order is a 503 with fixed words, and the database's
 * own error text, which names the server's address and the driver, stays in the service's log.
 */
class DemoDatabaseDownIT {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();
  /** Idempotency records live in Redis, so the order itself reaches the stopped primary. */
  @RegisterExtension static final RedisServer redis = RedisServer.create();

  @Test
  void aFailingPrimaryIsA503WithoutTheDatabasesErrorText() throws Exception {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    try (DemoProcess service = DemoProcess.startOnFreePort(
        "--primary-url", pg.primaryJdbcUrl(), "--replica-url", pg.replicaJdbcUrl(), "--redis", redis.uri(), "--pool", "local")) {
      HttpRequest.Builder order = HttpRequest.newBuilder(URI.create(service.base() + "/orders"))
          .header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString("{\"customer\":\"ada\",\"product\":\"p1\",\"quantity\":1}"));
      HttpResponse<String> created = http.send(order.copy().header("Idempotency-Key", "\"down-1\"").build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(created.statusCode()).as(created.body()).isEqualTo(201);

      pg.stopPrimary();
      try {
        // The first order fails on a pooled connection the stop ended ("terminating connection due
        // to administrator command"), the second on a new one, refused ("Connection to
        // 127.0.0.1:<port> refused"): neither text reaches the client.
        for (String key : new String[] {"\"down-2\"", "\"down-3\""}) {
          HttpResponse<String> failed = http.send(order.copy().header("Idempotency-Key", key).build(),
              HttpResponse.BodyHandlers.ofString());
          assertThat(failed.statusCode()).as(failed.body()).isEqualTo(503);
          assertThat(failed.body()).contains(OrdersServlet.PRIMARY_FAILED)
              .doesNotContain(Integer.toString(pg.primaryPort()))
              .doesNotContain("PSQLException").doesNotContain("HikariPool").doesNotContain("onnection")
              .doesNotContain("administrator");
        }
        // The cause is in the service's log, for its operator.
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30))
            .until(() -> service.outputText().contains("POST /orders: the primary database failed"));
      } finally {
        pg.startPrimary();
      }
      service.stop();
    } finally {
      http.shutdownNow();
    }
  }
}
