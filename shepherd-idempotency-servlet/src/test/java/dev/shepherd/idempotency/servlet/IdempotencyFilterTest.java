package dev.shepherd.idempotency.servlet;

import static dev.shepherd.idempotency.servlet.Http.ascii;
import static dev.shepherd.idempotency.servlet.Http.assertProblem;
import static dev.shepherd.idempotency.servlet.Http.concat;
import static dev.shepherd.idempotency.servlet.Http.headersWithout;
import static dev.shepherd.idempotency.servlet.Http.text;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.idempotency.FailurePolicy;
import dev.shepherd.idempotency.ForwardingIdempotencyStore;
import dev.shepherd.idempotency.IdempotencyStoreException;
import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.InMemoryIdempotencyStore;
import jakarta.servlet.Filter;
import jakarta.servlet.http.HttpServletResponse;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The filter on a real Jetty 12 with java.net.http, one behaviour per test. */
class IdempotencyFilterTest {

  private static final String KEY = "\"8e03978e-40d5-43e8-bc93-6894a57f9324\"";

  private final TestServlet servlet = new TestServlet();
  private IdempotencyTracker tracker;
  private JettyApp app;

  private JettyApp start(Consumer<IdempotencyFilter.Builder> configure) throws Exception {
    return start(FailurePolicy.HALT, configure);
  }

  private JettyApp start(FailurePolicy failurePolicy, Consumer<IdempotencyFilter.Builder> configure)
      throws Exception {
    return start(IdempotencyTracker.builder()
        .store(InMemoryIdempotencyStore.create())
        .failurePolicy(failurePolicy), configure);
  }

  /** Most tests send anonymous requests: they opt into the shared anonymous scope. */
  private JettyApp start(IdempotencyTracker.Builder trackerBuilder,
      Consumer<IdempotencyFilter.Builder> configure) throws Exception {
    tracker = trackerBuilder.build();
    servlet.tracker = tracker;
    IdempotencyFilter.Builder builder = IdempotencyFilter.builder(tracker).allowAnonymous(true);
    configure.accept(builder);
    app = new JettyApp(builder.build(), servlet);
    return app;
  }

  @AfterEach
  void stop() throws Exception {
    servlet.gate.countDown();
    if (app != null) {
      app.close();
    }
    if (tracker != null) {
      tracker.close();
    }
  }

  // ---- the first request and its replay -----------------------------------------------------

  @Test
  void replayCarriesOriginalStatusHeadersAndBodyWithoutSetCookie() throws Exception {
    start(b -> {});
    HttpResponse<byte[]> first = app.send(app.post("/orders", KEY, "{\"qty\":3}").build());
    HttpResponse<byte[]> replay = app.send(app.post("/orders", KEY, "{\"qty\":3}").build());

    assertThat(first.statusCode()).isEqualTo(201);
    assertThat(first.headers().allValues("Set-Cookie")).hasSize(1);
    assertThat(first.headers().firstValue("Idempotent-Replayed")).isEmpty();
    assertThat(replay.statusCode()).isEqualTo(201);
    assertThat(replay.body()).isEqualTo(first.body());
    assertThat(text(replay)).isEqualTo("{\"run\":1,\"echo\":9}");
    assertThat(replay.headers().firstValue("Idempotent-Replayed")).hasValue("true");
    assertThat(replay.headers().allValues("Set-Cookie")).isEmpty();
    assertThat(replay.headers().allValues("X-Multi")).containsExactly("a", "b");
    assertThat(headersWithout(replay, "Idempotent-Replayed"))
        .isEqualTo(headersWithout(first, "Set-Cookie"));
    assertThat(servlet.runs("/orders")).isEqualTo(1);
  }

  @Test
  void replayKeepsTheHeadersOuterFiltersSetForTheRetryAndReplaysTheApplicationsOwn()
      throws Exception {
    AtomicInteger requests = new AtomicInteger();
    Filter outer = (req, res, chain) -> {
      HttpServletResponse response = (HttpServletResponse) res;
      response.setHeader("X-Request-Id", "req-" + requests.incrementAndGet());
      response.setHeader("Access-Control-Allow-Origin", "https://shop.example");
      response.setContentType("text/plain"); // a default that the application replaces
      chain.doFilter(req, res);
    };
    tracker = IdempotencyTracker.builder().store(InMemoryIdempotencyStore.create()).build();
    servlet.tracker = tracker;
    app = new JettyApp(
        List.of(outer, IdempotencyFilter.builder(tracker).allowAnonymous(true).build()), servlet);

    HttpResponse<byte[]> first = app.send(app.post("/orders", KEY, "{}").build());
    HttpResponse<byte[]> replay = app.send(app.post("/orders", KEY, "{}").build());

    assertThat(first.headers().allValues("X-Request-Id")).containsExactly("req-1");
    assertThat(replay.headers().firstValue("Idempotent-Replayed")).hasValue("true");
    assertThat(replay.headers().allValues("X-Request-Id")).containsExactly("req-2");
    assertThat(replay.headers().allValues("Access-Control-Allow-Origin"))
        .containsExactly("https://shop.example");
    assertThat(replay.headers().allValues("X-Order-Id")).containsExactly("order-1");
    assertThat(replay.headers().allValues("X-Multi")).containsExactly("a", "b");
    assertThat(replay.headers().allValues("Content-Type")).containsExactly("application/json");
    assertThat(replay.body()).isEqualTo(first.body());
    assertThat(servlet.runs("/orders")).isEqualTo(1);
  }

