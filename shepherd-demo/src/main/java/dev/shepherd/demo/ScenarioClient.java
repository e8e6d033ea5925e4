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

/**
 * {@code ./shepherd demo --scenario NAME [URL]}: runs one playground scenario on a running service,
 * as the page's Run button does, waits for it and prints the comparison table, the caption and the
 * timeline.
 */
final class ScenarioClient {

  /** Exit code when the run finished. */
  static final int DONE = 0;
  /** Exit code when the run failed or the service refused it. */
  static final int FAILED = 1;
  /** Exit code when a run of that scenario was already going. */
  static final int BUSY = 4;

  private ScenarioClient() {}

  static int run(URI base, String name, Map<String, String> parameters, PrintStream out)
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
    HttpResponse<String> started;
    try {
      started = http.send(HttpRequest.newBuilder(base.resolve("/playground/run/" + name)).timeout(Duration.ofSeconds(10))
          .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(),
          HttpResponse.BodyHandlers.ofString());
    } catch (java.net.ConnectException e) {
      out.println("shepherd demo: no service answers at " + base + "; start it first with ./shepherd demo");
      return FAILED;
    }
    JsonNode answer = Json.read(started.body().getBytes(java.nio.charset.StandardCharsets.UTF_8));
    if (started.statusCode() == 409) {
      out.println("shepherd demo: " + answer.path("detail").asText());
      return BUSY;
    }
    if (started.statusCode() != 202) {
      out.println("shepherd demo: the service refused the run (" + started.statusCode() + "): " + answer.path("detail").asText());
      return FAILED;
    }
    long runId = answer.path("runId").asLong();
    out.println("Running " + name + " (run " + runId + ", parameters " + answer.path("parameters") + ") on " + base + " ...");
    JsonNode result;
    long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
    while (true) {
      HttpResponse<String> status = http.send(HttpRequest.newBuilder(base.resolve("/api/playground/" + name))
          .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
      result = Json.read(status.body().getBytes(java.nio.charset.StandardCharsets.UTF_8));
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

  static void print(JsonNode result, PrintStream out) {
    out.println();
    out.println(result.path("title").asText() + "  (" + result.path("state").asText() + " in "
        + result.path("tookMs").asLong() + " ms)");
    if (!result.path("error").isNull() && !result.path("error").isMissingNode()) {
      out.println("  error: " + result.path("error").asText());
    }
    String baseline = result.path("baselineName").asText("without Shepherd");
    out.printf(Locale.ROOT, "  %-58s %12s   %s%n", "", "Shepherd", baseline);
    for (JsonNode row : result.path("rows")) {
      String label = row.path("label").asText() + (row.path("unit").asText().isEmpty() ? "" : " (" + row.path("unit").asText() + ")");
      out.printf(Locale.ROOT, "  %-58s %12s   %s%n", label, number(row.path("shepherd")), number(row.path("baseline")));
    }
    out.println();
    out.println("  " + result.path("caption").asText());
    out.println();
    out.println("  Timeline (ms since the run started):");
    for (JsonNode e : result.path("timeline")) {
      out.printf(Locale.ROOT, "  %9.1f  %-8s %s%n", e.path("atMs").asDouble(), e.path("side").asText(), e.path("text").asText());
    }
    result.path("timelineOmitted").properties().forEach(f ->
        out.println("             ... and " + f.getValue().asInt() + " more " + f.getKey() + " events"));
  }

  private static String number(JsonNode n) {
    double v = n.asDouble();
    return v == Math.rint(v) ? Long.toString((long) v) : String.format(Locale.ROOT, "%.1f", v);
  }
}
