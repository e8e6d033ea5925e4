package dev.shepherd.spring.boot.autoconfigure.app;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.redis.RedisIdempotencyStore;
import dev.shepherd.replica.ReplicaRoutingDataSource;
import dev.shepherd.testing.EtcdServer;
import dev.shepherd.testing.PostgresCluster;
import dev.shepherd.testing.RedisServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * One Spring Boot application using all five capabilities against a real PostgreSQL primary and
 * streaming replica, Redis and etcd, with Actuator health and metrics.
 */
class ShopApplicationTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();
  @RegisterExtension static final RedisServer redis = RedisServer.create();
  @RegisterExtension static final EtcdServer etcd = EtcdServer.create();

  static ConfigurableApplicationContext app;
  static HttpClient http;
  static URI base;

  @BeforeAll
  static void start() {
    etcd.put("config/checkout-v2", "false");
    app = new SpringApplicationBuilder(ShopApplication.class).properties(
        "server.port=0",
        "server.tomcat.basedir=target/tomcat",
        "server.address=127.0.0.1",
        "spring.datasource.url=" + pg.primaryJdbcUrl(),
        "spring.datasource.username=" + pg.user(),
        "spring.jpa.hibernate.ddl-auto=create",
        "spring.data.redis.url=" + redis.uri(),
        "management.endpoints.web.exposure.include=health,metrics",
        "management.endpoint.health.show-details=always",
        "management.health.shepherd-replica.enabled=true",
        "management.health.shepherd-pool.enabled=true",
        "management.health.shepherd-watch.enabled=true",
        // idempotency: Redis, found through Spring Data Redis's connection factory
        "shepherd.idempotency.paths[/orders]=required",
        "shepherd.idempotency.principal-header=X-Api-Key",
        // replica
        "shepherd.replica.replicas.replica-1.url=" + pg.replicaJdbcUrl(),
        "shepherd.replica.replicas.replica-1.username=" + pg.user(),
        "shepherd.replica.max-wait=10s",
        "shepherd.replica.token.signing-secret=an-example-secret-of-32-bytes-at-least",
        "shepherd.replica.token.secure-cookie=false",
        // cache
        "shepherd.cache.caches.products.maximum-size=1000",
        "shepherd.cache.caches.products.time-to-live=10m",
        // watches
        "shepherd.watch.source=etcd",
        "shepherd.watch.etcd.endpoints=" + etcd.endpoint(),
        "shepherd.watch.keys.checkout.key=config/checkout-v2",
        "shepherd.watch.keys.checkout.property=features.checkout-v2",
        "shepherd.watch.initial-wait=30s",
        // pool
        "shepherd.pool.pools.math.max=2",
        "shepherd.pool.pools.math.functions=square").run();
    pg.awaitReplicaCaughtUp(Duration.ofSeconds(30));
    http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    base = URI.create("http://127.0.0.1:" + app.getEnvironment().getProperty("local.server.port"));
  }

  @AfterAll
  static void stop() {
    if (app != null) {
      app.close();
    }
  }

  private static HttpResponse<String> send(HttpRequest.Builder request) throws Exception {
    return http.send(request.timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
  }

  private static HttpResponse<String> get(String path) throws Exception {
    return send(HttpRequest.newBuilder(base.resolve(path)).GET());
  }

  @Test
  void allFiveCapabilitiesWorkThroughPropertiesAlone() throws Exception {
    // Idempotency, on Redis: the retry is a replay, the handler ran once.
    assertThat(app.getBean(IdempotencyStore.class)).isInstanceOf(RedisIdempotencyStore.class);
    HttpRequest.Builder post = HttpRequest.newBuilder(base.resolve("/orders"))
        .header("Idempotency-Key", "\"order-1\"").header("X-Api-Key", "shop-client").POST(HttpRequest.BodyPublishers.ofString("book"));
    HttpResponse<String> first = send(post);
    HttpResponse<String> retry = send(post);
    assertThat(first.statusCode()).isEqualTo(200);
    assertThat(retry.body()).isEqualTo(first.body());
    assertThat(retry.headers().firstValue("Idempotent-Replayed")).contains("true");
    assertThat(get("/orders-created").body()).isEqualTo("1");
    assertThat(send(HttpRequest.newBuilder(base.resolve("/orders")).POST(HttpRequest.BodyPublishers.ofString("x"))).statusCode())
        .as("a POST without a key").isEqualTo(400);

    // Replica: the write's token makes the read wait for the replica, which serves it.
    String token = first.headers().firstValue("Shepherd-Consistency-Token").orElseThrow();
    ReplicaRoutingDataSource routing = app.getBean(DataSource.class).unwrap(ReplicaRoutingDataSource.class);
    long replicaReads = routing.router().stats().replicaReads();
    HttpResponse<String> read = send(HttpRequest.newBuilder(base.resolve("/orders/" + first.body()))
        .header("Shepherd-Consistency-Token", token).GET());
    assertThat(read.body()).isEqualTo("book");
    assertThat(routing.router().stats().replicaReads()).isEqualTo(replicaReads + 1);

    // Cache: two reads of a product, one catalog call.
    assertThat(get("/products/p1").body()).isEqualTo("p1:102");
    assertThat(get("/products/p1").body()).isEqualTo("p1:102");
    assertThat(app.getBean(ShopApplication.Catalog.class).calls()).isEqualTo(1);

    // Pool.
    assertThat(get("/square/7").body()).isEqualTo("49");

    // Watch: a flag flipped in etcd reaches the bean without a restart.
    assertThat(get("/features/checkout-v2").body()).isEqualTo("false");
    etcd.put("config/checkout-v2", "true");
    await().atMost(Duration.ofSeconds(30)).until(() -> get("/features/checkout-v2").body().equals("true"));
  }

  @Test
  void actuatorHealthHasEveryShepherdContributorAndTheMetersAreRegistered() throws Exception {
    String health = get("/actuator/health").body();
    assertThat(health).contains("\"shepherdReplica\"", "\"replica-1\"", "\"state\":\"streaming\"",
        "\"shepherdPool\"", "\"math\"", "\"shepherdWatch\"", "\"checkout\"", "\"shepherdIdempotency\"", "RedisIdempotencyStore");
    // Traffic, so that the meters registered on first use exist.
    get("/products/p2");
    HttpResponse<String> created = send(HttpRequest.newBuilder(base.resolve("/orders"))
        .header("Idempotency-Key", "\"metrics-1\"").header("X-Api-Key", "shop-client").POST(HttpRequest.BodyPublishers.ofString("pen")));
    send(HttpRequest.newBuilder(base.resolve("/orders/" + created.body()))
        .header("Shepherd-Consistency-Token", created.headers().firstValue("Shepherd-Consistency-Token").orElseThrow()).GET());
    for (String meter : new String[] {"shepherd.cache.requests", "shepherd.replica.reads", "shepherd.replica.wait",
        "shepherd.replica.poller.queries", "shepherd.idempotency.claims", "shepherd.pool.runners", "shepherd.watch.keys"}) {
      assertThat(get("/actuator/metrics/" + meter).statusCode()).as(meter).isEqualTo(200);
    }
  }
}