  @Test
  void customDenyListReplacesTheDefault() throws Exception {
    start(b -> b.replayDenyList(List.of("x-order-id")));
    app.send(app.post("/orders", KEY, "x").build());
    HttpResponse<byte[]> replay = app.send(app.post("/orders", KEY, "x").build());

    assertThat(replay.headers().firstValue("X-Order-Id")).isEmpty();
    assertThat(replay.headers().allValues("Set-Cookie")).containsExactly("session=s1; HttpOnly");
  }

  @Test
  void writerResponseIsReplayedByteForByteWithItsCharset() throws Exception {
    start(b -> {});
    HttpResponse<byte[]> first = app.send(app.post("/writer", KEY, "x").build());
    HttpResponse<byte[]> replay = app.send(app.post("/writer", KEY, "x").build());

    assertThat(first.statusCode()).isEqualTo(200);
    assertThat(text(first)).isEqualTo("grüße, run 1 — ünïcødé ✓");
    assertThat(first.headers().firstValue("Content-Type").orElseThrow())
        .containsIgnoringCase("charset=utf-8");
    assertThat(replay.body()).isEqualTo(first.body());
    assertThat(headersWithout(replay, "Idempotent-Replayed")).isEqualTo(headersWithout(first));
    assertThat(servlet.runs("/writer")).isEqualTo(1);
  }

  @Test
  void sendErrorIsReplayedAsTheSameErrorPage() throws Exception {
    start(b -> {});
    HttpResponse<byte[]> first = app.send(app.post("/teapot", KEY, "x").build());
    HttpResponse<byte[]> replay = app.send(app.post("/teapot", KEY, "x").build());

    assertThat(first.statusCode()).isEqualTo(418);
    assertThat(text(first)).contains("short and stout 1");
    assertThat(replay.statusCode()).isEqualTo(418);
    assertThat(replay.body()).isEqualTo(first.body());
    assertThat(replay.headers().firstValue("Idempotent-Replayed")).hasValue("true");
    assertThat(servlet.runs("/teapot")).isEqualTo(1);
  }

  @Test
  void redirectIsStoredAndReplayed() throws Exception {
    start(b -> {});
    HttpResponse<byte[]> first = app.send(app.post("/redirect", KEY, "x").build());
    HttpResponse<byte[]> replay = app.send(app.post("/redirect", KEY, "x").build());

    assertThat(first.statusCode()).isEqualTo(302);
    assertThat(first.headers().firstValue("Location").orElseThrow()).endsWith("/orders/1");
    assertThat(replay.statusCode()).isEqualTo(302);
    assertThat(replay.headers().firstValue("Location")).isEqualTo(
        first.headers().firstValue("Location"));
    assertThat(servlet.runs("/redirect")).isEqualTo(1);
  }

  /**
   * A redirect is held like any response until it is stored: if storing fails, the client gets
   * 503, not a redirect the key's outcome might never match; a retry then replays the redirect.
   */
  @Test
  void redirectIsHeldUntilStoredSoAStoreFailureAnswers503NotTheRedirect() throws Exception {
    CompleteSwitch store = new CompleteSwitch(InMemoryIdempotencyStore.create());
    store.failing = true;
    start(IdempotencyTracker.builder().store(store).completionRetry(Duration.ZERO)
        .lease(Duration.ofSeconds(3)), b -> {});
    HttpResponse<byte[]> first = app.send(app.post("/redirect", KEY, "x").build());
    assertProblem(first, 503, "store-unavailable");
    assertThat(first.headers().firstValue("Location")).isEmpty();

    store.failing = false; // the tracker stores the held response on a later heartbeat
    HttpResponse<byte[]> replay = await().atMost(Duration.ofSeconds(30))
        .until(() -> app.send(app.post("/redirect", KEY, "x").build()), r -> r.statusCode() != 409);
    assertThat(replay.statusCode()).isEqualTo(302);
    assertThat(replay.headers().firstValue("Location").orElseThrow())
        .isEqualTo("http://127.0.0.1:" + app.port() + "/orders/1");
    assertThat(replay.headers().firstValue("Idempotent-Replayed")).hasValue("true");
    assertThat(servlet.runs("/redirect")).isEqualTo(1);
  }

  /** A store whose completes fail while {@code failing} is set. */
  private static final class CompleteSwitch extends ForwardingIdempotencyStore {
    volatile boolean failing;

    CompleteSwitch(dev.shepherd.idempotency.IdempotencyStore delegate) {
      super(delegate);
    }

    @Override
    public boolean complete(String key, long token, dev.shepherd.idempotency.StoredResponse response,
        Duration retention) {
      if (failing) {
        throw new IdempotencyStoreException("store does not answer", null);
      }
      return super.complete(key, token, response, retention);
    }
  }

