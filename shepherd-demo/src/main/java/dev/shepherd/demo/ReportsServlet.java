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
import java.util.concurrent.Semaphore;

/**
 * {@code POST /reports} runs a CPU-heavy report (a prime sieve) on the elastic pool's runners. The
 * body is {@code application/json} of at most {@value Json#MAX_BODY} bytes (415 and 413 otherwise):
 * a page of another site cannot make a visitor's browser start reports.
 *
 * <p>At most {@value #MAX_REPORTS} reports are in the service at once, running or waiting for a
 * runner slot (the pool runs 2 x 2, and a waiting caller holds its request for up to 30 s); one
 * more is answered 429 with {@code Retry-After} at once, so a burst of callers cannot pile up
 * requests (and their threads and connections) without bound behind a small pool.
 */
final class ReportsServlet extends HttpServlet {

  @Serial private static final long serialVersionUID = 1L;

  /** The most reports running or waiting for the pool at once; one more is a 429. */
  static final int MAX_REPORTS = 16;

  private final transient ElasticPool pool;
  private final transient Semaphore admitted = new Semaphore(MAX_REPORTS);

  ReportsServlet(ElasticPool pool) {
    this.pool = pool;
  }

  @Override
  protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
    JsonNode body = Json.readJsonOr4xx(req, resp, "a report request");
    if (body == null) {
      return;
    }
    Integer upTo = Json.wholeOr400(body, "upTo", null, 2, 50_000_000, resp);
    if (upTo == null) {
      return;
    }
    if (!admitted.tryAcquire()) {
      resp.setHeader("Retry-After", "1");
      Json.problem(resp, 429, "Too Many Requests", "too many reports in progress (at most " + MAX_REPORTS
          + " running or waiting for the pool); retry after 1 s");
      return;
    }
    try {
      long start = System.nanoTime();
      Json.writeOr503(resp, "the report", () -> {
        Object result = pool.call("primes", Map.of("upTo", (long) upTo), Duration.ofSeconds(30));
        Map<String, Object> answer = new java.util.LinkedHashMap<>();
        if (result instanceof Map<?, ?> map) {
          map.forEach((k, v) -> answer.put(String.valueOf(k), v));
        }
        answer.put("tookMs", (System.nanoTime() - start) / 1_000_000);
        return answer;
      });
    } finally {
      admitted.release();
    }
  }
}
