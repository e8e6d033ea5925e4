package dev.shepherd.demo;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shepherd.pool.ElasticPool;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.Serial;
import java.time.Duration;
import java.util.Map;

/**
 * {@code POST /reports} runs a CPU-heavy report (a prime sieve) on the elastic pool's runners. The
 * body is {@code application/json} of at most {@value Json#MAX_BODY} bytes (415 and 413 otherwise):
 * a page of another site cannot make a visitor's browser start reports.
 */
final class ReportsServlet extends HttpServlet {

  @Serial private static final long serialVersionUID = 1L;

  private final transient ElasticPool pool;

  ReportsServlet(ElasticPool pool) {
    this.pool = pool;
  }

  @Override
  protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
    JsonNode body = Json.readJsonOr4xx(req, resp, "a report request");
    if (body == null) {
      return;
    }
    long upTo = body.path("upTo").asLong(0);
    if (upTo < 2 || upTo > 50_000_000L) {
      Json.problem(resp, 400, "Bad Request", "upTo must be between 2 and 50000000, was " + body.path("upTo"));
      return;
    }
    long start = System.nanoTime();
    Json.writeOr503(resp, () -> {
      Object result = pool.call("primes", Map.of("upTo", upTo), Duration.ofSeconds(30));
      Map<String, Object> answer = new java.util.LinkedHashMap<>();
      if (result instanceof Map<?, ?> map) {
        map.forEach((k, v) -> answer.put(String.valueOf(k), v));
      }
      answer.put("tookMs", (System.nanoTime() - start) / 1_000_000);
      return answer;
    });
  }
}
