package dev.shepherd.demo;

import dev.shepherd.demo.ScenarioReport.Side;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import javax.sql.DataSource;

/**
 * The retry storm: one payment posted by many parallel identical requests (a client, a proxy and a
 * load balancer all retrying), then a few late retries. With Shepherd the storm goes to
 * {@code POST /orders} behind the {@code IdempotencyFilter}; the baseline sends the same storm to
 * {@code POST /playground/naive/orders}, the same servlet without the filter. Orders created are
 * counted in the database afterwards, by the storm's own customer name.
 *
 * <p>Bounded: at most {@value #MAX_PARALLEL} parallel and {@value #MAX_LATE} late requests, a payment
 * of at most 2 s; every request has a 20 s timeout.
 */
final class IdempotencyScenario extends AbstractScenario.Http {

  static final int MAX_PARALLEL = 100;
  static final int MAX_LATE = 50;

  private final DataSource primary;

  IdempotencyScenario(Supplier<URI> base, DataSource primary) {
    super(
        "idempotency", "Retry storm: one payment, many identical POSTs", Duration.ofSeconds(60), base,
        Param.whole("parallel", 50, 2, MAX_PARALLEL),
        Param.whole("late", 10, 0, MAX_LATE),
        Param.whole("paymentMs", 500, 50, 2_000));
    this.primary = primary;
  }

  /** What one side's storm got back. */
  private record Storm(int created, int replayed, int conflicts, int other, List<Double> freshAtMs, long orders) {}

  @Override
  public void run(Map<String, Object> parameters, ScenarioReport report) throws Exception {
    int parallel = Scenario.integer(parameters, "parallel");
    int late = Scenario.integer(parameters, "late");
    int paymentMs = Scenario.integer(parameters, "paymentMs");
    String storm = "storm-" + Long.toHexString(System.nanoTime());
    report.baselineName("the same servlet without IdempotencyFilter");

    Storm shepherd = storm(report, Side.SHEPHERD, "orders", storm + "-s", parallel, late, paymentMs);
    Storm baseline = storm(report, Side.BASELINE, "playground/naive/orders", storm + "-b", parallel, late, paymentMs);

    report.row("orders", "orders created (counted in the database)", "", shepherd.orders(), baseline.orders());
    report.row("fresh", "201 answers that ran the payment", "", shepherd.created(), baseline.created());
    report.row("replays", "201 answers replayed (Idempotent-Replayed: true)", "", shepherd.replayed(), baseline.replayed());
    report.row("conflicts", "409 in progress (Retry-After)", "", shepherd.conflicts(), baseline.conflicts());
    report.row("requests", "requests sent", "", parallel + late, parallel + late);

    Map<String, List<Double>> series = new LinkedHashMap<>();
    series.put("Shepherd IdempotencyFilter", shepherd.freshAtMs());
    series.put("no filter", baseline.freshAtMs());
    double end = java.util.stream.Stream.concat(shepherd.freshAtMs().stream(), baseline.freshAtMs().stream())
        .mapToDouble(Double::doubleValue).max().orElse(paymentMs) + 200;
    report.chart(ScenarioReport.cumulative("time since the storm started", "ms", "payments charged (orders created)",
        "orders", end, series, Map.of("no filter", "baseline")));
    report.caption((parallel + late) + " identical requests for one payment charged it " + shepherd.orders()
        + " time with Shepherd (" + shepherd.conflicts() + " told 409 while it ran, " + shepherd.replayed()
        + " replayed the stored answer); without the filter it was charged " + baseline.orders() + " times.");
  }

  private Storm storm(ScenarioReport report, Side side, String path, String customer, int parallel, int late,
      int paymentMs) throws Exception {
    URI uri = base.get().resolve("/" + path);
    String body = "{\"customer\":\"" + customer + "\",\"product\":\"p-storm\",\"quantity\":1,\"paymentDelayMs\":" + paymentMs + "}";
    HttpRequest request = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(20))
        .header("Content-Type", "application/json").header("Idempotency-Key", "\"" + customer + "\"")
        .POST(HttpRequest.BodyPublishers.ofString(body)).build();
    long start = System.nanoTime();
    report.event(side, "start", parallel + " identical POST /" + path + " at once (payment takes " + paymentMs + " ms)");
    List<Double> freshAt = java.util.Collections.synchronizedList(new ArrayList<>());
    int[] counts = new int[4]; // created, replayed, conflicts, other
    List<CompletableFuture<HttpResponse<String>>> wave = new ArrayList<>();
    for (int i = 0; i < parallel; i++) {
      wave.add(http.sendAsync(request, HttpResponse.BodyHandlers.ofString()));
    }
    for (CompletableFuture<HttpResponse<String>> f : wave) {
      count(f.get(30, TimeUnit.SECONDS), start, counts, freshAt, report, side);
    }
    for (int i = 0; i < late; i++) {
      Thread.sleep(20);
      HttpResponse<String> r = http.send(request, HttpResponse.BodyHandlers.ofString());
      if (i == 0) {
        report.event(side, "retry", "late retries begin, after every parallel request was answered");
      }
      count(r, start, counts, freshAt, report, side);
    }
    long orders;
    try (Connection c = primary.getConnection();
        PreparedStatement count = c.prepareStatement("SELECT count(*) FROM orders WHERE customer = ?")) {
      count.setString(1, customer);
      try (ResultSet rs = count.executeQuery()) {
        rs.next();
        orders = rs.getLong(1);
      }
    }
    report.event(side, "done", orders + " order(s) in the database for this payment");
    return new Storm(counts[0], counts[1], counts[2], counts[3], List.copyOf(freshAt), orders);
  }

  private static void count(HttpResponse<String> r, long start, int[] counts, List<Double> freshAt,
      ScenarioReport report, Side side) {
    double at = ScenarioReport.msSince(start);
    synchronized (counts) {
      if (r.statusCode() == 201 && r.headers().firstValue("Idempotent-Replayed").isPresent()) {
        if (counts[1]++ == 0) {
          report.event(side, "replay", "first replay of the stored answer (Idempotent-Replayed: true)");
        }
      } else if (r.statusCode() == 201) {
        counts[0]++;
        freshAt.add(at);
        report.event(side, "order", "201: payment charged, order " + r.headers().firstValue("Location").orElse("?"));
      } else if (r.statusCode() == 409) {
        if (counts[2]++ == 0) {
          report.event(side, "conflict", "first 409: the same key is in progress (Retry-After "
              + r.headers().firstValue("Retry-After").orElse("?") + ")");
        }
      } else {
        counts[3]++;
        report.event(side, "failure", "HTTP " + r.statusCode() + ": " + r.body().substring(0, Math.min(160, r.body().length())));
      }
    }
  }
}