  /**
   * flush() and flushBuffer() do not reach the client while the body is held: /writer flushes
   * half its body, and when storing then fails the client gets only the 503, nothing of it.
   */
  @Test
  void flushedBodyIsStillHeldSoAStoreFailureAnswers503WithNoneOfIt() throws Exception {
    CompleteSwitch store = new CompleteSwitch(InMemoryIdempotencyStore.create());
    store.failing = true;
    start(IdempotencyTracker.builder().store(store).completionRetry(Duration.ZERO), b -> {});
    HttpResponse<byte[]> response = app.send(app.post("/writer", KEY, "x").build());

    assertProblem(response, 503, "store-unavailable");
    assertThat(text(response)).doesNotContain("run 1");
  }

  /** Async requests are out of scope: the claim is released and the response passes through. */
  @Test
  void asyncRequestIsPassedThroughAndItsClaimReleasedSoARetryRunsAgain() throws Exception {
    start(b -> {});
    HttpResponse<byte[]> first = app.send(app.post("/async", KEY, "x").build());
    HttpResponse<byte[]> retry = app.send(app.post("/async", KEY, "x").build());

    assertThat(text(first)).isEqualTo("async run 1");
    assertThat(text(retry)).isEqualTo("async run 2");
    assertThat(retry.headers().firstValue("Idempotent-Replayed")).isEmpty();
  }

  @Test
  void nonBlockingOutputIsRefusedUnderTheFilter() throws Exception {
    start(b -> {});
    HttpResponse<byte[]> response = app.send(app.post("/write-listener", KEY, "x").build());
    assertThat(text(response)).isEqualTo("refused: non-blocking output is not supported under"
        + " IdempotencyFilter (async is out of scope)");
  }

  /** Headers a Connection header names are hop-by-hop (RFC 9110 7.6.1): never replayed. */
  @Test
  void headersNamedInConnectionAreNotReplayed() throws Exception {
    start(b -> {});
    app.send(app.post("/hop-by-hop", KEY, "x").build());
    HttpResponse<byte[]> replay = app.send(app.post("/hop-by-hop", KEY, "x").build());

    assertThat(text(replay)).isEqualTo("hop run 1");
    assertThat(replay.headers().firstValue("Idempotent-Replayed")).hasValue("true");
    assertThat(replay.headers().firstValue("X-Kept")).hasValue("3");
    assertThat(replay.headers().firstValue("X-Hop")).isEmpty();
    assertThat(replay.headers().firstValue("X-Other")).isEmpty();
  }

  @Test
  void resetDiscardsWhatWasWrittenBeforeIt() throws Exception {
    start(b -> {});
    HttpResponse<byte[]> first = app.send(app.post("/reset", KEY, "x").build());
    HttpResponse<byte[]> replay = app.send(app.post("/reset", KEY, "x").build());

    assertThat(first.statusCode()).isEqualTo(202);
    assertThat(text(first)).isEqualTo("kept 1");
    assertThat(first.headers().firstValue("X-Discarded")).isEmpty();
    assertThat(replay.statusCode()).isEqualTo(202);
    assertThat(replay.body()).isEqualTo(first.body());
  }

  @Test
  void writerAfterOutputStreamIsRefusedAsByTheContainer() throws Exception {
    start(b -> {});
    HttpResponse<byte[]> response = app.send(app.post("/mixed", KEY, "x").build());
    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(text(response)).isEqualTo("ab");
  }

  @Test
  void formParametersReachTheApplicationAfterTheFilterReadTheBody() throws Exception {
    start(b -> {});
    HttpResponse<byte[]> response = app.send(HttpRequest.newBuilder(app.uri("/form?b=2"))
        .header("Idempotency-Key", KEY)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .POST(HttpRequest.BodyPublishers.ofString("a=1%2B1"))
        .build());

    assertThat(text(response)).isEqualTo("a=1+1 b=2");
  }

  /**
   * The filter parses form bodies itself, so it applies the container's form limits: a body of
   * many tiny fields ("a1=&a2=&...") would otherwise cost a map entry per few bytes.
   */
  @Test
  void formWithMoreFieldsThanTheLimitIs413BeforeAnythingRunsOrIsStored() throws Exception {
    start(b -> {});
    HttpResponse<byte[]> tooMany = app.send(form("\"many\"", fields(1001)));
    HttpResponse<byte[]> atTheLimit = app.send(form("\"enough\"", fields(1000)));
    HttpResponse<byte[]> retry = app.send(form("\"many\"", fields(1000)));

    assertProblem(tooMany, 413, "form-too-large");
    assertThat(text(tooMany)).contains("1001 fields").contains("at most 200000 bytes and 1000");
    assertThat(text(atTheLimit)).isEqualTo("a=null b=null");
    assertThat(retry.statusCode()).isEqualTo(200); // nothing was stored for the refused one
    assertThat(servlet.runs("/form")).isEqualTo(2);
  }

  @Test
  void formLargerThanTheFormSizeLimitIs413() throws Exception {
    start(b -> b.maxFormContentSize(100).maxFormKeys(3));
    assertProblem(app.send(form("\"big\"", "a=" + "x".repeat(99))), 413, "form-too-large");
    assertProblem(app.send(form("\"keys\"", "a=1&b=2&c=3&d=4")), 413, "form-too-large");
    assertThat(text(app.send(form("\"ok\"", "a=1&&b=2&c=3&")))).isEqualTo("a=1 b=2");
    assertThat(servlet.runs("/form")).isEqualTo(1);
  }

