package dev.shepherd.watch;

import static dev.shepherd.watch.TestAwait.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.testing.ServletServer;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.Result;
import org.eclipse.jetty.client.BufferingResponseListener;
import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.http2.client.transport.HttpClientTransportOverHTTP2;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The servlet's limits under a flood: held queries capped in total and per key (429 with
 * {@code Retry-After} and problem+json beyond), cancelled wait timers removed at once, request
 * bodies capped, writes authorized.
 *
 * <p>The flood goes over HTTP/2 (h2c) on one connection, so 20,000 concurrent queries need no
 * 20,000 sockets (this machine allows 20,000 descriptors per process, client and server together).
 */
class FloodLimitsTest {

  private final InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
  private TestJetty server;
  private HttpClient client;

  private URI start(BlockingQueryServlet<String> servlet) throws Exception {
    server = TestJetty.builder().threads("jetty-flood", 32, 4).h2c(30_000)
        .servlet(servlet, "/v1/kv/*").start();
    HTTP2Client h2 = new HTTP2Client();
    h2.setMaxConcurrentPushedStreams(0);
    client = new HttpClient(new HttpClientTransportOverHTTP2(h2));
    client.setMaxRequestsQueuedPerDestination(30_000);
    client.setMaxConnectionsPerDestination(1);
    client.setIdleTimeout(0);
    client.start();
    return server.uri();
  }

  @AfterEach
  void stop() throws Exception {
    if (client != null) {
      client.stop();
    }
    if (server != null) {
      server.close();
    }
  }

  private record Answer(int status, String body, String retryAfter, String contentType,
      String index) {}

  @Test
  void twentyThousandHeldQueriesAgainstACapOfTenThousand() throws Exception {
    int keys = 100;
    int queries = 20_000;
    int cap = 10_000;
    long[] indexes = new long[keys];
    for (int k = 0; k < keys; k++) {
      indexes[k] = store.put("flood/" + k, "v" + k);
    }
    BlockingQueryServlet<String> servlet = BlockingQueryServlet.withRandom(
        BlockingQueryServlet.builder(store, s -> s.getBytes(StandardCharsets.UTF_8),
            b -> new String(b, StandardCharsets.UTF_8)).maxHeldQueries(cap)
            .maxHeldQueriesPerClient(queries).build(), () -> 0.0); // one client: the total binds
    URI uri = start(servlet);

    // Long enough that no held query ends before the last one was sent, even on a loaded machine,
    // so the outcome is exact: the first 10,000 are held, the other 10,000 refused.
    String wait = "20s";
    ConcurrentLinkedQueue<Answer> inOrder = new ConcurrentLinkedQueue<>();
    CountDownLatch done = new CountDownLatch(queries);
    AtomicInteger peakWaiting = new AtomicInteger();
    AtomicInteger peakTimers = new AtomicInteger();
    for (int i = 0; i < queries; i++) {
      int k = i % keys;
      client.newRequest(uri.resolve("/v1/kv/flood/" + k + "?index=" + indexes[k] + "&wait=" + wait))
          .timeout(2, TimeUnit.MINUTES)
          .send(new BufferingResponseListener(64 * 1024) {
            @Override
            public void onComplete(Result result) {
              if (result.isSucceeded()) {
                var r = result.getResponse();
                inOrder.add(new Answer(r.getStatus(), getContentAsString(),
                    r.getHeaders().get("Retry-After"), r.getHeaders().get("Content-Type"),
                    r.getHeaders().get("X-Consul-Index")));
              } else {
                inOrder.add(new Answer(-1, String.valueOf(result.getFailure()), null, null, null));
              }
              done.countDown();
            }
          });
    }
    await().atMost(Duration.ofMinutes(1)).until(() -> {
      peakWaiting.accumulateAndGet(store.waitingQueries(), Math::max);
      peakTimers.accumulateAndGet(servlet.pendingTimers(), Math::max);
      return inOrder.size() >= queries - cap;
    });
    // The refused half was answered while the held half still waits: a 429 does not queue.
    assertThat(servlet.heldQueries()).isEqualTo(cap);
    assertThat(store.waitingQueries()).isEqualTo(cap);
    List<Answer> refused = new ArrayList<>(inOrder);
    assertThat(refused).hasSize(queries - cap).allSatisfy(a -> {
      assertThat(a.status()).isEqualTo(429);
      assertThat(a.retryAfter()).isEqualTo("1");
      assertThat(a.contentType()).startsWith("application/problem+json");
      assertThat(a.body()).contains("too many blocking queries held");
    });

    assertThat(done.await(2, TimeUnit.MINUTES)).isTrue();
    List<Answer> all = new ArrayList<>(inOrder);
    List<Answer> answered = all.subList(queries - cap, queries);
    assertThat(answered).allSatisfy(a -> {
      assertThat(a.status()).as(a.body()).isEqualTo(200);
      assertThat(a.body()).startsWith("[{\"LockIndex\":0,\"Key\":\"flood/");
    });
    // Memory stayed bounded by the cap: never more store waiters or timers than held queries.
    assertThat(peakWaiting.get()).isLessThanOrEqualTo(cap);
    assertThat(peakTimers.get()).isLessThanOrEqualTo(cap);
    await().until(() -> servlet.heldQueries() == 0 && store.waitingQueries() == 0
        && servlet.pendingTimers() == 0);
  }

