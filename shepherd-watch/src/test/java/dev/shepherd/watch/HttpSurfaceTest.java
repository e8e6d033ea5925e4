package dev.shepherd.watch;

import static dev.shepherd.watch.TestAwait.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shepherd.testing.ServletServer;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The servlet's HTTP surface against hostile or careless clients, on real Jetty over real
 * sockets: unindexed reads over a plain source shared and bounded, held queries capped per client
 * address, HTTP/1.1 clients that hang up, source keys released, loopback writes that were relayed
 * or addressed to another name, dot segments, a wait of zero, and a source that overruns its wait.
 */
class HttpSurfaceTest {

  private final List<AutoCloseable> toClose = new ArrayList<>();
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .build();

  @AfterEach
  void closeAll() throws Exception {
    for (int i = toClose.size() - 1; i >= 0; i--) {
      toClose.get(i).close();
    }
    http.close();
  }

  private ServletServer serve(HttpServlet servlet) {
    ServletServer server = KvServers.start(servlet, "/v1/kv/*");
    toClose.add(server);
    return server;
  }

  /**
   * A Consul agent stand-in: answers every KV read 404 with an index, once the gate opens;
   * counts the reads in progress and their peak, and records each raw path.
   */
  static final class GatedConsul extends HttpServlet {
    private static final long serialVersionUID = 1L;
    final transient CountDownLatch gate = new CountDownLatch(1);
    final transient AtomicInteger inProgress = new AtomicInteger();
    final transient AtomicInteger peak = new AtomicInteger();
    final transient List<String> paths = new CopyOnWriteArrayList<>();

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
      paths.add(req.getRequestURI());
      int now = inProgress.incrementAndGet();
      peak.accumulateAndGet(now, Math::max);
      try {
        // A minute without the gate: answer normally, so only a client's own timeout fails it.
        var unusedOpened = gate.await(60, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } finally {
        inProgress.decrementAndGet();
      }
      resp.setStatus(404);
      resp.setHeader("X-Consul-Index", "7");
    }
  }

  private ConsulClient consulAt(ServletServer agent) {
    ConsulClient consul = ConsulClient.builder().baseUri(agent.uri()).token("front-token").build();
    toClose.add(consul);
    return consul;
  }

