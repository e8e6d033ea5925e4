package dev.shepherd.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.shepherd.idempotency.servlet.IdempotencyFilter;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The reference service's request limits, against {@code target/shepherd-demo.jar} started as
 * {@code ./shepherd demo} starts it: JSON bodies are bounded ({@link Json#MAX_BODY}, 413; on
 * {@code /orders} by the idempotency filter, before it buffers the body, nothing stored) and must
 * be {@code application/json} (415, so no cross-site simple request reaches a handler), and event
 * streams are capped ({@link ConfigServlet#MAX_STREAMS}, 429), a closed stream freeing its slot.
 * A request for another {@code Host} (a DNS-rebound page) is 421 and a write from a page of another
 * {@code Origin} 403, before any handler runs ({@link LocalHostFilter}).
 */
class DemoRequestLimitsIT {

  private static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private static DemoProcess service;
  private static String base;

  @BeforeAll
  static void startTheService() throws Exception {
    service = DemoProcess.startOnFreePort("--pool", "local");
    base = service.base();
  }

  @AfterAll
  static void stopTheService() throws Exception {
    if (service != null) {
      service.stop();
    }
  }

  private static HttpResponse<String> post(String path, String contentType, HttpRequest.BodyPublisher body,
      String idempotencyKey) throws Exception {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + path)).POST(body);
    if (contentType != null) {
      request.header("Content-Type", contentType);
    }
    if (idempotencyKey != null) {
      request.header("Idempotency-Key", idempotencyKey);
    }
    return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
  }

  /** A JSON object of exactly {@code size} bytes. */
  private static String jsonOf(int size, String fields) {
    String start = "{" + fields + ",\"pad\":\"";
    return start + "x".repeat(size - start.length() - 2) + "\"}";
  }

  private static void assertTooLarge(HttpResponse<String> response) {
    assertThat(response.statusCode()).as(response.body()).isEqualTo(413);
    assertThat(response.headers().firstValue("Content-Type")).contains("application/problem+json");
    assertThat(response.body()).contains("at most " + Json.MAX_BODY + " bytes");
  }

  /** The filter's own 413: problem type {@code body-too-large}, naming the demo's limit, not a replay. */
  private static void assertRefusedByTheIdempotencyFilter(HttpResponse<String> response) {
    assertThat(response.statusCode()).as(response.body()).isEqualTo(413);
    assertThat(response.headers().firstValue("Content-Type")).contains("application/problem+json");
    assertThat(response.headers().firstValue(IdempotencyFilter.REPLAYED_HEADER)).isEmpty();
    assertThat(response.body())
        .contains(IdempotencyFilter.DEFAULT_PROBLEM_TYPE_BASE.resolve("body-too-large").toString())
        .contains("larger than " + Json.MAX_BODY + " bytes");
  }

  @Test
  void aJsonBodyOverTheLimitIs413NamingTheLimit() throws Exception {
    String justOver = jsonOf(Json.MAX_BODY + 1, "\"upTo\":100");
    assertThat(justOver).hasSize(Json.MAX_BODY + 1);
    assertTooLarge(post("/reports", "application/json", HttpRequest.BodyPublishers.ofString(justOver), null));
    byte[] streamed = jsonOf(16 * 1024, "\"upTo\":100").getBytes(StandardCharsets.UTF_8);
    assertTooLarge(post("/reports", "application/json",
        HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(streamed)), null));
    assertRefusedByTheIdempotencyFilter(post("/orders", "application/json", HttpRequest.BodyPublishers.ofString(
        jsonOf(Json.MAX_BODY + 1, "\"customer\":\"big\",\"product\":\"p\",\"quantity\":1")), "\"too-large-1\""));
    HttpResponse<String> fits = post("/reports", "application/json",
        HttpRequest.BodyPublishers.ofString(jsonOf(Json.MAX_BODY, "\"upTo\":100")), null);
    assertThat(fits.statusCode()).as(fits.body()).isEqualTo(200);
    assertThat(fits.body()).contains("\"primes\":25");
  }

  @Test
  void anOrderOverTheLimitIsRefusedByTheIdempotencyFilterAndNothingIsStoredForItsKey() throws Exception {
    String key = "\"too-large-2\"";
    String order = "\"customer\":\"big\",\"product\":\"p\",\"quantity\":1";
    String over = jsonOf(Json.MAX_BODY + 1, order);
    assertThat(over.length()).as("under the filter's default limit").isLessThan(IdempotencyFilter.DEFAULT_MAX_BODY_SIZE);
    // Refused before the filter buffers it, and again on a retry: no answer was stored to replay.
    assertRefusedByTheIdempotencyFilter(post("/orders", "application/json", HttpRequest.BodyPublishers.ofString(over), key));
    assertRefusedByTheIdempotencyFilter(post("/orders", "application/json", HttpRequest.BodyPublishers.ofString(over), key));
    // The key is still unused: a corrected order with it runs (not 422 key-reused), and its retry replays it.
    String fits = "{" + order + "}";
    HttpResponse<String> created = post("/orders", "application/json", HttpRequest.BodyPublishers.ofString(fits), key);
    assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
    assertThat(created.headers().firstValue(IdempotencyFilter.REPLAYED_HEADER)).isEmpty();
    HttpResponse<String> replayed = post("/orders", "application/json", HttpRequest.BodyPublishers.ofString(fits), key);
    assertThat(replayed.statusCode()).as(replayed.body()).isEqualTo(201);
    assertThat(replayed.headers().firstValue(IdempotencyFilter.REPLAYED_HEADER)).contains("true");
    assertThat(replayed.body()).isEqualTo(created.body());
  }

  @Test
  void aJsonPostThatIsNotApplicationJsonIs415() throws Exception {
    HttpRequest.BodyPublisher report = HttpRequest.BodyPublishers.ofString("{\"upTo\":100}");
    HttpResponse<String> textPlain = post("/reports", "text/plain", report, null);
    assertThat(textPlain.statusCode()).as(textPlain.body()).isEqualTo(415);
    assertThat(textPlain.body()).contains("must be Content-Type: application/json");
    assertThat(post("/reports", "application/x-www-form-urlencoded", report, null).statusCode()).isEqualTo(415);
    assertThat(post("/reports", null, report, null).statusCode()).isEqualTo(415);
    HttpResponse<String> order = post("/orders", "text/plain", HttpRequest.BodyPublishers.ofString(
        "{\"customer\":\"cross-site\",\"product\":\"p\",\"quantity\":1}"), "\"cross-site-1\"");
    assertThat(order.statusCode()).as(order.body()).isEqualTo(415);
  }

  @Test
  void eventStreamsAreCappedAndAStreamWhoseClientLeftFreesItsSlot() throws Exception {
    HttpRequest streamRequest = HttpRequest.newBuilder(URI.create(base + "/config/feature-flags"))
        .header("Accept", "text/event-stream").build();
    List<InputStream> open = new ArrayList<>();
    try {
      for (int i = 0; i < ConfigServlet.MAX_STREAMS; i++) {
        HttpResponse<InputStream> stream = http.send(streamRequest, HttpResponse.BodyHandlers.ofInputStream());
        open.add(stream.body());
        assertThat(stream.statusCode()).as("stream %d", i).isEqualTo(200);
      }
      // The head only: were this one served, its body would never end.
      HttpResponse<InputStream> refused = http.send(streamRequest, HttpResponse.BodyHandlers.ofInputStream());
      open.add(refused.body());
      assertThat(refused.statusCode()).as("one stream more than the cap").isEqualTo(429);
      assertThat(refused.headers().firstValue("Retry-After")).contains("1");
      assertThat(refused.headers().firstValue("Content-Type")).contains("application/problem+json");
      assertThat(new String(refused.body().readAllBytes(), StandardCharsets.UTF_8))
          .contains("at most " + ConfigServlet.MAX_STREAMS);
      // Blocking queries on the same path are not streams: still served.
      assertThat(http.send(HttpRequest.newBuilder(URI.create(base + "/config/feature-flags")).build(),
          HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);

      open.remove(0).close(); // the client goes away without a word
      await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(500)).until(() -> {
        HttpResponse<InputStream> again = http.send(streamRequest, HttpResponse.BodyHandlers.ofInputStream());
        if (again.statusCode() == 200) {
          open.add(again.body());
          return true;
        }
        again.body().close();
        assertThat(again.statusCode()).isEqualTo(429);
        return false;
      });
    } finally {
      for (InputStream body : open) {
        body.close();
      }
    }
  }

  private static HttpResponse<String> get(String path) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(base + path)).build(), HttpResponse.BodyHandlers.ofString());
  }

  /**
   * At most {@link DemoService#MAX_CONNECTIONS} connections are open at once: past it Jetty accepts
   * no more (a flood of idle connections cannot take every file descriptor and selector slot), so
   * a request on one more connection is not answered; once some close, it is. The "not answered"
   * is a 3 s read timeout: without the limit the answer comes at once, and with it nothing can
   * answer before a connection closes (Jetty's idle timeout, 30 s, is far off).
   */
  @Test
  void connectionsPastTheLimitWaitUntilOthersClose() throws Exception {
    int port = service.port();
    List<Socket> idle = new ArrayList<>();
    try {
      // Accepted in the order they connect; the few the tests' HTTP client keeps alive count too.
      // Every 20th asks for an answer before the next connect: the listen backlog holds 50, and a
      // connect past a full backlog waits for the kernel's 1 s SYN retry (they took 8 s unpaced).
      for (int i = 0; i < DemoService.MAX_CONNECTIONS; i++) {
        Socket socket = new Socket();
        socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 5_000);
        idle.add(socket);
        if (i % 20 == 19 && i < DemoService.MAX_CONNECTIONS - 30) {
          assertThat(keptAliveStatus(socket, port)).isEqualTo(200); // so every one before it was accepted
        }
      }
      try (Socket extra = RawHttp.connect(port)) {
        extra.getOutputStream().write(RawHttp.request("GET", "/api/settings", "", "Host: 127.0.0.1:" + port)
            .getBytes(StandardCharsets.UTF_8));
        extra.getOutputStream().flush();
        extra.setSoTimeout(3_000);
        assertThatThrownBy(() -> extra.getInputStream().read()).as("answered past the connection limit")
            .isInstanceOf(SocketTimeoutException.class);
        // Closing the oldest 50 (accepted before anything after them) frees places for the rest.
        for (Socket socket : idle.subList(0, 50)) {
          socket.close();
        }
        extra.setSoTimeout(60_000);
        RawHttp.Answer answer = RawHttp.read(extra.getInputStream());
        assertThat(answer.status()).as(answer.text()).isEqualTo(200);
      }
    } finally {
      for (Socket socket : idle) {
        socket.close();
      }
    }
  }

  /** Sends a GET on {@code socket}, keeping it open, and reads the answer's status and body. */
  private static int keptAliveStatus(Socket socket, int port) throws Exception {
    socket.setSoTimeout(60_000);
    socket.getOutputStream().write(("GET /api/settings HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n\r\n")
        .getBytes(StandardCharsets.UTF_8));
    socket.getOutputStream().flush();
    InputStream in = socket.getInputStream();
    StringBuilder head = new StringBuilder();
    while (!head.toString().endsWith("\r\n\r\n")) {
      int b = in.read();
      assertThat(b).as("the answer's head so far: %s", head).isNotNegative();
      head.append((char) b);
    }
    int length = head.toString().lines().filter(l -> l.regionMatches(true, 0, "Content-Length:", 0, 15))
        .map(l -> Integer.parseInt(l.substring(15).trim())).findFirst().orElseThrow();
    assertThat(in.readNBytes(length)).hasSize(length);
    return Integer.parseInt(head.toString().split(" ", 3)[1]);
  }

  @Test
  void aRequestForAnotherHostIsRefused() throws Exception {
    int port = service.port();
    String rebound = "Host: rebind.evil:" + port;
    String run = "{\"callers\":10}";
    RawHttp.Answer start = RawHttp.exchange(port, RawHttp.request("POST", "/playground/run/cache", run,
        rebound, "Content-Type: application/json"));
    assertThat(start.status()).as(start.text()).isEqualTo(421);
    assertThat(start.header("Content-Type")).hasValueSatisfying(t -> assertThat(t).startsWith("application/problem+json"));
    assertThat(start.body()).contains("not Host: rebind.evil:" + port);
    assertThat(get("/api/playground/cache").body()).as("no run started").contains("\"state\":\"never\"");

    HttpResponse<String> before = get("/config/feature-flags");
    assertThat(before.statusCode()).isEqualTo(200);
    RawHttp.Answer put = RawHttp.exchange(port, RawHttp.request("PUT", "/config/feature-flags",
        "{\"checkout-v2\":\"rebound\"}", rebound));
    assertThat(put.status()).as(put.text()).isEqualTo(421);
    HttpResponse<String> after = get("/config/feature-flags");
    assertThat(after.body()).as("value unchanged").isEqualTo(before.body());
    assertThat(after.headers().firstValue("X-Consul-Index")).isEqualTo(before.headers().firstValue("X-Consul-Index"));

    // Reads too: a rebound page could otherwise read the figures and the metrics.
    assertThat(RawHttp.exchange(port, RawHttp.request("GET", "/api/stats", "", rebound)).status()).isEqualTo(421);
    assertThat(RawHttp.exchange(port, RawHttp.request("GET", "/metrics", "", "Host: 127.0.0.1")).status())
        .as("the right host on another port").isEqualTo(421);
    // The names of this service are served, in any letter case.
    RawHttp.Answer local = RawHttp.exchange(port, RawHttp.request("GET", "/api/stats", "", "Host: LocalHost:" + port));
    assertThat(local.status()).as(local.text()).isEqualTo(200);
    assertThat(RawHttp.exchange(port, RawHttp.request("GET", "/api/playground/cache", "", "Host: 127.0.0.1:" + port))
        .status()).isEqualTo(200);
  }

  @Test
  void aWriteFromAPageOfAnotherOriginIsRefused() throws Exception {
    int port = service.port();
    String host = "Host: 127.0.0.1:" + port;
    String report = "{\"upTo\":100}";
    RawHttp.Answer foreign = RawHttp.exchange(port, RawHttp.request("POST", "/reports", report,
        host, "Content-Type: application/json", "Origin: http://rebind.evil:" + port));
    assertThat(foreign.status()).as(foreign.text()).isEqualTo(403);
    assertThat(foreign.body()).contains("not Origin: http://rebind.evil:" + port);
    assertThat(RawHttp.exchange(port, RawHttp.request("PUT", "/config/feature-flags", "x", host, "Origin: null"))
        .status()).isEqualTo(403);
    // The dashboard's own page sends its origin: served.
    RawHttp.Answer own = RawHttp.exchange(port, RawHttp.request("POST", "/reports", report,
        host, "Content-Type: application/json", "Origin: http://localhost:" + port));
    assertThat(own.status()).as(own.text()).isEqualTo(200);
    assertThat(own.body()).contains("\"primes\":25");
  }
}