  @Test
  void thePerKeyCapRefusesOneKeyWhileOthersAreStillHeld() throws Exception {
    long index = store.put("hot", "v");
    long other = store.put("cold", "v");
    BlockingQueryServlet<String> servlet = BlockingQueryServlet.builder(store,
        s -> s.getBytes(StandardCharsets.UTF_8), b -> new String(b, StandardCharsets.UTF_8))
        .maxHeldQueriesPerKey(3).retryAfter(Duration.ofSeconds(7)).build();
    assertThat(servlet.config().maxHeldQueriesPerKey()).isEqualTo(3);
    assertThat(servlet.config().maxHeldQueries()).isEqualTo(BlockingQueryServlet.DEFAULT_MAX_HELD_QUERIES);
    assertThat(servlet.config().writable()).isTrue();
    URI uri = start(servlet);
    List<CountDownLatch> held = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      CountDownLatch latch = new CountDownLatch(1);
      client.newRequest(uri.resolve("/v1/kv/hot?index=" + index + "&wait=10m"))
          .send(result -> latch.countDown());
      held.add(latch);
    }
    await().until(() -> servlet.heldQueries() == 3);
    var refused = client.newRequest(uri.resolve("/v1/kv/hot?index=" + index + "&wait=10m")).send();
    assertThat(refused.getStatus()).isEqualTo(429);
    assertThat(refused.getHeaders().get("Retry-After")).isEqualTo("7");
    CountDownLatch coldHeld = new CountDownLatch(1);
    client.newRequest(uri.resolve("/v1/kv/cold?index=" + other + "&wait=10m"))
        .send(result -> coldHeld.countDown());
    await().until(() -> servlet.heldQueries() == 4);
    store.put("hot", "w");
    store.put("cold", "w");
    for (CountDownLatch latch : held) {
      assertThat(latch.await(30, TimeUnit.SECONDS)).isTrue();
    }
    assertThat(coldHeld.await(30, TimeUnit.SECONDS)).isTrue();
  }

  @Test
  void aFullServletStillAnswersAQueryWhoseIndexAlreadyDiffers() throws Exception {
    long stale = store.put("k", "v1");
    long current = store.put("k", "v2");
    BlockingQueryServlet<String> servlet = BlockingQueryServlet.builder(store,
        s -> s.getBytes(StandardCharsets.UTF_8), b -> new String(b, StandardCharsets.UTF_8))
        .maxHeldQueries(2).build();
    URI uri = start(servlet);
    List<CountDownLatch> held = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      CountDownLatch latch = new CountDownLatch(1);
      client.newRequest(uri.resolve("/v1/kv/k?index=" + current + "&wait=10m"))
          .send(result -> latch.countDown());
      held.add(latch);
    }
    await().until(() -> servlet.heldQueries() == 2);
    assertThat(client.newRequest(uri.resolve("/v1/kv/k?index=" + current + "&wait=10m")).send()
        .getStatus()).as("one more to hold").isEqualTo(429);

    var differs = client.newRequest(uri.resolve("/v1/kv/k?raw&index=" + stale + "&wait=10m")).send();
    assertThat(differs.getStatus()).isEqualTo(200);
    assertThat(differs.getContentAsString()).isEqualTo("v2");
    assertThat(differs.getHeaders().get("X-Consul-Index")).isEqualTo(Long.toString(current));
    var unsignedAboveAny = client.newRequest(uri.resolve("/v1/kv/k?raw&index=18446744073709551615")).send();
    assertThat(unsignedAboveAny.getStatus()).isEqualTo(200);
    assertThat(client.newRequest(uri.resolve("/v1/kv/k?raw")).send().getStatus()).isEqualTo(200);
    assertThat(servlet.heldQueries()).isEqualTo(2);

    store.put("k", "v3");
    for (CountDownLatch latch : held) {
      assertThat(latch.await(30, TimeUnit.SECONDS)).isTrue();
    }
  }

  @Test
  void aQueryAnsweredByAWriteRemovesItsWaitTimerAtOnce() throws Exception {
    long index = store.put("k", "v1");
    BlockingQueryServlet<String> servlet = BlockingQueryServlet.ofStrings(store);
    URI uri = start(servlet);
    CountDownLatch answered = new CountDownLatch(100);
    for (int i = 0; i < 100; i++) {
      client.newRequest(uri.resolve("/v1/kv/k?index=" + index + "&wait=10m"))
          .send(result -> answered.countDown());
    }
    await().until(() -> servlet.pendingTimers() == 100);
    store.put("k", "v2");
    assertThat(answered.await(30, TimeUnit.SECONDS)).isTrue();
    // Without removeOnCancel the 100 cancelled timers, each holding its AsyncContext, would stay
    // queued for the whole 10-minute wait.
    await().until(() -> servlet.pendingTimers() == 0 && servlet.heldQueries() == 0);
  }

  @Test
  void bodiesAreCappedAndWritesAuthorized() throws Exception {
    BlockingQueryServlet<String> servlet = BlockingQueryServlet.builder(store,
        s -> s.getBytes(StandardCharsets.UTF_8), b -> new String(b, StandardCharsets.UTF_8))
        .maxBodyBytes(1024).authorizer(WriteAuthorizer.consulToken("s3cret")).build();
    try (ServletServer jetty = KvServers.start(servlet, "/v1/kv/*");
        java.net.http.HttpClient http = java.net.http.HttpClient.newBuilder()
            .version(java.net.http.HttpClient.Version.HTTP_1_1).build()) {
      URI k = URI.create(jetty.uri() + "/v1/kv/k");
      HttpResponse<String> denied = http.send(HttpRequest.newBuilder(k)
          .PUT(HttpRequest.BodyPublishers.ofString("v")).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(denied.statusCode()).isEqualTo(403);
      assertThat(denied.body()).contains("Permission denied");
      HttpResponse<String> deniedDelete = http.send(HttpRequest.newBuilder(k)
          .header("X-Consul-Token", "wrong").DELETE().build(), HttpResponse.BodyHandlers.ofString());
      assertThat(deniedDelete.statusCode()).isEqualTo(403);
      HttpResponse<String> fits = http.send(HttpRequest.newBuilder(k).header("X-Consul-Token", "s3cret")
          .PUT(HttpRequest.BodyPublishers.ofString("x".repeat(1024))).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(fits.body()).isEqualTo("true");
      HttpResponse<String> declared = http.send(HttpRequest.newBuilder(k)
          .header("Authorization", "Bearer s3cret")
          .PUT(HttpRequest.BodyPublishers.ofString("x".repeat(1025))).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(declared.statusCode()).isEqualTo(413);
      assertThat(declared.body()).contains("max size: 1024 bytes");
      HttpResponse<String> chunked = http.send(HttpRequest.newBuilder(k).header("X-Consul-Token", "s3cret")
          .PUT(HttpRequest.BodyPublishers.ofInputStream(
              () -> new ByteArrayInputStream(new byte[1_000_000]))).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(chunked.statusCode()).isEqualTo(413);
      assertThat(store.get("k").value()).contains("x".repeat(1024));
    }
  }

  @Test
  void aStreamedBodyTooLargeIsDrainedSoTheClientReadsIts413AndKeepsItsConnection() throws Exception {
    BlockingQueryServlet<String> servlet = BlockingQueryServlet.builder(store,
        s -> s.getBytes(StandardCharsets.UTF_8), b -> new String(b, StandardCharsets.UTF_8))
        .maxBodyBytes(1024).build();
    try (ServletServer jetty = KvServers.start(servlet, "/v1/kv/*");
        java.net.Socket socket = new java.net.Socket(jetty.uri().getHost(), jetty.uri().getPort())) {
      socket.setSoTimeout(30_000);
      java.io.OutputStream out = socket.getOutputStream();
      java.io.BufferedReader in = new java.io.BufferedReader(
          new java.io.InputStreamReader(socket.getInputStream(), StandardCharsets.ISO_8859_1));
      String host = "Host: 127.0.0.1\r\n";
      out.write(("PUT /v1/kv/big HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n")
          .getBytes(StandardCharsets.ISO_8859_1));
      byte[] chunk = new byte[16 * 1024];
      for (int i = 0; i < 16; i++) { // 256 KiB: far over the limit, well within the drain
        out.write((Integer.toHexString(chunk.length) + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
        out.write(chunk);
        out.write("\r\n".getBytes(StandardCharsets.ISO_8859_1));
      }
      out.write("0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
      out.flush();
      List<String> head = readHead(in);
      assertThat(head.get(0)).contains(" 413 ");
      assertThat(head).noneMatch(line -> line.equalsIgnoreCase("Connection: close"));
      skipBody(in, head);
      // the same connection serves the next request: the refused body was read to its end
      out.write(("PUT /v1/kv/small HTTP/1.1\r\n" + host + "Content-Length: 2\r\n\r\nok")
          .getBytes(StandardCharsets.ISO_8859_1));
      out.flush();
      assertThat(readHead(in).get(0)).contains(" 200 ");
      assertThat(store.get("small").value()).contains("ok");
      assertThat(store.get("big").value()).isEmpty();
    }
  }

  private static List<String> readHead(java.io.BufferedReader in) throws java.io.IOException {
    List<String> lines = new ArrayList<>();
    for (String line = in.readLine(); line != null && !line.isEmpty(); line = in.readLine()) {
      lines.add(line);
    }
    assertThat(lines).as("a response head").isNotEmpty();
    return lines;
  }

  private static void skipBody(java.io.BufferedReader in, List<String> head) throws java.io.IOException {
    int length = head.stream().filter(l -> l.regionMatches(true, 0, "Content-Length:", 0, 15))
        .map(l -> Integer.parseInt(l.substring(15).strip())).findFirst().orElseThrow();
    assertThat(in.skip(length)).isEqualTo(length);
  }

  @Test
  void aReadOnlyServletOverASourceRefusesWritesWith405() throws Exception {
    BlockingQueryServlet<String> readOnly = BlockingQueryServlet.<String>builder(store,
        s -> s.getBytes(StandardCharsets.UTF_8)).build();
    try (ServletServer jetty = KvServers.start(readOnly, "/v1/kv/*");
        java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient()) {
      HttpResponse<String> put = http.send(HttpRequest.newBuilder(URI.create(jetty.uri() + "/v1/kv/k"))
          .PUT(HttpRequest.BodyPublishers.ofString("v")).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(put.statusCode()).isEqualTo(405);
      assertThat(put.headers().firstValue("Allow")).contains("GET");
      HttpResponse<String> recurse = http.send(HttpRequest.newBuilder(
          URI.create(jetty.uri() + "/v1/kv/a/?recurse")).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(recurse.statusCode()).isEqualTo(400);
      assertThat(recurse.body()).contains("needs a store that lists keys by prefix");
    }
  }
}
