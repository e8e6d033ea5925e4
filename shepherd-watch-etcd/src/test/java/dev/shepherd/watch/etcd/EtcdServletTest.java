package dev.shepherd.watch.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.testing.EtcdServer;
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
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
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
    Server jetty = new Server();
    HttpConfiguration config = new HttpConfiguration();
    config.setUriCompliance(UriCompliance.DEFAULT.with("CONSUL_KEYS",
        UriCompliance.Violation.AMBIGUOUS_PATH_SEPARATOR));
    ServerConnector connector = new ServerConnector(jetty, new HttpConnectionFactory(config));
    connector.setHost("127.0.0.1");
    jetty.addConnector(connector);
    try (Client client = Client.builder().endpoints(etcd.endpoint()).build();
        EtcdWatchSource<String> source = EtcdWatchSource.builder(client).build();
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()) {
      ServletContextHandler context = new ServletContextHandler();
      ServletHolder holder = new ServletHolder(
          BlockingQueryServlet.builder(source, (String s) -> s.getBytes(StandardCharsets.UTF_8))
              .writer(EtcdKvWriter.utf8(client), b -> new String(b, StandardCharsets.UTF_8)).build());
      holder.setAsyncSupported(true);
      context.addServlet(holder, "/config/*");
      jetty.setHandler(context);
      jetty.start();
      String base = "http://127.0.0.1:" + connector.getLocalPort() + "/config/";

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
      jetty.stop();
    }
  }

  @Test
  void aQueryOnTheIndexBeforeAWriteReturnsThatWriteEvenWhileTheWatchHasNotSeenIt() throws Exception {
    Server jetty = new Server();
    HttpConfiguration config = new HttpConfiguration();
    config.setUriCompliance(UriCompliance.DEFAULT.with("CONSUL_KEYS",
        UriCompliance.Violation.AMBIGUOUS_PATH_SEPARATOR));
    ServerConnector connector = new ServerConnector(jetty, new HttpConnectionFactory(config));
    connector.setHost("127.0.0.1");
    jetty.addConnector(connector);
    // reads and writes go straight to etcd; the watch goes through a proxy that can hold its events
    try (FaultProxy proxy = FaultProxy.to(etcd.port());
        Client client = Client.builder().endpoints(etcd.endpoint()).build();
        Client watching = Client.builder().endpoints("http://" + proxy.host() + ":" + proxy.port()).build();
        EtcdWatchSource<String> source = EtcdWatchSource.builder(client)
            .watchClient(watching.getWatchClient()).build();
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()) {
      ServletContextHandler context = new ServletContextHandler();
      ServletHolder holder = new ServletHolder(
          BlockingQueryServlet.builder(source, (String s) -> s.getBytes(StandardCharsets.UTF_8))
              .writer(EtcdKvWriter.utf8(client), b -> new String(b, StandardCharsets.UTF_8)).build());
      holder.setAsyncSupported(true);
      context.addServlet(holder, "/v1/kv/*");
      jetty.setHandler(context);
      jetty.start();
      String base = "http://127.0.0.1:" + connector.getLocalPort() + "/v1/kv/";

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
      jetty.stop();
    }
  }

  private static HttpResponse<String> send(HttpClient http, String method, String uri, String body)
      throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(uri)).method(method,
        body.isEmpty() ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body))
        .build(), HttpResponse.BodyHandlers.ofString());
  }
}
