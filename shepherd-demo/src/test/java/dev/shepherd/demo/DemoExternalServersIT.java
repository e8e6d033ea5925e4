package dev.shepherd.demo;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.testing.EtcdServer;
import dev.shepherd.testing.PostgresCluster;
import dev.shepherd.testing.RedisServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Points the reference service at external servers, as the README's flags do: a PostgreSQL primary
 * and replica, Redis for idempotency records and etcd for config, all real and started by the
 * fixtures; checks that each capability really uses the server it was given.
 */
class DemoExternalServersIT {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();
  @RegisterExtension static final RedisServer redis = RedisServer.create();
  @RegisterExtension static final EtcdServer etcd = EtcdServer.create();

  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  @Test
  void ordersReplayFromRedisAndConfigLivesInEtcd() throws Exception {
    DemoProcess service = DemoProcess.startOnFreePort(
        "--primary-url", pg.primaryJdbcUrl(), "--replica-url", pg.replicaJdbcUrl(),
        "--redis", redis.uri(), "--etcd", etcd.endpoint(), "--pool", "local");
    String base = service.base();
    try {
      assertThat(service.output()).contains("idempotency on Redis, config on etcd");

      String body = "{\"customer\":\"ada\",\"product\":\"p1\",\"quantity\":2}";
      HttpResponse<String> first = post(base + "/orders", "\"redis-1\"", body);
      assertThat(first.statusCode()).isEqualTo(201);
      HttpResponse<String> again = post(base + "/orders", "\"redis-1\"", body);
      assertThat(again.headers().firstValue("Idempotent-Replayed")).contains("true");
      assertThat(again.body()).isEqualTo(first.body());
      redis.stop(); // the records live in Redis: without it a new key cannot be claimed
      assertThat(post(base + "/orders", "\"redis-2\"", body).statusCode()).isEqualTo(503);
      redis.restart();

      HttpResponse<String> read = http.send(HttpRequest.newBuilder(URI.create(base + "/orders/1"))
          .header("Shepherd-Consistency-Token", first.headers().firstValue("Shepherd-Consistency-Token").orElseThrow())
          .build(), HttpResponse.BodyHandlers.ofString());
      assertThat(read.body()).contains("\"servedBy\":\"replica\"");

      HttpResponse<String> put = http.send(HttpRequest.newBuilder(URI.create(base + "/config/flags"))
          .PUT(HttpRequest.BodyPublishers.ofString("on")).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(put.statusCode()).isEqualTo(200);
      assertThat(etcd.get("flags")).contains("on");
      long index = Long.parseLong(put.headers().firstValue("X-Consul-Index").orElseThrow());
      CompletableFuture<HttpResponse<String>> blocked = http.sendAsync(HttpRequest.newBuilder(
          URI.create(base + "/config/flags?index=" + index + "&wait=30s")).build(), HttpResponse.BodyHandlers.ofString());
      etcd.put("flags", "off"); // written to etcd directly: the service must see it
      HttpResponse<String> changed = blocked.get(60, TimeUnit.SECONDS);
      assertThat(changed.statusCode()).isEqualTo(200);
      assertThat(Long.parseLong(changed.headers().firstValue("X-Consul-Index").orElseThrow())).isGreaterThan(index);
      assertThat(changed.body()).contains("\"Value\":\"b2Zm\""); // base64 of "off"
    } finally {
      service.stop();
    }
  }

  private HttpResponse<String> post(String url, String key, String body) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(url)).header("Content-Type", "application/json")
        .header("Idempotency-Key", key).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
        HttpResponse.BodyHandlers.ofString());
  }
}
