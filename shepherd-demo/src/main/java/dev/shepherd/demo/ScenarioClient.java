package dev.shepherd.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * {@code ./shepherd demo --scenario NAME [URL]}: runs one playground scenario on a running service,
 * as the page's Run button does, waits for it and prints the comparison table, the caption and the
 * timeline.
 *
 * <p>The URL is the user's, so the answers are trusted no further than any server's: bodies are
 * read up to {@link BoundedHttp#MAX_BODY} bytes and 20 s each, every text printed has its control
 * characters taken out (no terminal escape sequence gets through), and an answer that is not JSON
 * (a proxy's error page) is one line saying so, not a stack trace.
 */
final class ScenarioClient {

  /** Exit code when the run finished. */
  static final int DONE = 0;
  /** Exit code when the run failed or the service refused it. */
  static final int FAILED = 1;
  /** Exit code when a run of that scenario was already going. */
  static final int BUSY = 4;

  /** How long each answer's whole body may take to arrive once its head has. */
  static final Duration BODY_TIMEOUT = Duration.ofSeconds(20);

  private ScenarioClient() {}

  static int run(URI base, String name, Map<String, String> parameters, PrintStream out)
      throws IOException, InterruptedException {
    return run(base, name, parameters, out, BODY_TIMEOUT);
  }

  /** {@link #run(URI, String, Map, PrintStream)} with another body timeout (tests). */
  static int run(URI base, String name, Map<String, String> parameters, PrintStream out, Duration bodyTimeout)
      throws IOException, InterruptedException {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    ObjectNode body = Json.MAPPER.createObjectNode();
    parameters.forEach((k, v) -> {
      if (v.matches("-?\\d{1,10}")) {
        body.put(k, Long.parseLong(v));
      } else {
        body.put(k, v);
      }
    });
    try {
      return runOrThrow(http, base, name, body, out, bodyTimeout);
    } catch (java.net.ConnectException e) {
      out.println("shepherd demo: no service answers at " + base + "; start it first with ./shepherd demo");
      return FAILED;
    } catch (IOException e) {
      out.println("shepherd demo: talking to " + base + " failed: " + BoundedHttp.printable(String.valueOf(e.getMessage())));
      return FAILED;
    } finally {
      http.shutdownNow();
    }
  }

  private static int runOrThrow(HttpClient http, URI base, String name, ObjectNode body, PrintStream out,
      Duration bodyTimeout) throws IOException, InterruptedException {
    HttpResponse<String> started = BoundedHttp.send(http, HttpRequest.newBuilder(base.resolve("/playground/run/" + name))
        .timeout(Duration.ofSeconds(10)).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(), BoundedHttp.MAX_BODY, bodyTimeout);
    JsonNode answer = jsonOf(started, base, out);
    if (answer == null) {
      return FAILED;
    }
    if (started.statusCode() == 409) {
      out.println("shepherd demo: " + BoundedHttp.printable(answer.path("detail").asText()));
      return BUSY;
    }
    if (started.statusCode() != 202) {
      out.println("shepherd demo: the service refused the run (" + started.statusCode() + "): "
          + BoundedHttp.printable(answer.path("detail").asText()));
      return FAILED;
    }
    long runId = answer.path("runId").asLong();
    out.println("Running " + name + " (run " + runId + ", parameters "
        + BoundedHttp.printable(answer.path("parameters").toString()) + ") on " + base + " ...");
    JsonNode result;
    long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
    while (true) {
      HttpResponse<String> status = BoundedHttp.send(http, HttpRequest.newBuilder(base.resolve("/api/playground/" + name))
          .timeout(Duration.ofSeconds(10)).build(), BoundedHttp.MAX_BODY, bodyTimeout);
      result = jsonOf(status, base, out);
      if (result == null) {
        return FAILED;
      }
      if (result.path("runId").asLong() >= runId && !result.path("state").asText().equals("running")) {
        break;
      }
      if (System.nanoTime() - deadline > 0) {
        out.println("shepherd demo: the run did not finish within 3 minutes");
        return FAILED;
      }
      Thread.sleep(300);
    }
    print(result, out);
    return result.path("state").asText().equals("done") ? DONE : FAILED;
  }

  /**
   * The answer's JSON, or null after printing one line that says the answer is not JSON (a
   * proxy's HTML error page, say, or a service other than the demo).
   */
  private static @Nullable JsonNode jsonOf(HttpResponse<String> response, URI base, PrintStream out) {
    try {
      return Json.read(response.body().getBytes(java.nio.charset.StandardCharsets.UTF_8));
    } catch (IOException e) {
      out.println("shepherd demo: " + base + " answered " + response.statusCode() + " with a body that is not JSON ("
          + BoundedHttp.printable(response.headers().firstValue("Content-Type").orElse("no Content-Type"))
          + "); is the Shepherd demo running there?");
      return null;
    }
  }

  static void print(JsonNode result, PrintStream out) {
    out.println();
    out.println(text(result, "title") + "  (" + text(result, "state") + " in "
        + result.path("tookMs").asLong() + " ms)");
    if (!result.path("error").isNull() && !result.path("error").isMissingNode()) {
      out.println("  error: " + text(result, "error"));
    }
    String baseline = BoundedHttp.printable(result.path("baselineName").asText("without Shepherd"));
    out.printf(Locale.ROOT, "  %-58s %12s   %s%n", "", "Shepherd", baseline);
    for (JsonNode row : result.path("rows")) {
      String label = text(row, "label") + (text(row, "unit").isEmpty() ? "" : " (" + text(row, "unit") + ")");
      out.printf(Locale.ROOT, "  %-58s %12s   %s%n", label, number(row.path("shepherd")), number(row.path("baseline")));
    }
    out.println();
    out.println("  " + text(result, "caption"));
    out.println();
    out.println("  Timeline (ms since the run started):");
    for (JsonNode e : result.path("timeline")) {
      out.printf(Locale.ROOT, "  %9.1f  %-8s %s%n", e.path("atMs").asDouble(), text(e, "side"), text(e, "text"));
    }
    result.path("timelineOmitted").properties().forEach(f ->
        out.println("             ... and " + f.getValue().asInt() + " more " + BoundedHttp.printable(f.getKey()) + " events"));
  }

  /** A text field of the service's answer, safe to print ({@link BoundedHttp#printable}). */
  private static String text(JsonNode node, String field) {
    return BoundedHttp.printable(node.path(field).asText());
  }

  private static String number(JsonNode n) {
    double v = n.asDouble();
    return v == Math.rint(v) ? Long.toString((long) v) : String.format(Locale.ROOT, "%.1f", v);
  }
}
