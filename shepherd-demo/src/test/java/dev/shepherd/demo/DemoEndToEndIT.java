package dev.shepherd.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Starts the reference service the way {@code ./shepherd demo} does ({@code java -jar
 * target/shepherd-demo.jar}, as a real child process on embedded defaults), runs the README's curl
 * scenarios with an HTTP client and checks their answers, drives load with {@code --load}, and opens
 * the dashboard in headless Chromium to check that its figures render and change; the screenshot is
 * kept at {@code target/dashboard.png}. Finally stops the service with SIGTERM (what Ctrl-C does)
 * and checks that it left no PostgreSQL process and no temporary directory behind.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DemoEndToEndIT {

  private static final Pattern PG_DIR = Pattern.compile("\\(embedded, in (\\S+)\\)");

  private static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private static DemoProcess service;
  private static String base;

  @BeforeAll
  static void startTheServiceLikeTheReadme() throws Exception {
    service = DemoProcess.startOnFreePort();
    base = service.base();
  }

  @AfterAll
  static void stopLikeCtrlC() throws Exception {
    if (service == null) {
      return;
    }
    String pgDirectory = service.output().stream().map(PG_DIR::matcher).filter(Matcher::find).map(m -> m.group(1))
        .findFirst().orElseThrow(() -> new AssertionError("the service did not print its PostgreSQL directory"));
    assertThat(service.process().isAlive()).as("service still running before the stop; output:\n%s", service.outputText()).isTrue();
    service.stop(); // SIGTERM runs the same shutdown hook as Ctrl-C
    // What the shutdown hook prints may not reach a pipe (JUL's own hook races it); what it does is checked:
    assertThat(service.process().exitValue()).as("exit code of a SIGTERM shutdown").isEqualTo(143);
    assertThat(Path.of(pgDirectory)).as("embedded PostgreSQL directory removed").doesNotExist();
    assertThat(ProcessHandle.allProcesses()
        .filter(p -> p.info().commandLine().orElse("").contains(pgDirectory)).count())
        .as("no PostgreSQL process of the demo left").isZero();
  }

  @Test
  @Order(1)
  void postingAnOrderTwiceReplaysTheFirstAnswerAndAnotherPayloadIs422() throws Exception {
    String body = "{\"customer\":\"ada\",\"product\":\"p1\",\"quantity\":2}";
    HttpResponse<String> first = post("/orders", "\"order-1\"", body);
    assertThat(first.statusCode()).isEqualTo(201);
    assertThat(first.headers().firstValue("Location")).contains("/orders/1");
    HttpResponse<String> again = post("/orders", "\"order-1\"", body);
    assertThat(again.statusCode()).isEqualTo(201);
    assertThat(again.body()).isEqualTo(first.body());
    assertThat(again.headers().firstValue("Idempotent-Replayed")).contains("true");
    HttpResponse<String> other = post("/orders", "\"order-1\"", body.replace("2}", "3}"));
    assertThat(other.statusCode()).isEqualTo(422);
    assertThat(other.headers().firstValue("Content-Type")).contains("application/problem+json");
    assertThat(post("/orders", null, body).statusCode()).isEqualTo(400);
  }

  @Test
  @Order(2)
  void aRetryWhileTheFirstAttemptRunsGets409WithRetryAfter() throws Exception {
    String slow = "{\"customer\":\"bob\",\"product\":\"p2\",\"quantity\":1,\"paymentDelayMs\":3000}";
    CompletableFuture<HttpResponse<String>> first = http.sendAsync(postRequest("/orders", "\"order-slow\"", slow),
        HttpResponse.BodyHandlers.ofString());
    await().atMost(Duration.ofSeconds(10)).until(() -> {
      HttpResponse<String> retry = post("/orders", "\"order-slow\"", slow);
      if (retry.statusCode() == 409) {
        assertThat(retry.headers().firstValue("Retry-After")).isPresent();
        return true;
      }
      return false;
    });
    assertThat(first.get(30, TimeUnit.SECONDS).statusCode()).isEqualTo(201);
  }

  @Test
  @Order(3)
  void readingTheOrderBackWithItsTokenSeesTheWriteOnTheReplica() throws Exception {
    for (int i = 0; i < 20; i++) {
      HttpResponse<String> created = post("/orders", "\"read-" + i + "\"",
          "{\"customer\":\"c" + i + "\",\"product\":\"p\",\"quantity\":1}");
      assertThat(created.statusCode()).isEqualTo(201);
      String token = created.headers().firstValue("Shepherd-Consistency-Token").orElseThrow();
      HttpResponse<String> read = http.send(HttpRequest.newBuilder(URI.create(base + created.headers()
              .firstValue("Location").orElseThrow())).header("Shepherd-Consistency-Token", token).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(read.statusCode()).as(read.body()).isEqualTo(200);
      assertThat(read.body()).contains("\"customer\":\"c" + i + "\"").contains("\"servedBy\":\"replica\"");
    }
    HttpResponse<String> forged = http.send(HttpRequest.newBuilder(URI.create(base + "/orders/1"))
        .header("Shepherd-Consistency-Token", "v1.demo-1.0000000099999999.AAAA").build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(forged.statusCode()).isEqualTo(400);
  }

  @Test
  @Order(4)
  void concurrentProductMissesMakeOneCatalogCallThenHit() throws Exception {
    List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      calls.add(http.sendAsync(HttpRequest.newBuilder(URI.create(base + "/products/42")).build(),
          HttpResponse.BodyHandlers.ofString()));
    }
    long loaded = 0;
    for (CompletableFuture<HttpResponse<String>> call : calls) {
      String body = call.get(30, TimeUnit.SECONDS).body();
      assertThat(body).contains("\"id\":\"42\"");
      loaded += body.contains("\"source\":\"LOADED\"") ? 1 : 0;
    }
    assertThat(loaded).as("exactly one caller ran the catalog lookup").isEqualTo(1);
    assertThat(get("/products/42").body()).contains("\"source\":\"HIT\"");
  }

  @Test
  @Order(5)
  void configIsABlockingQueryAndAnEventStream() throws Exception {
    HttpResponse<String> current = get("/config/feature-flags");
    long index = Long.parseLong(current.headers().firstValue("X-Consul-Index").orElseThrow());
    List<String> events = new CopyOnWriteArrayList<>();
    CompletableFuture<HttpResponse<Void>> stream = http.sendAsync(
        HttpRequest.newBuilder(URI.create(base + "/config/feature-flags")).header("Accept", "text/event-stream").build(),
        HttpResponse.BodyHandlers.ofLines()).thenApply(r -> {
          r.body().forEach(events::add);
          return null;
        });
    CompletableFuture<HttpResponse<String>> blocked = http.sendAsync(HttpRequest.newBuilder(
        URI.create(base + "/config/feature-flags?index=" + index + "&wait=30s")).build(), HttpResponse.BodyHandlers.ofString());
    await().atMost(Duration.ofSeconds(10)).until(() -> events.contains("id: " + index));
    assertThat(blocked).isNotDone();
    // As the banner's `curl -X PUT ... -d '{...}'` sends it: curl -d's form Content-Type over a JSON body.
    HttpResponse<String> put = http.send(HttpRequest.newBuilder(URI.create(base + "/config/feature-flags"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .PUT(HttpRequest.BodyPublishers.ofString("{\"checkout-v2\":true}")).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(put.statusCode()).isEqualTo(200);
    HttpResponse<String> changed = blocked.get(30, TimeUnit.SECONDS);
    assertThat(Long.parseLong(changed.headers().firstValue("X-Consul-Index").orElseThrow())).isGreaterThan(index);
    await().atMost(Duration.ofSeconds(10)).until(() -> events.contains("data: {\"checkout-v2\":true}"));
    stream.cancel(true);
  }

  @Test
  @Order(6)
  void reportsRunOnThePoolsChildJvms() throws Exception {
    HttpResponse<String> report = http.send(postRequest("/reports", null, "{\"upTo\":2000000}"),
        HttpResponse.BodyHandlers.ofString());
    assertThat(report.statusCode()).as(report.body()).isEqualTo(200);
    assertThat(report.body()).contains("\"primes\":148933");
    long runnerPid = Long.parseLong(report.body().replaceAll(".*\"pid\":(\\d+).*", "$1"));
    assertThat(runnerPid).as("computed in a runner JVM, not in the service").isNotEqualTo(service.process().pid());
    assertThat(http.send(postRequest("/reports", null, "{\"upTo\":-1}"), HttpResponse.BodyHandlers.ofString())
        .statusCode()).isEqualTo(400);
  }

  @Test
  @Order(7)
  void metricsAreExposedInPrometheusText() throws Exception {
    String metrics = get("/metrics").body();
    assertThat(metrics)
        .contains("shepherd_cache_requests_total{cache=\"products\",result=\"loaded\"}")
        .contains("shepherd_idempotency_claims_total{outcome=\"completed\",store=\"orders\"}")
        .contains("shepherd_replica_reads_total")
        .contains("shepherd_watch_subscribers{watcher=\"config\"}")
        .contains("shepherd_pool_boots_total{pool=\"reports\",result=\"ok\"}");
  }

  @Test
  @Order(7)
  void settingsAreTheComponentsConfigs() throws Exception {
    HttpResponse<String> settings = get("/api/settings");
    assertThat(settings.statusCode()).isEqualTo(200);
    assertThat(settings.body())
        .contains("\"maxWaitMs\":500")
        .contains("\"maximumSize\":10000")
        .contains("\"maxRunners\":2");
  }

  @Test
  @Order(8)
  void aSecondServiceOnTheSamePortFailsWithAClearError() throws Exception {
    int port = service.port();
    try (DemoProcess second = DemoProcess.launch(port, "--pool", "local")) {
      assertThat(second.process().waitFor(2, TimeUnit.MINUTES)).isTrue();
      assertThat(second.process().exitValue()).isEqualTo(3);
      await().atMost(Duration.ofSeconds(5)).until(() -> second.output().stream()
          .anyMatch(l -> l.contains("port " + port + " on 127.0.0.1 is already in use")));
    }
  }

  @Test
  @Order(9)
  void theDashboardRendersFiguresThatChangeUnderLoad() throws Exception {
    Map<String, Double> before = dashboardFigures(false);
    assertThat(before).containsKeys("fig-cache-hits", "fig-idem-claims", "fig-watch-queries",
        "fig-replica-reads", "fig-pool-runners");
    Process load = DemoProcess.java(
        "-cp", DemoProcess.JAR.toString(), "dev.shepherd.demo.DemoMain", "--load", base, "--duration", "8s")
        .redirectErrorStream(true).redirectOutput(Path.of("target", "load.log").toFile()).start();
    assertThat(load.waitFor(2, TimeUnit.MINUTES)).isTrue();
    assertThat(load.exitValue()).isZero();
    Map<String, Double> after = dashboardFigures(true);
    assertThat(after.get("fig-cache-hits")).isGreaterThan(before.get("fig-cache-hits"));
    assertThat(after.get("fig-idem-claims")).isGreaterThan(before.get("fig-idem-claims"));
    assertThat(after.get("fig-replica-reads")).isGreaterThan(before.get("fig-replica-reads"));
    assertThat(Path.of("target", "dashboard.png")).isNotEmptyFile();
  }

  /** Loads the dashboard in headless Chromium and reads every figure's value from the DOM. */
  private static Map<String, Double> dashboardFigures(boolean screenshot) throws Exception {
    Path chromium = Path.of("/usr/bin/chromium");
    assertThat(chromium).as("Chromium is needed: sudo apt-get install -y chromium (./shepherd test installs it)")
        .isExecutable();
    Path profile = Files.createTempDirectory("shepherd-chromium-");
    try {
      List<String> flags = new ArrayList<>(List.of(chromium.toString(), "--headless", "--no-sandbox", "--disable-gpu",
          "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
          "--disable-sync", "--user-data-dir=" + profile, "--window-size=1400,1000", "--virtual-time-budget=5000"));
      String dom = run(flags, "--dump-dom", base + "/");
      if (screenshot) {
        run(flags, "--screenshot=" + Path.of("target", "dashboard.png").toAbsolutePath(), base + "/");
      }
      Map<String, Double> figures = new java.util.TreeMap<>();
      Matcher m = Pattern.compile("id=\"(fig-[^\"]+)\"[^>]*><span class=\"label\">[^<]*</span><span class=\"value\">([^<]*)</span>")
          .matcher(dom);
      while (m.find()) {
        figures.put(m.group(1), parse(m.group(2)));
      }
      return figures;
    } finally {
      try (var files = Files.walk(profile)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  private static String run(List<String> flags, String... more) throws Exception {
    List<String> command = new ArrayList<>(flags);
    command.addAll(List.of(more));
    Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    byte[] out = p.getInputStream().readAllBytes();
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    return new String(out, StandardCharsets.UTF_8);
  }

  private static double parse(String text) {
    if (text.endsWith("k")) {
      return Double.parseDouble(text.substring(0, text.length() - 1)) * 1e3;
    }
    if (text.endsWith("M")) {
      return Double.parseDouble(text.substring(0, text.length() - 1)) * 1e6;
    }
    return text.equals("–") ? Double.NaN : Double.parseDouble(text);
  }

  private static HttpResponse<String> get(String path) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(base + path)).build(), HttpResponse.BodyHandlers.ofString());
  }

  private static HttpRequest postRequest(String path, String key, String body) {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + path))
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
    if (key != null) {
      request.header("Idempotency-Key", key);
    }
    return request.build();
  }

  private static HttpResponse<String> post(String path, String key, String body) throws Exception {
    return http.send(postRequest(path, key, body), HttpResponse.BodyHandlers.ofString());
  }
}
