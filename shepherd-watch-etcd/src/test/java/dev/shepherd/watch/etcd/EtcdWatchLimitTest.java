package dev.shepherd.watch.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.testing.EtcdServer;
import dev.shepherd.watch.BlockingQueryServlet;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Clients of the Consul-style servlet naming thousands of distinct keys cannot open more etcd
 * watches than {@code maxWatchedKeys}: plain reads open none, blocking queries evict keys with no
 * query in progress, and past the bound with every key in use the answer is a 429 that says so.
 * Real etcd, real Jetty, real HTTP.
 */
class EtcdWatchLimitTest {

  @RegisterExtension static final EtcdServer etcd = EtcdServer.create();

  static final int MAX_KEYS = 50;

  Client client;
  EtcdWatchSource<String> source;
  BlockingQueryServlet<String> servlet;
  Server jetty;
  HttpClient http;
  String base;

  @BeforeEach
  void start() throws Exception {
    client = Client.builder().endpoints(etcd.endpoint()).build();
    source = EtcdWatchSource.builder(client).maxWatchedKeys(MAX_KEYS).build();
    servlet = BlockingQueryServlet.builder(source, (String s) -> s.getBytes(StandardCharsets.UTF_8)).build();
    jetty = new Server();
    HttpConfiguration config = new HttpConfiguration();
    config.setUriCompliance(UriCompliance.DEFAULT.with("CONSUL_KEYS",
        UriCompliance.Violation.AMBIGUOUS_PATH_SEPARATOR));
    ServerConnector connector = new ServerConnector(jetty, new HttpConnectionFactory(config));
    connector.setHost("127.0.0.1");
    jetty.addConnector(connector);
    ServletContextHandler context = new ServletContextHandler();
    ServletHolder holder = new ServletHolder(servlet);
    holder.setAsyncSupported(true);
    context.addServlet(holder, "/v1/kv/*");
    jetty.setHandler(context);
    jetty.start();
    base = "http://127.0.0.1:" + connector.getLocalPort() + "/v1/kv/";
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  }

  @AfterEach
  void stop() throws Exception {
    jetty.stop();
    http.close();
    source.close();
    client.close();
  }

  long put(String key, String value) throws Exception {
    return client.getKVClient().put(ByteSequence.from(key, StandardCharsets.UTF_8),
        ByteSequence.from(value, StandardCharsets.UTF_8)).get(10, TimeUnit.SECONDS).getHeader().getRevision();
  }

  HttpResponse<String> get(String path) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(base + path)).build(), HttpResponse.BodyHandlers.ofString());
  }

  CompletableFuture<HttpResponse<String>> getAsync(String path) {
    return http.sendAsync(HttpRequest.newBuilder(URI.create(base + path)).build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void plainReadsOfThousandsOfDistinctKeysOpenNoEtcdWatch() throws Exception {
    for (int i = 0; i < 100; i++) {
      put("plain/" + i, "v" + i);
    }
    int most = 0;
    for (int i = 0; i < 3_000; i++) {
      HttpResponse<String> answer = get("plain%2F" + i + "?raw");
      if (i < 100) {
        assertThat(answer.statusCode()).isEqualTo(200);
        assertThat(answer.body()).isEqualTo("v" + i);
      } else {
        assertThat(answer.statusCode()).isEqualTo(404);
      }
      most = Math.max(most, source.watchedKeys());
    }
    assertThat(most).as("keys watched at once during 3,000 plain reads").isZero();
    assertThat(source.etcdWatchesOpened()).isZero();
    assertThat(EtcdMetrics.watchers(etcd.endpoint())).isZero();
  }

  @Test
  void blockingQueriesOnThousandsOfDistinctKeysKeepAtMostMaxWatchedKeysThenAre429() throws Exception {
    // 40 queries held on 40 keys: their watches are in use and must survive everything below
    List<CompletableFuture<HttpResponse<String>>> held = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      long index = put("held/" + i, "v0");
      held.add(getAsync("held%2F" + i + "?raw&index=" + index + "&wait=10m"));
    }
    // every held query's fetch is inside the source once 40 keys are watched (no other key is)
    await().atMost(Duration.ofSeconds(60)).until(() -> servlet.heldQueries() == 40 && source.watchedKeys() == 40);

    // 2,000 blocking queries on distinct keys, each answered at once (index 1 is not theirs):
    // each opens a watch, which is closed for the next one past the bound
    int most = 0;
    for (int i = 0; i < 2_000; i++) {
      HttpResponse<String> answer = get("burst%2F" + i + "?index=1&wait=1m");
      assertThat(answer.statusCode()).isEqualTo(404);
      most = Math.max(most, source.watchedKeys());
    }
    assertThat(most).as("keys watched at once during 2,000 distinct blocking queries").isLessThanOrEqualTo(MAX_KEYS);
    assertThat(source.etcdWatchesOpened()).isGreaterThanOrEqualTo(2_000);
    // an evicted key's jetcd watcher is closed once etcd has confirmed its creation: the open
    // watchers settle at the bound, on the source's count and on etcd's own
    await().atMost(Duration.ofSeconds(30)).until(() -> source.openEtcdWatches() <= MAX_KEYS
        && EtcdMetrics.watchers(etcd.endpoint()) <= MAX_KEYS);

    // 10 more held queries fill the bound with keys in use: one more key is refused, clearly
    for (int i = 0; i < 10; i++) {
      long index = put("more/" + i, "v0");
      held.add(getAsync("more%2F" + i + "?raw&index=" + index + "&wait=10m"));
    }
    await().atMost(Duration.ofSeconds(60)).until(() -> servlet.heldQueries() == 50
        && java.util.stream.IntStream.range(0, 10).allMatch(i -> source.keyWatch("more/" + i) != null));
    HttpResponse<String> refused = get("refused?index=1&wait=1m");
    assertThat(refused.statusCode()).isEqualTo(429);
    assertThat(refused.headers().firstValue("Retry-After")).contains("1");
    assertThat(refused.body()).contains("watches as many keys as it may (at most 50)");
    assertThat(source.watchedKeys()).isEqualTo(MAX_KEYS);

    // the held queries' watches were never evicted: a write wakes every one of them
    for (int i = 0; i < 40; i++) {
      put("held/" + i, "v1");
    }
    for (int i = 0; i < 10; i++) {
      put("more/" + i, "v1");
    }
    for (CompletableFuture<HttpResponse<String>> query : held) {
      HttpResponse<String> woken = query.get(60, TimeUnit.SECONDS);
      assertThat(woken.statusCode()).isEqualTo(200);
      assertThat(woken.body()).isEqualTo("v1");
    }
    // with the keys idle again, a new key is served
    assertThat(get("refused?index=1&wait=1m").statusCode()).isEqualTo(404);
    assertThat(source.watchedKeys()).isLessThanOrEqualTo(MAX_KEYS);
  }
}