  private HttpRequest form(String key, String body) {
    return HttpRequest.newBuilder(app.uri("/form"))
        .header("Idempotency-Key", key)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .POST(HttpRequest.BodyPublishers.ofString(body))
        .build();
  }

  private static String fields(int n) {
    StringBuilder body = new StringBuilder();
    for (int i = 1; i <= n; i++) {
      body.append(i == 1 ? "" : "&").append('f').append(i).append('=');
    }
    return body.toString();
  }

  // ---- 5xx and exceptions -----------------------------------------------------------------------

  @Test
  void applicationFiveHundredIsStoredAndReplayedByDefault() throws Exception {
    start(b -> {});
    HttpResponse<byte[]> first = app.send(app.post("/unavailable", KEY, "x").build());
    HttpResponse<byte[]> replay = app.send(app.post("/unavailable", KEY, "x").build());

    assertThat(first.statusCode()).isEqualTo(503);
    assertThat(replay.statusCode()).isEqualTo(503);
    assertThat(text(replay)).isEqualTo("down on run 1");
    assertThat(replay.headers().firstValue("Idempotent-Replayed")).hasValue("true");
    assertThat(servlet.runs("/unavailable")).isEqualTo(1);
  }

  @Test
  void applicationFiveHundredThatIsNotStoredCompletesTheKeyWithANotKeptMarker() throws Exception {
    start(b -> b.store5xx(false));
    HttpResponse<byte[]> first = app.send(app.post("/unavailable", KEY, "x").build());
    HttpResponse<byte[]> second = app.send(app.post("/unavailable", KEY, "x").build());

    assertThat(text(first)).isEqualTo("down on run 1");
    assertProblem(second, 503, "response-not-kept");
    assertThat(text(second)).contains("answered 503").contains("5xx responses are not stored")
        .contains("\"status\":503");
    assertThat(second.headers().firstValue("Idempotent-Replayed")).hasValue("true");
    assertThat(servlet.runs("/unavailable")).isEqualTo(1);
  }

  @Test
  void applicationFiveHundredIsReleasedWhenNotStoredAndReleaseIsOptedInto() throws Exception {
    start(b -> b.store5xx(false).releaseUnstored(true));
    HttpResponse<byte[]> first = app.send(app.post("/unavailable", KEY, "x").build());
    HttpResponse<byte[]> second = app.send(app.post("/unavailable", KEY, "x").build());

    assertThat(text(first)).isEqualTo("down on run 1");
    assertThat(text(second)).isEqualTo("down on run 2");
    assertThat(second.headers().firstValue("Idempotent-Replayed")).isEmpty();
  }

  @Test
  void handlerExceptionHaltsTheKeyAndRetriesGetProblem500() throws Exception {
    start(b -> {});
    HttpResponse<byte[]> first = app.send(app.post("/boom", KEY, "x").build());
    HttpResponse<byte[]> retry = app.send(app.post("/boom", KEY, "x").build());

    assertThat(first.statusCode()).isEqualTo(500);
    assertProblem(retry, 500, "request-failed");
    assertThat(text(retry)).doesNotContain("handler failed");
    assertThat(servlet.runs("/boom")).isEqualTo(1);
  }

  @Test
  void handlerExceptionUnderReleasePolicyRunsAgain() throws Exception {
    start(FailurePolicy.RELEASE, b -> {});
    app.send(app.post("/boom", KEY, "x").build());
    HttpResponse<byte[]> retry = app.send(app.post("/boom", KEY, "x").build());

    assertThat(retry.statusCode()).isEqualTo(500);
    assertThat(servlet.runs("/boom")).isEqualTo(2);
  }

  // ---- 400 --------------------------------------------------------------------------------------

  @Test
  void missingKeyIs400WhereRequired() throws Exception {
    start(b -> {});
    assertProblem(app.send(app.post("/orders", null, "x").build()), 400, "key-missing");
    assertThat(servlet.runs("/orders")).isZero();
  }

  @Test
  void severalKeyHeadersAre400() throws Exception {
    start(b -> {});
    HttpResponse<byte[]> response = app.send(app.post("/orders", "\"a\"", "x")
        .header("Idempotency-Key", "\"b\"").build());
    assertProblem(response, 400, "key-several");
  }

  @Test
  void listInOneHeaderIs400() throws Exception {
    start(b -> {});
    assertProblem(app.send(app.post("/orders", "\"a\", \"b\"", "x").build()), 400,
        "key-malformed");
  }

  @Test
  void unquotedKeyIs400InStrictMode() throws Exception {
    start(b -> {});
    assertProblem(app.send(app.post("/orders", "8e03978e-40d5", "x").build()), 400,
        "key-malformed");
  }

  @Test
  void unquotedKeyIsAcceptedInLenientModeAndEqualsItsQuotedForm() throws Exception {
    start(b -> b.lenient(true));
    HttpResponse<byte[]> bare = app.send(app.post("/orders", "8e03978e-40d5", "x").build());
    HttpResponse<byte[]> quoted = app.send(app.post("/orders", "\"8e03978e-40d5\"", "x").build());

    assertThat(bare.statusCode()).isEqualTo(201);
    assertThat(quoted.headers().firstValue("Idempotent-Replayed")).hasValue("true");
  }

  @Test
  void emptyKeyIs400() throws Exception {
    start(b -> {});
    assertProblem(app.send(app.post("/orders", "\"\"", "x").build()), 400, "key-malformed");
  }

