package dev.shepherd.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.openqa.selenium.By;
import org.openqa.selenium.Dimension;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

/**
 * The playground in a real browser: starts {@code target/shepherd-demo.jar} as {@code ./shepherd
 * demo} does, drives Debian's headless Chromium through Selenium and chromedriver, clicks each
 * scenario's Run button, waits for it, reads the figures from the page and checks them against
 * {@code /api/playground/{name}} and against what each guarantee promises (one catalog call for the
 * stampede, one order for the storm, zero stale reads with the token, ...). Saves a screenshot per
 * scenario under {@code target/} and the whole page as {@code docs/playground.png}, the README's
 * picture. Also checks the safety rails (409 while a run goes, bounds, content type) and the
 * terminal's {@code --scenario}.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PlaygroundBrowserIT {

  private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
  private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
  private static final ObjectMapper JSON = new ObjectMapper();

  private static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private static DemoProcess service;
  private static String base;
  private static Path profile;
  private static WebDriver browser;

  @BeforeAll
  static void startTheServiceAndABrowser() throws Exception {
    assertThat(CHROMIUM).as("Chromium is needed: sudo apt-get install -y chromium chromium-driver").isExecutable();
    assertThat(CHROMEDRIVER).as("chromedriver is needed: sudo apt-get install -y chromium-driver").exists();
    service = DemoProcess.startOnFreePort("--pool", "local");
    base = service.base();

    profile = Files.createTempDirectory("shepherd-selenium-");
    ChromeOptions options = new ChromeOptions();
    options.setBinary(CHROMIUM.toFile());
    options.addArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--user-data-dir=" + profile, "--window-size=1400,1100");
    // The driver's path is given, so Selenium Manager never runs (it would try to download one).
    ChromeDriverService driverService = new ChromeDriverService.Builder()
        .usingDriverExecutable(CHROMEDRIVER.toFile()).usingAnyFreePort().build();
    browser = new ChromeDriver(driverService, options);
    browser.manage().timeouts().scriptTimeout(Duration.ofSeconds(30));
    browser.get(base + "/playground/");
  }

  @AfterAll
  static void stopEverything() throws Exception {
    if (browser != null) {
      browser.quit();
    }
    if (profile != null) {
      try (var files = Files.walk(profile)) {
        files.sorted(java.util.Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
      }
    }
    if (service != null) {
      service.stop();
    }
  }

  @Test
  @Order(1)
  void theDashboardLeadsToThePageWhichLoadsItsChartingLibraryFromTheServiceItself() {
    browser.get(base + "/");
    await().atMost(Duration.ofSeconds(10)).until(() -> browser.findElements(By.cssSelector("a.try")).size() == 5);
    assertThat(browser.findElement(By.id("try-cache")).getDomAttribute("href")).isEqualTo("/playground/#pg-cache");
    browser.findElement(By.id("playground-link")).click();
    await().atMost(Duration.ofSeconds(10)).until(() -> browser.getCurrentUrl().equals(base + "/playground/"));
    await().atMost(Duration.ofSeconds(10)).until(() -> browser.findElements(By.cssSelector("main > section")).size() == 5);
    assertThat(((JavascriptExecutor) browser).executeScript("return typeof uPlot")).isEqualTo("function");
    @SuppressWarnings("unchecked")
    List<String> sources = (List<String>) ((JavascriptExecutor) browser).executeScript(
        "return [...document.querySelectorAll('script[src], link[href]')].map(e => e.src || e.href)");
    assertThat(sources).isNotEmpty().allSatisfy(s -> assertThat(s).startsWith(base + "/"));
    assertThat(browser.findElements(By.cssSelector("main > section"))).hasSize(5);
  }

  @Test
  @Order(3)
  void theStampedeMakesOneCatalogCallWhereComputeIfAbsentMakesOnePerCaller() throws Exception {
    JsonNode result = runFromThePage("cache");
    assertThat(row(result, "catalogCalls", "shepherd")).isEqualTo(1);
    assertThat(row(result, "catalogCalls", "baseline")).isEqualTo(1000);
    assertThat(row(result, "answered", "shepherd")).isEqualTo(1000);
    assertThat(row(result, "errors", "shepherd")).as("the catalog fails: every caller gets its error").isEqualTo(1000);
  }

  @Test
  @Order(4)
  void theRetryStormCreatesOneOrderWhereTheUnfilteredServletCreatesOnePerRequest() throws Exception {
    JsonNode result = runFromThePage("idempotency");
    assertThat(row(result, "orders", "shepherd")).isEqualTo(1);
    assertThat(row(result, "orders", "baseline")).isEqualTo(60);
    assertThat(row(result, "fresh", "shepherd") + row(result, "replays", "shepherd") + row(result, "conflicts", "shepherd"))
        .as("every request answered 201 or 409").isEqualTo(60);
    assertThat(row(result, "replays", "shepherd")).as("the 10 late retries are replays").isEqualTo(10);
  }

  @Test
  @Order(5)
  void readsWithTheTokenAreNeverStaleWhileReadsWithoutItAre() throws Exception {
    JsonNode result = runFromThePage("replica");
    assertThat(row(result, "stale", "shepherd")).isZero();
    assertThat(row(result, "stale", "baseline")).as("replay is paused: the replica misses each write").isEqualTo(5);
    assertThat(row(result, "onReplica", "shepherd") + row(result, "fallbacks", "shepherd")).isEqualTo(5);
  }

  @Test
  @Order(6)
  void aChangeReachesEveryStreamThroughOneLoopAndTheOutageIsReported() throws Exception {
    JsonNode result = runFromThePage("watch");
    assertThat(row(result, "delivered", "shepherd")).isEqualTo(50);
    assertThat(row(result, "delivered", "baseline")).isEqualTo(50);
    assertThat(row(result, "changeQueries", "shepherd")).isLessThan(row(result, "changeQueries", "baseline"));
    assertThat(row(result, "changeQueries", "baseline")).as("each loop queries again after the change").isGreaterThanOrEqualTo(50);
    assertThat(row(result, "toldFailing", "shepherd")).isEqualTo(50);
    assertThat(row(result, "outageQueries", "shepherd")).isLessThan(row(result, "outageQueries", "baseline"));
  }

  @Test
  @Order(7)
  void aBurstBootsRunnersFromZeroSurvivesAKillAndASecondClickIsTold409() throws Exception {
    JsonNode result = runFromThePage("pool", () -> {
      browser.findElement(By.id("pg-pool-run")).click();
      await().atMost(Duration.ofSeconds(10)).until(() -> browser.findElement(By.id("pg-pool-notice")).getText().contains("409"));
      assertThat(browser.findElement(By.id("pg-pool-notice")).getText()).contains("already running");
      assertThat(post("/playground/run/pool", "application/json", "{}").statusCode()).isEqualTo(409);
    });
    assertThat(row(result, "peak", "shepherd")).as("never above max").isLessThanOrEqualTo(2);
    assertThat(row(result, "peak", "baseline")).isEqualTo(6);
    assertThat(row(result, "failed", "shepherd")).as("the killed runner's calls fail").isBetween(1.0, 2.0);
    assertThat(row(result, "done", "shepherd") + row(result, "failed", "shepherd")).isEqualTo(6);
    assertThat(row(result, "boots", "shepherd")).as("a replacement booted").isGreaterThanOrEqualTo(2).isLessThan(6);
    JsonNode runners = result.path("chart").path("series").get(0).path("values");
    assertThat(runners.get(0).asDouble()).as("starts from zero runners").isZero();
    assertThat(runners.get(runners.size() - 1).isNull() ? 0 : runners.get(runners.size() - 1).asDouble())
        .as("retired when idle").isZero();
    assertThat(timelineKinds(result)).contains("boot", "kill", "failure", "retire");
  }

  @Test
  @Order(8)
  void runRequestsAreBoundedCheckedAndApartFromTheOrdinaryEndpoints() throws Exception {
    HttpResponse<String> tooMany = post("/playground/run/cache", "application/json", "{\"callers\":20000}");
    assertThat(tooMany.statusCode()).isEqualTo(400);
    assertThat(tooMany.body()).contains("callers must be between 1 and 10000, was 20000");
    assertThat(post("/playground/run/cache", "text/plain", "{}").statusCode()).as("no cross-site form posts").isEqualTo(415);
    assertThat(post("/playground/run/cache", "application/json", "{\"callers\":\"" + "9".repeat(5_000) + "\"}").statusCode())
        .isEqualTo(413);
    assertThat(post("/playground/run/nope", "application/json", "{}").statusCode()).isEqualTo(404);
    assertThat(post("/playground/naive/orders", "application/json",
        "{\"customer\":\"x\",\"product\":\"p\",\"quantity\":1}").statusCode())
        .as("the unfiltered baseline only opens during a storm").isEqualTo(409);
    int port = URI.create(base).getPort();
    for (var nic : java.util.Collections.list(java.net.NetworkInterface.getNetworkInterfaces())) {
      for (InetAddress address : java.util.Collections.list(nic.getInetAddresses())) {
        if (!address.isLoopbackAddress() && address instanceof java.net.Inet4Address) {
          try (java.net.Socket socket = new java.net.Socket()) {
            socket.connect(new java.net.InetSocketAddress(address, port), 2_000);
            throw new AssertionError("the service answers on " + address + ", not only on 127.0.0.1");
          } catch (java.net.ConnectException | java.net.SocketTimeoutException expected) {
            // refused: the service listens on loopback only
          }
        }
      }
    }
  }

  @Test
  @Order(2)
  void theTerminalRunsAScenarioAndPrintsBothSides() throws Exception {
    Process cli = DemoProcess.java("-cp", DemoProcess.JAR.toString(), "dev.shepherd.demo.DemoMain",
        "--scenario", "cache", base, "--param", "callers=300", "--param", "catalog=healthy")
        .redirectErrorStream(true).start();
    String printed = new String(cli.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(cli.waitFor(2, TimeUnit.MINUTES)).isTrue();
    assertThat(cli.exitValue()).as(printed).isZero();
    assertThat(printed).contains("ConcurrentHashMap.computeIfAbsent").containsPattern("catalog calls\\s+1\\s+1\\n")
        .contains("Timeline");
    JsonNode result = api("cache");
    assertThat(result.path("parameters").path("callers").asInt()).isEqualTo(300);
    assertThat(row(result, "catalogCalls", "shepherd")).isEqualTo(1);
  }

  @Test
  @Order(9)
  void theWholePageIsTheReadmesPicture() throws Exception {
    browser.navigate().refresh();
    ((JavascriptExecutor) browser).executeScript("window.scrollTo(0, 0)");
    await().atMost(Duration.ofSeconds(20)).until(() -> browser.findElements(By.cssSelector(".chart canvas")).size() == 5);
    long height = (Long) ((JavascriptExecutor) browser).executeScript("return document.documentElement.scrollHeight");
    browser.manage().window().setSize(new Dimension(1400, (int) Math.min(6000, height + 40)));
    ((JavascriptExecutor) browser).executeScript("window.scrollTo(0, 0)");
    Thread.sleep(500); // let the page settle at the new size; nothing is asserted on time
    Path shot = ((org.openqa.selenium.TakesScreenshot) browser).getScreenshotAs(OutputType.FILE).toPath();
    Files.createDirectories(Path.of("docs"));
    Files.copy(shot, Path.of("docs", "playground.png"), StandardCopyOption.REPLACE_EXISTING);
    Files.copy(shot, Path.of("target", "playground.png"), StandardCopyOption.REPLACE_EXISTING);
    assertThat(Path.of("docs", "playground.png")).isNotEmptyFile();
    browser.manage().window().setSize(new Dimension(1400, 1100));
  }

  /** Clicks Run, waits for the run, checks the page against the API and saves the scenario's screenshot. */
  private static JsonNode runFromThePage(String name) throws Exception {
    return runFromThePage(name, () -> {});
  }

  private static JsonNode runFromThePage(String name, ThrowingRunnable whileRunning) throws Exception {
    long before = api(name).path("runId").asLong(0);
    WebElement section = browser.findElement(By.id("pg-" + name));
    ((JavascriptExecutor) browser).executeScript("arguments[0].scrollIntoView()", section);
    browser.findElement(By.id("pg-" + name + "-run")).click();
    WebElement status = browser.findElement(By.id("pg-" + name + "-status"));
    await().atMost(Duration.ofSeconds(10)).until(() -> "running".equals(status.getDomAttribute("data-state"))
        || Long.parseLong(orZero(status.getDomAttribute("data-run"))) > before);
    whileRunning.run();
    await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(250)).until(() ->
        Long.parseLong(orZero(status.getDomAttribute("data-run"))) > before
            && List.of("done", "failed").contains(status.getDomAttribute("data-state")));
    assertThat(status.getDomAttribute("data-state")).as(status.getText()).isEqualTo("done");

    JsonNode result = api(name);
    assertThat(result.path("runId").asLong()).isEqualTo(Long.parseLong(status.getDomAttribute("data-run")));
    assertThat(result.path("rows").size()).isGreaterThanOrEqualTo(4);
    for (JsonNode row : result.path("rows")) {
      for (String side : List.of("shepherd", "baseline")) {
        String shown = browser.findElement(By.id("pg-" + name + "-" + row.path("key").asText() + "-" + side)).getText();
        assertThat(Double.parseDouble(shown)).as("%s %s %s on the page", name, row.path("key").asText(), side)
            .isCloseTo(row.path(side).asDouble(), within(0.051));
      }
    }
    assertThat(browser.findElement(By.id("pg-" + name + "-caption")).getText())
        .isEqualTo(result.path("caption").asText()).isNotBlank();
    WebElement chart = browser.findElement(By.id("pg-" + name + "-chart"));
    assertThat(chart.findElements(By.tagName("canvas"))).isNotEmpty();
    @SuppressWarnings("unchecked")
    List<String> axes = (List<String>) ((JavascriptExecutor) browser).executeScript(
        "return window.playgroundPlots[arguments[0]].axes.map(a => a.label)", name);
    assertThat(axes).as("axis labels with units (uPlot draws them on the canvas)").containsExactly(
        result.path("chart").path("xLabel").asText() + " (" + result.path("chart").path("xUnit").asText() + ")",
        result.path("chart").path("yLabel").asText() + " (" + result.path("chart").path("yUnit").asText() + ")");
    String legend = chart.findElement(By.className("u-legend")).getText();
    for (JsonNode series : result.path("chart").path("series")) {
      assertThat(legend).as("the legend").contains(series.path("label").asText());
      assertThat(series.path("values").size()).isEqualTo(result.path("chart").path("xs").size());
    }
    assertThat(browser.findElements(By.cssSelector("#pg-" + name + "-timeline li")))
        .hasSizeGreaterThanOrEqualTo(Math.min(result.path("timeline").size(), 3));
    assertThat(browser.findElements(By.cssSelector("#pg-" + name + "-strip rect"))).hasSize(result.path("timeline").size());
    ((JavascriptExecutor) browser).executeScript("arguments[0].scrollIntoView()", section);
    Files.write(Path.of("target", "playground-" + name + ".png"), section.getScreenshotAs(OutputType.BYTES));
    return result;
  }

  @FunctionalInterface
  private interface ThrowingRunnable {
    void run() throws Exception;
  }

  private static String orZero(String s) {
    return s == null || s.isEmpty() ? "0" : s;
  }

  private static double row(JsonNode result, String key, String side) {
    for (JsonNode row : result.path("rows")) {
      if (row.path("key").asText().equals(key)) {
        return row.path(side).asDouble();
      }
    }
    throw new AssertionError("no row " + key + " in " + result);
  }

  private static List<String> timelineKinds(JsonNode result) {
    List<String> kinds = new ArrayList<>();
    result.path("timeline").forEach(e -> kinds.add(e.path("kind").asText()));
    return kinds;
  }

  private static JsonNode api(String name) throws Exception {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/api/playground/" + name)).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    return JSON.readTree(r.body());
  }

  private static HttpResponse<String> post(String path, String type, String body) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(base + path)).header("Content-Type", type)
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
  }
}
