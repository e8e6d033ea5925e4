package dev.shepherd.watch;

import static dev.shepherd.watch.TestAwait.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shepherd.testing.ServletServer;
import jakarta.servlet.Filter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Requirements 7 and 8: the HTTP endpoint on a real Jetty 12, and the client against it. */
class BlockingQueryServletTest {

  private final InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
  private ServletServer server;
  private ConsulClient consul;
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  @BeforeEach
  void start() throws Exception {
    server = KvServers.serving(store);
    consul = ConsulClient.builder().baseUri(server.uri()).build();
  }

  @AfterEach
  void stop() {
    consul.close();
    http.shutdownNow();
    server.close();
  }

  private HttpResponse<String> get(String pathAndQuery) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(server.uri() + pathAndQuery)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void aReadAnswersConsulsJsonWithTheIndexInXConsulIndex() throws Exception {
    long index = store.put("app/config", "hello");
    HttpResponse<String> response = get("/v1/kv/app/config");
    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.headers().firstValue("X-Consul-Index")).contains(Long.toString(index));
    assertThat(response.body()).isEqualTo("[{\"LockIndex\":0,\"Key\":\"app/config\",\"Flags\":0,"
        + "\"Value\":\"aGVsbG8=\",\"CreateIndex\":2,\"ModifyIndex\":2}]");
    assertThat(get("/v1/kv/app/config?raw").body()).isEqualTo("hello");
  }

  @Test
  void theClientRefusesAResponseBodyOverItsLimit() throws Exception {
    store.put("big", "x".repeat(4_000));
    try (ConsulClient small = ConsulClient.builder().baseUri(server.uri()).maxResponseBytes(1_000).build()) {
      assertThatThrownBy(() -> small.kvGet("big", 0, Duration.ofSeconds(1)))
          .isInstanceOf(ConsulException.class).hasMessageContaining("longer than 1000 bytes");
      store.put("small", "y");
      assertThat(small.kvGet("small", 0, Duration.ofSeconds(1)).value()).isPresent();
    }
  }

  @Test
  void anAbsentKeyIs404WithAnIndex() throws Exception {
    HttpResponse<String> response = get("/v1/kv/absent");
    assertThat(response.statusCode()).isEqualTo(404);
    assertThat(response.headers().firstValue("X-Consul-Index")).contains("1");
  }

  @Test
  void aQueryAtTheCurrentIndexIsHeldUntilTheKeyIsWritten() throws Exception {
    long index = store.put("k", "v1");
    CompletableFuture<Versioned<Optional<KvEntry>>> held = CompletableFuture.supplyAsync(() -> {
      try {
        return consul.kvGet("k", index, Duration.ofMinutes(5));
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
    });
    await().until(() -> store.waitingQueries() == 1);
    assertThat(held).isNotDone();
    long next = store.put("k", "v2");
    Versioned<Optional<KvEntry>> answer = held.join();
    assertThat(answer.index()).isEqualTo(next);
    assertThat(answer.value().orElseThrow().valueAsString()).contains("v2");
    assertThat(answer.value().orElseThrow().createIndex()).isEqualTo(index);
  }

  @Test
  void aHeldQueryAnswersTheUnchangedValueWhenTheWaitPasses() throws Exception {
    long index = store.put("k", "v1");
    HttpResponse<String> response = get("/v1/kv/k?index=" + index + "&wait=50ms");
    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.headers().firstValue("X-Consul-Index")).contains(Long.toString(index));
    assertThat(store.waitingQueries()).isZero();
  }

  @Test
  void theServerAddsAtMostWaitOver16OfJitterAndCapsTheWaitAtTenMinutes() {
    BlockingQueryServlet<String> servlet = BlockingQueryServlet.ofStrings(store);
    BlockingQueryServlet<String> max = BlockingQueryServlet.withRandom(servlet, () -> 0.999999);
    BlockingQueryServlet<String> min = BlockingQueryServlet.withRandom(servlet, () -> 0.0);
    assertThat(min.effectiveWait(Duration.ofSeconds(160))).isEqualTo(Duration.ofSeconds(160));
    assertThat(max.effectiveWait(Duration.ofSeconds(160)))
        .isGreaterThan(Duration.ofSeconds(169)).isLessThan(Duration.ofSeconds(170));
    assertThat(min.effectiveWait(Duration.ofHours(1))).isEqualTo(Duration.ofMinutes(10));
  }

  @Test
  void theDefaultWaitIsFiveMinutes() {
    assertThat(BlockingQueryServlet.parseWait(null)).isEqualTo(Duration.ofMinutes(5));
    assertThat(BlockingQueryServlet.parseWait("1m30s")).isEqualTo(Duration.ofSeconds(90));
    assertThat(BlockingQueryServlet.MAX_WAIT).isEqualTo(Duration.ofMinutes(10));
  }

  @Test
  void badIndexOrWaitIs400NamingTheParameterAndValue() throws Exception {
    HttpResponse<String> negativeWait = get("/v1/kv/k?index=3&wait=-5s");
    assertThat(negativeWait.statusCode()).isEqualTo(400);
    assertThat(negativeWait.body()).contains("\"detail\":\"wait must not be negative, was '-5s'\"");
    HttpResponse<String> badWait = get("/v1/kv/k?index=3&wait=soon");
    assertThat(badWait.statusCode()).isEqualTo(400);
    assertThat(badWait.body()).contains("wait: not a duration: 'soon'");
    HttpResponse<String> badIndex = get("/v1/kv/k?index=-1");
    assertThat(badIndex.statusCode()).isEqualTo(400);
    assertThat(badIndex.body()).contains("index must be an unsigned 64-bit integer, was '-1'");
  }

  @Test
  void theClientRejectsANegativeWaitOrIndex() {
    assertThatThrownBy(() -> consul.kvGet("k", 1, Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("wait must not be negative, was PT-1S");
    assertThatThrownBy(() -> consul.kvGet("k", -1, Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("index must be at least 0, was -1");
    assertThatThrownBy(() -> consul.kvGet("", 0, Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("key must not be empty");
  }

  @Test
  void putAndDeleteGoThroughTheClient() throws Exception {
    assertThat(consul.kvPut("a b/ü", "x".getBytes(java.nio.charset.StandardCharsets.UTF_8)))
        .isTrue();
    assertThat(store.get("a b/ü").value()).contains("x");
    assertThat(consul.kvGet("a b/ü", 0, Duration.ZERO).value().orElseThrow().key())
        .isEqualTo("a b/ü");
    assertThat(consul.kvDelete("a b/ü")).isTrue();
    assertThat(store.get("a b/ü").value()).isEmpty();
  }

  @Test
  void anInterruptCancelsAHeldQueryPromptly() throws Exception {
    long index = store.put("k", "v1");
    CompletableFuture<Throwable> outcome = new CompletableFuture<>();
    Thread caller = Thread.ofVirtual().start(() -> {
      try {
        consul.kvGet("k", index, Duration.ofMinutes(5));
        outcome.complete(null);
      } catch (Throwable e) {
        outcome.complete(e);
      }
    });
    await().until(() -> store.waitingQueries() == 1);
    caller.interrupt();
    assertThat(outcome.join()).isInstanceOf(InterruptedException.class);
    assertThat(consul.inFlight()).isZero();
  }

  /*
   * The README's claim that every request of ConsulClient is HTTP/1.1, also on a caller's own
   * HttpClient, checked where it matters: the server here speaks HTTP/2 too (h2c, at most 100
   * streams per connection) and the caller's client prefers HTTP/2. Were a request sent as
   * HTTP/2, the JDK client would upgrade and multiplex on one connection: the server would see
   * HTTP/2.0, and at most 100 of the 300 queries would be held at once.
   */
  @Test
  void threeHundredHeldQueriesFromOneClientAreNotStarvedByConnectionLimits() throws Exception {
    Set<String> protocols = ConcurrentHashMap.newKeySet();
    Filter recorder = (req, resp, chain) -> {
      protocols.add(req.getProtocol());
      chain.doFilter(req, resp);
    };
    // One client holding 300 queries, more than Consul's (and the servlet's) default of 200 per
    // client: raised here, as on a Consul agent such a client needs http_max_conns_per_client raised.
    TestJetty jetty = TestJetty.builder().http11().h2c(100)
        .servlet(BlockingQueryServlet.builder(store, (String s) -> s.getBytes(StandardCharsets.UTF_8),
            b -> new String(b, StandardCharsets.UTF_8)).maxHeldQueriesPerClient(300).build(),
            "/v1/kv/*")
        .filter(recorder, true, "/*")
        .start();
    HttpClient prefersHttp2 = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build();
    try (ConsulClient own = ConsulClient.builder()
        .baseUri(jetty.uri())
        .httpClient(prefersHttp2).build()) {
      int keys = 300;
      List<CompletableFuture<Versioned<Optional<KvEntry>>>> held = new ArrayList<>();
      for (int i = 0; i < keys; i++) {
        long index = store.put("k" + i, "v");
        String key = "k" + i;
        CompletableFuture<Versioned<Optional<KvEntry>>> f = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
          try {
            f.complete(own.kvGet(key, index, Duration.ofMinutes(5)));
          } catch (Throwable e) {
            f.completeExceptionally(e);
          }
        });
        held.add(f);
      }
      await().until(() -> store.waitingQueries() == keys);
      assertThat(own.inFlight()).isEqualTo(keys);
      // One more, unrelated request still goes through at once, and so does the last query.
      assertThat(own.kvGet("k0", 0, Duration.ZERO).value()).isPresent();
      store.put("k" + (keys - 1), "changed");
      assertThat(held.get(keys - 1).join().value().orElseThrow().valueAsString()).contains("changed");
      for (int i = 0; i < keys - 1; i++) {
        store.put("k" + i, "changed");
      }
      for (CompletableFuture<Versioned<Optional<KvEntry>>> f : held) {
        assertThat(f.join().value().orElseThrow().valueAsString()).contains("changed");
      }
      assertThat(protocols).containsExactly("HTTP/1.1");
    } finally {
      prefersHttp2.shutdownNow();
      jetty.close();
    }
  }

  @Test
  void aWatcherOverTheHttpEndpointDeliversEveryWrite() throws Exception {
    store.put("feature", "off");
    RecordingSink<Optional<KvEntry>> sink = new RecordingSink<>();
    try (Watcher<Optional<KvEntry>> watcher = Watcher.builder(consul.kvSource()).build()) {
      watcher.watch("feature", "f", sink);
      await().until(() -> sink.updates().size() == 1);
      await().until(() -> store.waitingQueries() == 1);
      store.put("feature", "on");
      await().until(() -> sink.updates().size() == 2);
      assertThat(sink.values()).extracting(v -> v.orElseThrow().valueAsString().orElseThrow())
          .containsExactly("off", "on");
    }
  }
}