  private CompletableFuture<HttpResponse<String>> getAsync(URI base, String pathAndQuery) {
    return http.sendAsync(HttpRequest.newBuilder(base.resolve(pathAndQuery)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }

  // ------------------------------------------------------------ unindexed reads over a source

  @Test
  void concurrentUnindexedReadsOfOneKeyShareOneUpstreamRead() throws Exception {
    GatedConsul agent = new GatedConsul();
    ServletServer upstream = serve(agent);
    BlockingQueryServlet<KvEntry> servlet = BlockingQueryServlet.builder(
        consulAt(upstream).kvSource(), (KvEntry e) -> e.value() == null ? new byte[0] : e.value())
        .build();
    URI front = serve(servlet).uri();
    int readers = 20;
    List<CompletableFuture<HttpResponse<String>>> answers = new ArrayList<>();
    for (int i = 0; i < readers; i++) {
      answers.add(getAsync(front, "/v1/kv/cfg"));
    }
    await().until(() -> servlet.queriesOn("cfg", 0L) == readers && agent.inProgress.get() == 1);
    agent.gate.countDown();
    for (CompletableFuture<HttpResponse<String>> answer : answers) {
      HttpResponse<String> response = answer.get(60, TimeUnit.SECONDS);
      assertThat(response.statusCode()).isEqualTo(404);
      assertThat(response.headers().firstValue("X-Consul-Index")).hasValue("7");
    }
    assertThat(agent.paths).hasSize(1);
    assertThat(servlet.runningReads()).isZero();
  }

  @Test
  void aFloodOfUnindexedReadsOverConsulOpensBoundedUpstreamConnections() throws Exception {
    GatedConsul agent = new GatedConsul();
    ServletServer upstream = serve(agent);
    int cap = 4;
    BlockingQueryServlet<KvEntry> servlet = BlockingQueryServlet.builder(
        consulAt(upstream).kvSource(), (KvEntry e) -> e.value() == null ? new byte[0] : e.value())
        .maxConcurrentReads(cap).build();
    assertThat(servlet.config().maxConcurrentReads()).isEqualTo(cap);
    URI front = serve(servlet).uri();
    int flood = 24; // distinct keys, so none can share; Jetty's 64 threads serve them all
    List<CompletableFuture<HttpResponse<String>>> answers = new ArrayList<>();
    for (int i = 0; i < flood; i++) {
      answers.add(getAsync(front, "/v1/kv/flood-" + i));
    }
    await().until(() -> answers.stream().filter(CompletableFuture::isDone).count() == flood - cap
        && agent.inProgress.get() == cap);
    for (CompletableFuture<HttpResponse<String>> answer : answers) {
      if (answer.isDone()) {
        HttpResponse<String> refused = answer.get();
        assertThat(refused.statusCode()).isEqualTo(429);
        assertThat(refused.headers().firstValue("Retry-After")).hasValue("1");
        assertThat(refused.body()).contains("at most " + cap);
      }
    }
    agent.gate.countDown();
    int served = 0;
    for (CompletableFuture<HttpResponse<String>> answer : answers) {
      if (answer.get(60, TimeUnit.SECONDS).statusCode() == 404) {
        served++;
      }
    }
    assertThat(served).isEqualTo(cap);
    assertThat(agent.peak.get()).isEqualTo(cap);
    await().until(() -> servlet.runningReads() == 0);
    // the slots are free again: a later read is served
    assertThat(getAsync(front, "/v1/kv/after").get(60, TimeUnit.SECONDS).statusCode())
        .isEqualTo(404);
  }

  // ------------------------------------------------------------ held queries per client

  /** Sends a GET over a raw HTTP/1.1 socket bound to {@code local}; the socket stays open. */
  private static Socket rawGet(URI base, InetAddress local, String pathAndQuery) throws IOException {
    Socket socket = new Socket();
    socket.bind(new InetSocketAddress(local, 0));
    socket.connect(new InetSocketAddress(base.getHost(), base.getPort()), 10_000);
    socket.setSoTimeout(60_000);
    OutputStream out = socket.getOutputStream();
    out.write(("GET " + pathAndQuery + " HTTP/1.1\r\nHost: 127.0.0.1:" + base.getPort()
        + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
    out.flush();
    return socket;
  }

  /** Reads the status line of the answer on {@code socket}. */
  private static int status(Socket socket) throws IOException {
    BufferedReader in = new BufferedReader(
        new InputStreamReader(socket.getInputStream(), StandardCharsets.US_ASCII));
    String line = in.readLine();
    assertThat(line).startsWith("HTTP/1.1 ");
    return Integer.parseInt(line.substring(9, 12));
  }

  @Test
  void aClientThatHangsUpOverHttp1StillHoldsItsSlotUntilItsKeyChanges() throws Exception {
    InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
    long index = store.put("cfg", "v1");
    int cap = 5;
    BlockingQueryServlet<String> servlet = BlockingQueryServlet.builder(store,
        s -> s.getBytes(StandardCharsets.UTF_8), b -> new String(b, StandardCharsets.UTF_8))
        .maxHeldQueries(cap).build();
    URI base = serve(servlet).uri();
    InetAddress loopback = InetAddress.getByName("127.0.0.1");
    for (int i = 0; i < cap; i++) {
      Socket socket = rawGet(base, loopback, "/v1/kv/cfg?index=" + index + "&wait=30s");
      int held = i + 1;
      await().until(() -> servlet.heldQueries() == held);
      socket.close(); // the client hangs up without reading its answer
    }
    // Jetty reads no more from a connection whose request is suspended: nothing tells the servlet
    // that these clients are gone, so their slots stay taken and the next query is refused.
    try (Socket late = rawGet(base, loopback, "/v1/kv/cfg?index=" + index + "&wait=30s")) {
      assertThat(status(late)).isEqualTo(429);
    }
    assertThat(servlet.heldQueries()).isEqualTo(cap);
    // A change answers them: the answer cannot be written, and each slot is freed.
    long changed = store.put("cfg", "v2");
    await().until(() -> servlet.heldQueries() == 0);
    // Without a change, the wait running out frees the slot.
    Socket socket = rawGet(base, loopback, "/v1/kv/cfg?index=" + changed + "&wait=2s");
    await().until(() -> servlet.heldQueries() == 1);
    socket.close();
    await().until(() -> servlet.heldQueries() == 0);
    assertThat(store.get("cfg").index()).isEqualTo(changed);
  }

  @Test
  void oneClientCannotHoldMoreThanItsCap() throws Exception {
    InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
    long index = store.put("cfg", "v1");
    int perClient = 3;
    BlockingQueryServlet<String> servlet = BlockingQueryServlet.builder(store,
        s -> s.getBytes(StandardCharsets.UTF_8), b -> new String(b, StandardCharsets.UTF_8))
        .maxHeldQueriesPerClient(perClient).build();
    assertThat(servlet.config().maxHeldQueriesPerClient()).isEqualTo(perClient);
    URI base = serve(servlet).uri();
    InetAddress one = InetAddress.getByName("127.0.0.1");
    InetAddress other = InetAddress.getByName("127.0.0.2");
    String query = "/v1/kv/cfg?index=" + index + "&wait=30s";
    List<Socket> held = new ArrayList<>();
    try {
      for (int i = 0; i < perClient; i++) {
        held.add(rawGet(base, one, query));
        int n = i + 1;
        await().until(() -> servlet.heldQueries() == n);
      }
      try (Socket refused = rawGet(base, one, query)) {
        assertThat(status(refused)).isEqualTo(429);
      }
      held.add(rawGet(base, other, query)); // another address still gets its query held
      await().until(() -> servlet.heldQueries() == perClient + 1);
      store.put("cfg", "v2");
      for (Socket socket : held) {
        assertThat(status(socket)).isEqualTo(200);
      }
      await().until(() -> servlet.heldQueries() == 0);
    } finally {
      for (Socket socket : held) {
        socket.close();
      }
    }
  }

  // ------------------------------------------------------------ source keys released

  private static PollingWatchSource<Optional<String>> polling(AtomicInteger reads) {
    return PollingWatchSource.<Optional<String>>builder(key -> {
      reads.incrementAndGet();
      return Optional.of("value of " + key);
    }).maxAge(Duration.ofMinutes(10)).build();
  }

  @Test
  void distinctKeysReadThroughTheServletAreReleasedFromTheSource() throws Exception {
    AtomicInteger reads = new AtomicInteger();
    PollingWatchSource<Optional<String>> source = polling(reads);
    BlockingQueryServlet<String> servlet = BlockingQueryServlet.builder(source,
        (String s) -> s.getBytes(StandardCharsets.UTF_8)).releaseKeysAfter(Duration.ZERO).build();
    URI base = serve(servlet).uri();
    int keys = 300;
    for (int i = 0; i < keys; i++) {
      HttpResponse<String> read = http.send(HttpRequest.newBuilder(base.resolve("/v1/kv/k-" + i))
          .GET().build(), HttpResponse.BodyHandlers.ofString());
      assertThat(read.statusCode()).isEqualTo(200);
    }
    assertThat(reads.get()).isEqualTo(keys);
    await().until(() -> source.polledKeys() == 0 && servlet.sourceKeysInUse() == 0);
  }

  @Test
  void concurrentReadsOfFewKeysLeaveNoSourceStateBehind() throws Exception {
    AtomicInteger reads = new AtomicInteger();
    PollingWatchSource<Optional<String>> source = polling(reads);
    BlockingQueryServlet<String> servlet = BlockingQueryServlet.builder(source,
        (String s) -> s.getBytes(StandardCharsets.UTF_8)).releaseKeysAfter(Duration.ZERO)
        .maxConcurrentReads(3).build();
    URI base = serve(servlet).uri();
    int threads = 8;
    int perThread = 60;
    List<CompletableFuture<Void>> workers = new ArrayList<>();
    AtomicInteger served = new AtomicInteger();
    AtomicInteger refused = new AtomicInteger();
    for (int t = 0; t < threads; t++) {
      int seed = t;
      workers.add(CompletableFuture.runAsync(() -> {
        for (int i = 0; i < perThread; i++) {
          try {
            int status = http.send(HttpRequest.newBuilder(base.resolve("/v1/kv/k-" + ((seed + i) % 5)))
                .GET().build(), HttpResponse.BodyHandlers.discarding()).statusCode();
            (status == 200 ? served : refused).incrementAndGet();
            assertThat(status).isIn(200, 429);
          } catch (IOException | InterruptedException e) {
            throw new IllegalStateException(e);
          }
        }
      }, command -> Thread.ofVirtual().start(command)));
    }
    CompletableFuture.allOf(workers.toArray(CompletableFuture[]::new)).get(120, TimeUnit.SECONDS);
    assertThat(served.get() + refused.get()).isEqualTo(threads * perThread);
    assertThat(served.get()).isPositive();
    await().until(() -> source.polledKeys() == 0 && servlet.sourceKeysInUse() == 0
        && servlet.runningReads() == 0 && servlet.upstreamFetches() == 0);
  }

  @Test
  void aKeyIsKeptWhileItsClientsComeBackSoItsIndexHolds() throws Exception {
    AtomicInteger reads = new AtomicInteger();
    PollingWatchSource<Optional<String>> source = polling(reads);
    BlockingQueryServlet<String> servlet = BlockingQueryServlet.builder(source,
        (String s) -> s.getBytes(StandardCharsets.UTF_8)).build(); // default: kept a minute
    URI base = serve(servlet).uri();
    HttpResponse<String> first = http.send(HttpRequest.newBuilder(base.resolve("/v1/kv/cfg"))
        .GET().build(), HttpResponse.BodyHandlers.ofString());
    String index = first.headers().firstValue("X-Consul-Index").orElseThrow();
    CompletableFuture<HttpResponse<String>> next =
        getAsync(base, "/v1/kv/cfg?index=" + index + "&wait=5m");
    await().until(() -> servlet.heldQueries() == 1 || next.isDone());
    assertThat(next).isNotDone(); // the same index: nothing changed, the query is held
    assertThat(source.polledKeys()).isEqualTo(1);
  }

  // ------------------------------------------------------------ loopback writes

  private static int rawPut(URI base, String headers) throws IOException {
    try (Socket socket = new Socket(base.getHost(), base.getPort())) {
      socket.setSoTimeout(60_000);
      socket.getOutputStream().write(("PUT /v1/kv/a HTTP/1.1\r\n" + headers
          + "Content-Length: 4\r\nConnection: close\r\n\r\nevil").getBytes(StandardCharsets.US_ASCII));
      return status(socket);
    }
  }

  @Test
  void loopbackOnlyRefusesAForwardedOrRebindedWrite() throws Exception {
    InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
    long before = store.put("a", "good");
    URI base = serve(BlockingQueryServlet.ofStrings(store)).uri();
    String host = "Host: 127.0.0.1:" + base.getPort() + "\r\n";
    assertThat(rawPut(base, "Host: evil.example\r\n")).isEqualTo(403);
    assertThat(rawPut(base, "Host: rebind.evil:" + base.getPort() + "\r\n")).isEqualTo(403);
    assertThat(rawPut(base, "Host: 127.0.0.1.evil.example\r\n")).isEqualTo(403);
    assertThat(rawPut(base, host + "X-Forwarded-For: 10.0.0.9\r\n")).isEqualTo(403);
    assertThat(rawPut(base, host + "X-Forwarded-For: 127.0.0.1\r\n")).isEqualTo(403);
    assertThat(rawPut(base, host + "Forwarded: for=10.0.0.9\r\n")).isEqualTo(403);
    assertThat(rawPut(base, host + "X-Real-IP: 10.0.0.9\r\n")).isEqualTo(403);
    assertThat(store.get("a").value()).hasValue("good");
    assertThat(store.get("a").index()).isEqualTo(before);
    // local tools name the host by a loopback name: they still write
    assertThat(rawPut(base, "Host: localhost:" + base.getPort() + "\r\n")).isEqualTo(200);
    assertThat(rawPut(base, "Host: [::1]:" + base.getPort() + "\r\n")).isEqualTo(200);
    assertThat(rawPut(base, host)).isEqualTo(200);
    assertThat(store.get("a").value()).hasValue("evil");
  }

  @Test
  void loopbackOnlyRefusesAClaimedAddressOrHostUnderForwardedRequestCustomizer() throws Exception {
    InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
    store.put("a", "good");
    TestJetty jetty = TestJetty.builder().http11().forwarded()
        .servlet(BlockingQueryServlet.ofStrings(store), "/v1/kv/*").start();
    toClose.add(jetty::close);
    URI base = jetty.uri();
    // A remote client would claim loopback; here the claim alone must be refused.
    assertThat(rawPut(base, "Host: 127.0.0.1:" + base.getPort()
        + "\r\nX-Forwarded-For: 127.0.0.1\r\n")).isEqualTo(403);
    assertThat(rawPut(base, "Host: evil.example\r\nX-Forwarded-Host: localhost\r\n"))
        .isEqualTo(403);
    assertThat(rawPut(base, "Host: evil.example\r\nForwarded: for=127.0.0.1;host=localhost\r\n"))
        .isEqualTo(403);
    assertThat(store.get("a").value()).hasValue("good");
    assertThat(rawPut(base, "Host: localhost:" + base.getPort() + "\r\n")).isEqualTo(200);
  }

  // ------------------------------------------------------------ dot segments

  @Test
  void aDotSegmentKeyNeverLeavesTheClient() throws Exception {
    GatedConsul agent = new GatedConsul();
    agent.gate.countDown();
    ServletServer upstream = serve(agent);
    BlockingQueryServlet<KvEntry> servlet = BlockingQueryServlet.builder(
        consulAt(upstream).kvSource(), (KvEntry e) -> e.value() == null ? new byte[0] : e.value())
        .build();
    URI front = serve(servlet).uri();
    for (String path : List.of("/v1/kv/x%2F..%2F..%2Fagent%2Fself", "/v1/kv/x%2F.%2Fy",
        "/v1/kv/x%2F..%2Fy?index=3&wait=1s")) {
      HttpResponse<String> refused = getAsync(front, path).get(60, TimeUnit.SECONDS);
      assertThat(refused.statusCode()).as(path).isEqualTo(400);
      assertThat(refused.body()).doesNotContain("front-token");
    }
    assertThat(agent.paths).isEmpty();
    assertThat(servlet.heldQueries()).isZero();
    assertThat(getAsync(front, "/v1/kv/x%2F...%2Fy").get(60, TimeUnit.SECONDS).statusCode())
        .isEqualTo(404); // "..." is an ordinary segment
    assertThat(agent.paths).containsExactly("/v1/kv/x/.../y");
    assertThatThrownBy(() -> ConsulClient.encodePath("a/../b"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'..'");
    assertThatThrownBy(() -> ConsulClient.builder().datacenter(".."))
        .isInstanceOf(IllegalArgumentException.class);
  }

  // ------------------------------------------------------------ wait=0

  @Test
  void aWaitOfZeroHoldsTheQueryForTheDefaultWaitAsConsulDoes() throws Exception {
    InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
    long index = store.put("cfg", "v1");
    BlockingQueryServlet<String> servlet = BlockingQueryServlet.ofStrings(store);
    URI base = serve(servlet).uri();
    CompletableFuture<HttpResponse<String>> held =
        getAsync(base, "/v1/kv/cfg?index=" + index + "&wait=0s");
    await().until(() -> servlet.heldQueries() == 1 || held.isDone());
    assertThat(held).isNotDone();
    long changed = store.put("cfg", "v2");
    assertThat(held.get(60, TimeUnit.SECONDS).headers().firstValue("X-Consul-Index"))
        .hasValue(Long.toString(changed));
  }

  // ------------------------------------------------------------ a source that overruns

  @Test
  void aQueryHeldOverASourceThatNeverAnswersGets503AfterTheBackstop() throws Exception {
    CountDownLatch interrupted = new CountDownLatch(1);
    WatchSource<Optional<String>> stuck = (key, minIndex, maxWait) -> {
      if (minIndex == 0L) {
        return new Versioned<>(Optional.of("v"), 5L);
      }
      try {
        new CountDownLatch(1).await(); // overruns its wait for good
      } catch (InterruptedException e) {
        interrupted.countDown();
        throw e;
      }
      throw new AssertionError("unreachable");
    };
    BlockingQueryServlet<String> servlet = BlockingQueryServlet.builder(stuck,
        (String s) -> s.getBytes(StandardCharsets.UTF_8)).overrunAllowed(Duration.ofMillis(50))
        .build();
    URI base = serve(servlet).uri();
    HttpResponse<String> answer = getAsync(base, "/v1/kv/cfg?index=5&wait=1s")
        .get(60, TimeUnit.SECONDS);
    assertThat(answer.statusCode()).isEqualTo(503);
    assertThat(answer.headers().firstValue("Retry-After")).hasValue("1");
    assertThat(servlet.heldQueries()).isZero();
    assertThat(interrupted.await(60, TimeUnit.SECONDS)).isTrue(); // its fetch was cancelled
    await().until(() -> servlet.upstreamFetches() == 0);
  }

  // ------------------------------------------------------------ a caller's HttpClient

  /** Answers every request with a redirect to {@code target}. */
  static final class Redirecting extends HttpServlet {
    private static final long serialVersionUID = 1L;
    transient volatile URI target = URI.create("http://127.0.0.1:1");

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) {
      resp.setStatus(302);
      resp.setHeader("Location", target.resolve(req.getRequestURI()).toString());
    }
  }

  /** Records the token header of every request it receives. */
  static final class TokenRecorder extends HttpServlet {
    private static final long serialVersionUID = 1L;
    final transient List<String> tokens = new CopyOnWriteArrayList<>();

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) {
      tokens.add(String.valueOf(req.getHeader("X-Consul-Token")));
      resp.setStatus(404);
      resp.setHeader("X-Consul-Index", "1");
    }
  }

  @Test
  void aRedirectFromTheAgentIsNeverFollowedWithTheToken() throws Exception {
    TokenRecorder elsewhere = new TokenRecorder();
    ServletServer other = ServletServer.builder().servlet("/*", elsewhere).build();
    other.start();
    toClose.add(other);
    Redirecting redirecting = new Redirecting();
    redirecting.target = other.uri();
    ServletServer agent = ServletServer.builder().servlet("/*", redirecting).build();
    agent.start();
    toClose.add(agent);
    ConsulClient consul = consulAt(agent);
    assertThatThrownBy(() -> consul.kvGet("cfg", 0L, Duration.ZERO))
        .isInstanceOf(ConsulException.class);
    assertThatThrownBy(() -> consul.kvGet("cfg", 3L, Duration.ofSeconds(1)))
        .isInstanceOf(ConsulException.class);
    assertThat(elsewhere.tokens).isEmpty();
  }

  /** Sends the headers of a 200 at once, then one byte of its body every 50 ms, for a minute. */
  static final class Dripping extends HttpServlet {
    private static final long serialVersionUID = 1L;

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
      resp.setStatus(200);
      resp.setHeader("X-Consul-Index", "9");
      resp.setContentType("application/json");
      resp.setContentLength(1_200);
      resp.flushBuffer();
      try {
        for (int i = 0; i < 1_200; i++) {
          resp.getOutputStream().write(i == 0 ? '[' : i == 1_199 ? ']' : ' '); // valid: []
          resp.getOutputStream().flush();
          Thread.sleep(50);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (IOException clientGone) {
        // the client cut it off: what the test expects
      }
    }
  }

  @Test
  void aSilentAgentFailsTheRequestAfterItsWaitAndTheMargin() throws Exception {
    GatedConsul silent = new GatedConsul(); // its gate never opens in this test
    ServletServer agent = serve(silent);
    try (ConsulClient consul = ConsulClient.builder().baseUri(agent.uri())
        .readTimeoutMargin(Duration.ofMillis(200)).build()) {
      assertThatThrownBy(() -> consul.kvGet("cfg", 0L, Duration.ZERO))
          .isInstanceOf(ConsulException.class);
      assertThatThrownBy(() -> consul.kvGet("cfg", 4L, Duration.ofMillis(300)))
          .isInstanceOf(ConsulException.class);
      assertThat(silent.paths).hasSize(2);
    } finally {
      silent.gate.countDown();
    }
  }

  @Test
  void anAgentThatDripsItsBodyIsCutOff() throws Exception {
    ServletServer agent = serve(new Dripping());
    try (ConsulClient consul = ConsulClient.builder().baseUri(agent.uri())
        .readTimeoutMargin(Duration.ofMillis(300)).build()) {
      // the headers arrive at once; the body would take a minute
      assertThatThrownBy(() -> consul.kvGet("cfg", 0L, Duration.ZERO))
          .isInstanceOf(ConsulException.class);
    }
  }

  @Test
  void aCallersHttpClientThatFollowsRedirectsIsRefused() {
    try (HttpClient following = HttpClient.newBuilder()
        .followRedirects(HttpClient.Redirect.NORMAL).build()) {
      assertThatThrownBy(() -> ConsulClient.builder().httpClient(following))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("redirects");
    }
  }
}