  @Test
  void tenKilobyteKeyIs400() throws Exception {
    start(b -> {});
    HttpResponse<byte[]> response =
        app.send(app.post("/orders", "\"" + "k".repeat(10_240) + "\"", "x").build());
    assertProblem(response, 400, "key-malformed");
    assertThat(text(response)).contains("10240 characters");
  }

  @Test
  void nonAsciiKeyBytesAre400() throws Exception {
    start(b -> {});
    byte[] request = concat(
        ascii("POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
            + "Content-Length: 1\r\nConnection: close\r\nIdempotency-Key: \"k"),
        new byte[] {(byte) 0xC3, (byte) 0x28, (byte) 0xFF, (byte) 0x80},
        ascii("\"\r\n\r\nx"));
    String response = Http.raw(app.port(), request);

    assertThat(response).startsWith("HTTP/1.1 400");
    assertThat(response).contains("application/problem+json").contains("key-malformed");
    assertThat(servlet.runs("/orders")).isZero();
  }

  @Test
  void invalidEscapeIs400() throws Exception {
    start(b -> {});
    assertProblem(app.send(app.post("/orders", "\"a\\nb\"", "x").build()), 400, "key-malformed");
  }

  // ---- 413 --------------------------------------------------------------------------------------

  @Test
  void bodyOverTheLimitIs413AndNothingIsStored() throws Exception {
    start(b -> b.maxBodySize(1024));
    HttpResponse<byte[]> tooLarge = app.send(app.post("/orders", KEY, "x".repeat(1025)).build());
    assertProblem(tooLarge, 413, "body-too-large");
    assertThat(servlet.runs("/orders")).isZero();

    HttpResponse<byte[]> fits = app.send(app.post("/orders", KEY, "x".repeat(1024)).build());
    assertThat(fits.statusCode()).isEqualTo(201);
    assertThat(fits.headers().firstValue("Idempotent-Replayed")).isEmpty();
  }

  @Test
  void chunkedBodyOverTheLimitIs413() throws Exception {
    start(b -> b.maxBodySize(1024));
    byte[] chunk = "y".repeat(600).getBytes(StandardCharsets.US_ASCII);
    HttpResponse<byte[]> response = app.send(HttpRequest.newBuilder(app.uri("/orders"))
        .header("Idempotency-Key", KEY)
        .POST(HttpRequest.BodyPublishers.ofByteArrays(List.of(chunk, chunk)))
        .build());
    assertProblem(response, 413, "body-too-large");
    assertThat(servlet.runs("/orders")).isZero();
  }

  @Test
  void responseOverTheStorageLimitIsPassedThroughAndARetryLearnsItWasNotKeptWithoutARun()
      throws Exception {
    start(b -> b.maxStoredResponseSize(100_000));
    HttpResponse<byte[]> first = app.send(app.post("/big", KEY, "x").build());
    HttpResponse<byte[]> second = app.send(app.post("/big", KEY, "x").build());

    assertThat(first.body()).hasSize(64 * 8192);
    assertThat(first.body()[63 * 8192]).isEqualTo((byte) 63);
    assertProblem(second, 200, "response-not-kept");
    assertThat(text(second)).contains("larger than the storage limit of 100000 bytes");
    assertThat(second.headers().firstValue("Idempotent-Replayed")).hasValue("true");
    assertThat(servlet.runs("/big")).isEqualTo(1);
  }

  @Test
  void responseOverTheStorageLimitIsReleasedWhenReleaseIsOptedInto() throws Exception {
    start(b -> b.maxStoredResponseSize(100_000).releaseUnstored(true));
    app.send(app.post("/big", KEY, "x").build());
    HttpResponse<byte[]> second = app.send(app.post("/big", KEY, "x").build());

    assertThat(second.body()).hasSize(64 * 8192);
    assertThat(second.headers().firstValue("Idempotent-Replayed")).isEmpty();
    assertThat(servlet.runs("/big")).isEqualTo(2);
  }

