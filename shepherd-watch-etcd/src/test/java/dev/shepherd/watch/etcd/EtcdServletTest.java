package dev.shepherd.watch.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.testing.EtcdServer;
import dev.shepherd.testing.ServletServer;
import dev.shepherd.testing.FaultProxy;
import dev.shepherd.watch.BlockingQueryServlet;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The one blocking-query servlet over the etcd source, writable through {@link EtcdKvWriter}: the
 * reference service's {@code /config} with {@code --etcd}, on a real Jetty and a real etcd.
 */
class EtcdServletTest {

  @RegisterExtension static final EtcdServer etcd = EtcdServer.create();

  @Test
  void servesBlockingQueriesAndCheckAndSetWritesOverEtcd() throws Exception {
    ServletServer jetty = null;
    try (Client client = Client.builder().endpoints(etcd.endpoint()).build();
        EtcdWatchSource<String> source = EtcdWatchSource.builder(client).build();
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()) {
      jetty = consulKv("/config/*", BlockingQueryServlet.builder(source, (String s) -> s.getBytes(StandardCharsets.UTF_8))
          .writer(EtcdKvWriter.utf8(client), b -> new String(b, StandardCharsets.UTF_8)).build());
      String base = jetty.uri() + "/config/";

      assertThat(send(http, "PUT", base + "app%2Fflag?cas=0", "on").body()).isEqualTo("true");
      assertThat(send(http, "PUT", base + "app%2Fflag?cas=0", "off").body()).isEqualTo("false");
      HttpResponse<String> read = send(http, "GET", base + "app%2Fflag", "");
      assertThat(read.statusCode()).isEqualTo(200);
      assertThat(read.body()).contains("\"Key\":\"app/flag\"");
      long index = Long.parseLong(read.headers().firstValue("X-Consul-Index").orElseThrow());
      assertThat(etcd.get("app/flag")).contains("on");

      CompletableFuture<HttpResponse<String>> held = CompletableFuture.supplyAsync(() -> {
        try {
          return send(http, "GET", base + "app%2Fflag?index=" + index + "&wait=1m&raw", "");
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      });
      await().atMost(Duration.ofSeconds(30)).until(() -> source.watchedKeys() == 1);
      long written = client.getKVClient().put(ByteSequence.from("app/flag", StandardCharsets.UTF_8),
          ByteSequence.from("off", StandardCharsets.UTF_8)).get(10, TimeUnit.SECONDS)
          .getHeader().getRevision();
      HttpResponse<String> woken = held.get(30, TimeUnit.SECONDS);
      assertThat(woken.body()).isEqualTo("off");
      assertThat(woken.headers().firstValue("X-Consul-Index")).contains(Long.toString(written));

      assertThat(send(http, "PUT", base + "app%2Fflag?cas=" + index, "stale").body()).isEqualTo("false");
      assertThat(send(http, "DELETE", base + "app%2Fflag?cas=" + written, "").body()).isEqualTo("true");
      // the key is watched now: a read is answered from its watch, so the delete shows once
      // etcd's watch event has arrived (README: "Reads of a key that is already watched")
      await().atMost(Duration.ofSeconds(30))
          .until(() -> send(http, "GET", base + "app%2Fflag", "").statusCode() == 404);
      HttpResponse<String> recurse = send(http, "GET", base + "app/?recurse", "");
      assertThat(recurse.statusCode()).isEqualTo(400);
    } finally {
      if (jetty != null) {
        jetty.close();
      }
    }
  }

  @Test
  void aQueryOnTheIndexBeforeAWriteReturnsThatWriteEvenWhileTheWatchHasNotSeenIt() throws Exception {
    ServletServer jetty = null;
    // reads and writes go straight to etcd; the watch goes through a proxy that can hold its events
    try (FaultProxy proxy = FaultProxy.to(etcd.port());
        Client client = Client.builder().endpoints(etcd.endpoint()).build();
        Client watching = Client.builder().endpoints("http://" + proxy.host() + ":" + proxy.port()).build();
        EtcdWatchSource<String> source = EtcdWatchSource.builder(client)
            .watchClient(watching.getWatchClient()).build();
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()) {
      jetty = consulKv("/v1/kv/*", BlockingQueryServlet.builder(source, (String s) -> s.getBytes(StandardCharsets.UTF_8))
          .writer(EtcdKvWriter.utf8(client), b -> new String(b, StandardCharsets.UTF_8)).build());
      String base = jetty.uri() + "/v1/kv/";

      long first = client.getKVClient().put(ByteSequence.from("ryw/flag", StandardCharsets.UTF_8),
          ByteSequence.from("v1", StandardCharsets.UTF_8)).get(10, TimeUnit.SECONDS).getHeader().getRevision();
      CompletableFuture<HttpResponse<String>> held = http.sendAsync(HttpRequest.newBuilder(
          URI.create(base + "ryw%2Fflag?raw&index=" + first + "&wait=10m")).build(), HttpResponse.BodyHandlers.ofString());
      await().atMost(Duration.ofSeconds(30)).until(() -> source.keyWatch("ryw/flag") != null
          && source.keyWatch("ryw/flag").state() == EtcdKeyWatch.State.LIVE);
      etcd.put("ryw/neighbour", "x"); // the key's index is now below the write's index minus one
      proxy.stopForwarding(); // from here the watch sees nothing new

      HttpResponse<String> written = send(http, "PUT", base + "ryw%2Fflag", "v2");
      assertThat(written.body()).isEqualTo("true");
      long index = Long.parseLong(written.headers().firstValue("X-Consul-Index").orElseThrow());
      HttpResponse<String> read = http.sendAsync(HttpRequest.newBuilder(
          URI.create(base + "ryw%2Fflag?raw&index=" + (index - 1) + "&wait=10m")).build(),
          HttpResponse.BodyHandlers.ofString()).get(30, TimeUnit.SECONDS);
      assertThat(read.body()).as("the read after the write, its watch event held back").isEqualTo("v2");
      assertThat(read.headers().firstValue("X-Consul-Index")).contains(Long.toString(index));
      // the query held before the write learns of it too
      assertThat(held.get(30, TimeUnit.SECONDS).body()).isEqualTo("v2");
      proxy.restore();
      // once the watch has the write, the same query still answers it at once
      assertThat(send(http, "GET", base + "ryw%2Fflag?raw&index=" + (index - 1) + "&wait=10m", "").body())
          .isEqualTo("v2");
    } finally {
      if (jetty != null) {
        jetty.close();
      }
    }
  }

  /** A started Jetty serving {@code servlet} at {@code mapping}, with encoded {@code /} in keys. */
  private static ServletServer consulKv(String mapping, BlockingQueryServlet<String> servlet) {
    ServletServer server =
        ServletServer.builder().servlet(mapping, servlet).uriCompliance(ServletServer.CONSUL_KEYS).build();
    server.start();
    return server;
  }

  private static HttpResponse<String> send(HttpClient http, String method, String uri, String body)
      throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(uri)).method(method,
        body.isEmpty() ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body))
        .build(), HttpResponse.BodyHandlers.ofString());
  }
}
