package dev.shepherd.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.idempotency.servlet.IdempotencyFilter;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
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
}