  /**
   * A client that disconnects while a response too large to store is streamed makes the
   * container's stream throw in the handler; the handler did run (its effects happened), so the key
   * is completed as "not kept", never failed: under {@code FailurePolicy.RELEASE} a failure would
   * let the retry run the request a second time.
   */
  @Test
  void clientDisconnectingDuringAStreamedResponseIsNotAFailureSoARetryDoesNotRunAgain()
      throws Exception {
    start(FailurePolicy.RELEASE,
        b -> b.maxStoredResponseSize(1000).waitForInFlight(Duration.ofSeconds(60)));
    try (Socket socket = new Socket("127.0.0.1", app.port())) {
      socket.setSoTimeout(30_000);
      socket.getOutputStream().write(("POST /abort HTTP/1.1\r\nHost: 127.0.0.1\r\n"
          + "Idempotency-Key: " + KEY + "\r\nContent-Type: application/json\r\n"
          + "Content-Length: 1\r\n\r\nx")
          .getBytes(StandardCharsets.US_ASCII));
      socket.getOutputStream().flush();
      assertThat(servlet.entered.await(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
      assertThat(socket.getInputStream().read()).isEqualTo('H'); // the streamed response began
      socket.setSoLinger(true, 0); // close with a reset, as a client that gives up does
    }
    servlet.gate.countDown();
    await().atMost(Duration.ofSeconds(60)).until(() -> servlet.streamFailure.get() != null);

    HttpResponse<byte[]> retry = app.send(app.post("/abort", KEY, "x").build());
    assertProblem(retry, 200, "response-not-kept");
    assertThat(text(retry)).contains("the client disconnected while the response was streamed");
    assertThat(servlet.runs("/abort")).isEqualTo(1);
  }

  // ---- 409, 422, waiting ------------------------------------------------------------------------

  @Test
  void duplicateWhileInProgressIs409WithRetryAfter() throws Exception {
    start(b -> b.retryAfter(Duration.ofMillis(1500)));
    CompletableFuture<HttpResponse<byte[]>> first =
        app.client.sendAsync(app.post("/slow", KEY, "x").build(),
            HttpResponse.BodyHandlers.ofByteArray());
    servlet.entered.await();

    HttpResponse<byte[]> duplicate = app.send(app.post("/slow", KEY, "x").build());
    assertProblem(duplicate, 409, "in-progress");
    assertThat(duplicate.headers().firstValue("Retry-After")).hasValue("2");

    servlet.gate.countDown();
    assertThat(first.get().statusCode()).isEqualTo(201);
    assertThat(servlet.runs("/slow")).isEqualTo(1);
  }

  @Test
  void waitModeReplaysTheInFlightResponseInsteadOf409() throws Exception {
    start(b -> b.waitForInFlight(Duration.ofSeconds(30)));
    CompletableFuture<HttpResponse<byte[]>> first =
        app.client.sendAsync(app.post("/slow", KEY, "x").build(),
            HttpResponse.BodyHandlers.ofByteArray());
    servlet.entered.await();
    CompletableFuture<HttpResponse<byte[]>> duplicate =
        app.client.sendAsync(app.post("/slow", KEY, "x").build(),
            HttpResponse.BodyHandlers.ofByteArray());

    servlet.gate.countDown();
    assertThat(text(first.get())).isEqualTo("slow run 1");
    assertThat(duplicate.get().statusCode()).isEqualTo(201);
    assertThat(text(duplicate.get())).isEqualTo("slow run 1");
    assertThat(duplicate.get().headers().firstValue("Idempotent-Replayed")).hasValue("true");
    assertThat(servlet.runs("/slow")).isEqualTo(1);
  }

  @Test
  void waitModeGives409WhenTheWaitRunsOut() throws Exception {
    start(b -> b.waitForInFlight(Duration.ofMillis(50)));
    app.client.sendAsync(app.post("/slow", KEY, "x").build(),
        HttpResponse.BodyHandlers.ofByteArray());
    servlet.entered.await();

    assertProblem(app.send(app.post("/slow", KEY, "x").build()), 409, "in-progress");
  }

  @Test
  void sameKeyWithAnotherBodyIs422() throws Exception {
    start(b -> {});
    app.send(app.post("/orders", KEY, "{\"qty\":3}").build());
    assertProblem(app.send(app.post("/orders", KEY, "{\"qty\":4}").build()), 422, "key-reused");
  }

  @Test
  void sameKeyOnAnotherPathIs422() throws Exception {
    start(b -> {});
    app.send(app.post("/orders", KEY, "x").build());
    assertProblem(app.send(app.post("/other", KEY, "x").build()), 422, "key-reused");
  }

  @Test
  void sameKeyWithAnotherQueryOrContentTypeIs422() throws Exception {
    start(b -> {});
    app.send(app.post("/orders", KEY, "x").build());
    assertProblem(app.send(app.post("/orders?dry=1", KEY, "x").build()), 422, "key-reused");
    assertProblem(app.send(app.post("/orders", KEY, "x").setHeader("Content-Type", "text/plain")
        .build()), 422, "key-reused");
  }

  @Test
  void fingerprintWithoutBodyReplaysAnotherBody() throws Exception {
    start(b -> b.fingerprinter(RequestFingerprinter.of(
        EnumSet.of(FingerprintPart.METHOD, FingerprintPart.PATH))));
    app.send(app.post("/orders", KEY, "{\"qty\":3}").build());
    HttpResponse<byte[]> replay = app.send(app.post("/orders", KEY, "{\"qty\":4}").build());

    assertThat(replay.headers().firstValue("Idempotent-Replayed")).hasValue("true");
  }

  // ---- scoping, methods and paths ---------------------------------------------------------------

  @Test
  void anonymousRequestIsRefusedUnlessSharingTheAnonymousScopeIsOptedInto() throws Exception {
    start(b -> b.allowAnonymous(false));
    HttpResponse<byte[]> anonymous = app.send(app.post("/orders", KEY, "x").build());

    assertProblem(anonymous, 400, "principal-missing");
    assertThat(servlet.runs("/orders")).isZero();
  }

  @Test
  void byDefaultUserBCannotReplayUserAsResponseNorIsAnonymousAccepted() throws Exception {
    start(b -> b.allowAnonymous(false).principalResolver(PrincipalResolver.header("X-User")));
    HttpResponse<byte[]> alice = app.send(app.post("/orders", KEY, "x").header("X-User", "alice")
        .build());
    HttpResponse<byte[]> bob = app.send(app.post("/orders", KEY, "x").header("X-User", "bob")
        .build());
    HttpResponse<byte[]> nobody = app.send(app.post("/orders", KEY, "x").build());

    assertThat(text(alice)).contains("\"run\":1");
    assertThat(text(bob)).contains("\"run\":2");
    assertThat(bob.headers().firstValue("Idempotent-Replayed")).isEmpty();
    assertProblem(nobody, 400, "principal-missing");
  }

  // ---- the handler sees its claim; a lost claim never sends a success -------------------------

  @Test
  void handlerSeesItsClaimAndFencingTokenAsRequestAttributes() throws Exception {
    start(b -> {});
    HttpResponse<byte[]> response = app.send(app.post("/token", KEY, "x").build());

    String[] parts = text(response).split(" ");
    assertThat(Long.parseLong(parts[0])).isPositive();
    assertThat(parts[1]).isEqualTo(parts[0]); // the claim's token is the attribute's
    assertThat(parts[2]).isEqualTo("held");
  }

  @Test
  void ownerWhoseLeaseLapsedAndWasTakenOverAnswers409LeaseLostNotItsSuccess() throws Exception {
    RenewalSwitch renewals = new RenewalSwitch(InMemoryIdempotencyStore.create());
    start(IdempotencyTracker.builder().store(renewals).lease(Duration.ofMillis(300)), b -> {});
    CompletableFuture<HttpResponse<byte[]>> first = app.client.sendAsync(
        app.post("/slow", KEY, "x").build(), HttpResponse.BodyHandlers.ofByteArray());
    servlet.entered.await();
    renewals.failing = true; // the store stops confirming the first owner's lease

    // A retry is told 409 until the lease lapses, then takes the key over and runs.
    CompletableFuture<HttpResponse<byte[]>> second = null;
    while (servlet.runs("/slow") < 2) {
      CompletableFuture<HttpResponse<byte[]>> attempt = app.client.sendAsync(
          app.post("/slow", KEY, "x").build(), HttpResponse.BodyHandlers.ofByteArray());
      await().until(() -> attempt.isDone() || servlet.runs("/slow") == 2);
      if (attempt.isDone()) {
        assertProblem(attempt.get(), 409, "in-progress");
      } else {
        second = attempt;
      }
    }
    renewals.failing = false;
    servlet.gate.countDown();

    assertProblem(first.get(), 409, "lease-lost");
    assertThat(text(second.get())).isEqualTo("slow run 2");
    HttpResponse<byte[]> replay = app.send(app.post("/slow", KEY, "x").build());
    assertThat(text(replay)).isEqualTo("slow run 2");
  }

  /** A store whose renewals fail while {@code failing} is set, as when it stops answering. */
  private static final class RenewalSwitch extends ForwardingIdempotencyStore {
    volatile boolean failing;

    RenewalSwitch(dev.shepherd.idempotency.IdempotencyStore delegate) {
      super(delegate);
    }

    @Override
    public boolean renew(String key, long token, Duration lease, Duration retention) {
      if (failing) {
        throw new IdempotencyStoreException("store does not answer", null);
      }
      return super.renew(key, token, lease, retention);
    }
  }

  @Test
  void oneUsersKeyNeverReplaysAnotherUsersResponse() throws Exception {
    start(b -> b.principalResolver(PrincipalResolver.header("X-User")));
    HttpResponse<byte[]> alice = app.send(app.post("/orders", KEY, "x").header("X-User", "alice")
        .build());
    HttpResponse<byte[]> bob = app.send(app.post("/orders", KEY, "x").header("X-User", "bob")
        .build());
    HttpResponse<byte[]> aliceAgain = app.send(app.post("/orders", KEY, "x")
        .header("X-User", "alice").build());

    assertThat(text(alice)).contains("\"run\":1");
    assertThat(text(bob)).contains("\"run\":2");
    assertThat(bob.headers().firstValue("Idempotent-Replayed")).isEmpty();
    assertThat(text(aliceAgain)).contains("\"run\":1");
    assertThat(aliceAgain.headers().firstValue("Idempotent-Replayed")).hasValue("true");
  }

  @Test
  void otherMethodsPassUntouched() throws Exception {
    start(b -> {});
    HttpResponse<byte[]> put = app.send(HttpRequest.newBuilder(app.uri("/things"))
        .PUT(HttpRequest.BodyPublishers.ofString("x")).build());
    HttpResponse<byte[]> get = app.send(HttpRequest.newBuilder(app.uri("/things")).build());

    assertThat(text(put)).isEqualTo("ok PUT run 1");
    assertThat(text(get)).isEqualTo("ok GET run 2");
  }

  @Test
  void patchIsCoveredByDefault() throws Exception {
    start(b -> {});
    HttpResponse<byte[]> patch = app.send(HttpRequest.newBuilder(app.uri("/things"))
        .method("PATCH", HttpRequest.BodyPublishers.ofString("x")).build());
    assertProblem(patch, 400, "key-missing");
  }

  @Test
  void pathRulesOverrideThePolicyPerPathAndMethod() throws Exception {
    start(b -> b.path("/webhooks", KeyPolicy.OPTIONAL)
        .path("/public", KeyPolicy.IGNORED)
        .path("/uploads", KeyPolicy.REQUIRED, "PUT"));
    assertThat(app.send(app.post("/webhooks/stripe", null, "x").build()).statusCode())
        .isEqualTo(200);
    assertThat(app.send(app.post("/public", "not a key", "x").build()).statusCode())
        .isEqualTo(200);
    assertProblem(app.send(app.post("/publicity", null, "x").build()), 400, "key-missing");
    assertProblem(app.send(HttpRequest.newBuilder(app.uri("/uploads/1"))
        .PUT(HttpRequest.BodyPublishers.ofString("x")).build()), 400, "key-missing");
  }

  /**
   * A path rule matches the path the container routes by, not the raw request URI: each spelling
   * of {@code /payments} that reaches the servlet there is held to its REQUIRED policy, and one of
   * {@code /public} to its IGNORED one.
   */
  @Test
  void pathRulesMatchThePathTheServletSeesNotTheRawUri() throws Exception {
    start(b -> b.keyPolicy(KeyPolicy.IGNORED).path("/payments", KeyPolicy.REQUIRED)
        .path("/public", KeyPolicy.IGNORED, "POST"));
    for (String spelling : List.of("/payments;x", "/%70ayments", "/a/../payments",
        "/./payments", "/payments;x/7", "//payments")) {
      String response = Http.raw(app.port(), ascii("POST " + spelling + " HTTP/1.1\r\n"
          + "Host: 127.0.0.1\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"));
      assertThat(response).as(spelling).startsWith("HTTP/1.1 400 ");
      if (!spelling.equals("//payments")) { // Jetty 12 itself refuses an empty segment: 400
        assertThat(response).as(spelling).contains("/key-missing\"");
      }
    }
    assertThat(servlet.runs).as("runs by raw URI").allSatisfy(
        (path, runs) -> assertThat(runs.get()).as(path).isZero());
    assertThat(app.send(app.post("/%70ublic;v=1", null, "x").build()).statusCode())
        .isEqualTo(200);
    IdempotencyFilter filter = IdempotencyFilter.builder(tracker)
        .keyPolicy(KeyPolicy.IGNORED).path("/payments", KeyPolicy.REQUIRED).build();
    assertThat(filter.policyFor("POST", "//payments//7")).isEqualTo(KeyPolicy.REQUIRED);
  }

  /**
   * A problem answered before the body is read closes the connection: the unread body would
   * otherwise be parsed as the next request, or the server would drop the connection after the
   * answer without saying so, and a client reusing it (the JDK's does) would fail its next request.
   */
  @Test
  void aProblemSentBeforeTheBodyIsReadClosesTheConnection() throws Exception {
    start(b -> {});
    try (Socket socket = new Socket("127.0.0.1", app.port())) {
      socket.setSoTimeout(30_000);
      OutputStream out = socket.getOutputStream();
      // Headers only: the body is held back, so the filter answers with it unread.
      out.write(("POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
          + "Content-Length: 5\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      out.flush();
      BufferedReader in = new BufferedReader(
          new InputStreamReader(socket.getInputStream(), StandardCharsets.US_ASCII));
      assertThat(in.readLine()).startsWith("HTTP/1.1 400");
      List<String> headers = new ArrayList<>();
      for (String line = in.readLine(); line != null && !line.isEmpty(); line = in.readLine()) {
        headers.add(line.toLowerCase(Locale.ROOT));
      }
      assertThat(headers).contains("connection: close");
    }
  }

  /**
   * A request that arrives after the tracker was closed (shutdown, or a tracker closed under a
   * running filter) cannot be tracked: 503 with a problem body, never the container's 500.
   */
  @Test
  void requestAfterTheTrackerClosedIs503ProblemNot500() throws Exception {
    start(b -> {});
    tracker.close();
    HttpResponse<byte[]> response = app.send(app.post("/orders", KEY, "x").build());

    assertProblem(response, 503, "store-unavailable");
    assertThat(response.headers().firstValue("Retry-After")).hasValue("1");
    assertThat(response.headers().firstValue("Cache-Control")).hasValue("no-store");
    assertThat(servlet.runs("/orders")).isZero();
  }

  @Test
  void optionalKeyIsStillTrackedWhenSent() throws Exception {
    start(b -> b.keyPolicy(KeyPolicy.OPTIONAL));
    app.send(app.post("/orders", KEY, "x").build());
    HttpResponse<byte[]> replay = app.send(app.post("/orders", KEY, "x").build());
    assertThat(replay.headers().firstValue("Idempotent-Replayed")).hasValue("true");
  }

  @Test
  void problemsAreNotStoredSoACorrectedRetryWorks() throws Exception {
    start(b -> b.maxBodySize(10));
    assertProblem(app.send(app.post("/orders", KEY, "x".repeat(11)).build()), 413,
        "body-too-large");
    assertThat(app.send(app.post("/orders", KEY, "x").build()).statusCode()).isEqualTo(201);
  }

  @Test
  void differentKeysRunSeparately() throws Exception {
    start(b -> {});
    HttpResponse<byte[]> a = app.send(app.post("/orders", "\"a\"", "x").build());
    HttpResponse<byte[]> b = app.send(app.post("/orders", "\"b\"", "x").build());
    assertThat(a.headers().firstValue("Idempotent-Replayed")).isEmpty();
    assertThat(b.headers().firstValue("Idempotent-Replayed")).isEmpty();
    assertThat(servlet.runs("/orders")).isEqualTo(2);
  }
}
