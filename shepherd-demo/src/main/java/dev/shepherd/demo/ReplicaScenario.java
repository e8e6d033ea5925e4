package dev.shepherd.demo;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shepherd.demo.ScenarioReport.Side;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;

/**
 * Read-your-writes under visible lag: for each write, WAL replay on the replica is paused for a
 * chosen time ({@code pg_wal_replay_pause()}), an order is posted, and it is read back at once
 * twice through {@code GET /orders/{id}}: without the consistency token (the baseline: the read
 * goes to the replica and misses the write) and with it (the router waits until the replica has
 * replayed the write, or reads on the primary after its bound, the router's configured wait). Each write's lag is measured
 * on its own, by polling the replica's replay position.
 *
 * <p>Bounded: at most {@value #MAX_WRITES} writes, pauses of at most {@value #MAX_PAUSE_MS} ms; replay
 * is always resumed, also when the run fails.
 */
final class ReplicaScenario extends AbstractScenario.Http {

  static final int MAX_WRITES = 10;
  static final int MAX_PAUSE_MS = 1_500;

  private final DataSource replica;
  private final long boundMs;

  /**
   * Creates the scenario.
   *
   * @param base the service's base URI
   * @param replica the replica, to pause and resume its WAL replay
   * @param routerMaxWait how long the service's router waits for the replica before it reads on the
   *     primary, from the router's config: the bound the report names
   */
  ReplicaScenario(Supplier<URI> base, DataSource replica, Duration routerMaxWait) {
    super(
        "replica", "Read your writes on a lagging replica", Duration.ofSeconds(60), base,
        Param.whole("writes", 5, 1, MAX_WRITES),
        Param.whole("pauseMs", 300, 0, MAX_PAUSE_MS));
    this.replica = replica;
    this.boundMs = routerMaxWait.toMillis();
  }

  @Override
  public void run(Map<String, Object> parameters, ScenarioReport report) throws Exception {
    int writes = Scenario.integer(parameters, "writes");
    int pauseMs = Scenario.integer(parameters, "pauseMs");
    report.baselineName("the same read without the token");
    String run = Long.toHexString(System.nanoTime());
    List<@Nullable Double> lags = new ArrayList<>();
    List<@Nullable Double> waits = new ArrayList<>();
    List<@Nullable Double> naiveWaits = new ArrayList<>();
    int staleWithToken = 0;
    int staleWithout = 0;
    int onReplica = 0;
    int fallbacks = 0;
    for (int i = 1; i <= writes; i++) {
      if (pauseMs > 0) {
        replay(false);
        report.event(Side.RUN, "pause", "write " + i + ": replica replay paused for " + pauseMs + " ms");
      }
      try {
        HttpResponse<String> created = http.send(HttpRequest.newBuilder(base.get().resolve("/orders"))
            .timeout(Duration.ofSeconds(10)).header("Content-Type", "application/json")
            .header("Idempotency-Key", "\"lag-" + run + "-" + i + "\"")
            .POST(HttpRequest.BodyPublishers.ofString("{\"customer\":\"lag-" + run + "\",\"product\":\"p\",\"quantity\":1}"))
            .build(), HttpResponse.BodyHandlers.ofString());
        long written = System.nanoTime();
        if (created.statusCode() != 201) {
          throw new IllegalStateException("POST /orders answered " + created.statusCode() + ": " + created.body());
        }
        JsonNode order = Json.read(created.body().getBytes(java.nio.charset.StandardCharsets.UTF_8));
        String location = created.headers().firstValue("Location").orElseThrow();
        String token = created.headers().firstValue("Shepherd-Consistency-Token").orElseThrow(
            () -> new IllegalStateException("POST /orders gave no Shepherd-Consistency-Token"));
        String lsn = order.path("writtenAt").asText();
        report.event(Side.RUN, "write", "write " + i + " committed on the primary at " + lsn);

        CompletableFuture<HttpResponse<String>> withToken = http.sendAsync(HttpRequest.newBuilder(base.get().resolve(location))
            .timeout(Duration.ofSeconds(10)).header("Shepherd-Consistency-Token", token).build(),
            HttpResponse.BodyHandlers.ofString());
        long naiveStart = System.nanoTime();
        HttpResponse<String> without = http.send(HttpRequest.newBuilder(base.get().resolve(location))
            .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        naiveWaits.add(ScenarioReport.msSince(naiveStart));
        if (without.statusCode() == 404) {
          staleWithout++;
          report.event(Side.BASELINE, "stale", "write " + i + " read without the token: 404, the replica has not replayed it");
        } else {
          report.event(Side.BASELINE, "read", "write " + i + " read without the token: " + without.statusCode());
        }
        long sleep = written + Duration.ofMillis(pauseMs).toNanos() - System.nanoTime();
        if (sleep > 0) {
          Thread.sleep(Duration.ofNanos(sleep));
        }
        if (pauseMs > 0) {
          replay(true);
          report.event(Side.RUN, "resume", "write " + i + ": replay resumed");
        }
        double lag = awaitReplayed(lsn, written);
        lags.add(lag);
        HttpResponse<String> read = withToken.get(15, TimeUnit.SECONDS);
        JsonNode answer = Json.read(read.body().getBytes(java.nio.charset.StandardCharsets.UTF_8));
        if (read.statusCode() != 200) {
          staleWithToken++;
          report.event(Side.SHEPHERD, "stale", "write " + i + " read with the token: " + read.statusCode() + " (stale!)");
          waits.add(null);
        } else {
          double waited = answer.path("waitedMs").asDouble();
          waits.add(waited);
          String by = answer.path("servedBy").asText();
          if (by.equals("replica")) {
            onReplica++;
            report.event(Side.SHEPHERD, "read", "write " + i + " read with the token on the replica after waiting "
                + Math.round(waited) + " ms (lag " + Math.round(lag) + " ms)");
          } else {
            fallbacks++;
            report.event(Side.SHEPHERD, "fallback", "write " + i + " read with the token fell back to the primary ("
                + answer.path("fallback").asText() + ") after " + Math.round(waited) + " ms");
          }
        }
      } finally {
        if (pauseMs > 0) {
          replay(true);
        }
      }
    }
    report.row("stale", "stale reads (the write not visible)", "", staleWithToken, staleWithout);
    report.row("reads", "reads", "", writes, writes);
    report.row("onReplica", "reads served by the replica", "", onReplica, writes - staleWithout);
    report.row("fallbacks", "reads served by the primary after the " + boundMs + " ms bound", "", fallbacks, 0);
    report.row("meanWaitMs", "mean time to answer the read", "ms", mean(waits), mean(naiveWaits));
    report.row("meanLagMs", "mean measured replica lag of the write", "ms", mean(lags), mean(lags));

    List<Double> xs = new ArrayList<>();
    for (int i = 1; i <= writes; i++) {
      xs.add((double) i);
    }
    report.chart(new ScenarioReport.Chart("write", "#", "time", "ms", xs, List.of(
        new ScenarioReport.Series("measured replica lag", "run", lags),
        new ScenarioReport.Series("Shepherd read with the token: wait", "shepherd", waits),
        new ScenarioReport.Series("read without the token: answer time", "baseline", naiveWaits))));
    report.caption("With replay paused " + pauseMs + " ms per write, " + staleWithout + " of " + writes
        + " reads without the token missed the write; with the token " + staleWithToken
        + " did: " + (fallbacks == 0 ? "each read waited about as long as the lag, then read on the replica."
            : onReplica + " waited for the replica, " + fallbacks + " waited the " + boundMs + " ms bound and read on the primary."));
  }

  private static double mean(List<@Nullable Double> values) {
    return values.stream().filter(java.util.Objects::nonNull).mapToDouble(Double::doubleValue).average().orElse(0);
  }

  private void replay(boolean resume) throws SQLException {
    try (Connection c = replica.getConnection(); Statement s = c.createStatement()) {
      s.execute(resume ? "SELECT pg_wal_replay_resume()" : "SELECT pg_wal_replay_pause()");
    } catch (SQLException e) {
      throw new SQLException("cannot " + (resume ? "resume" : "pause") + " WAL replay on the replica (the scenario needs "
          + "a superuser or pg_wal_replay_pause rights, as the embedded replica gives): " + e.getMessage(), e);
    }
  }

  /** Polls the replica until it has replayed {@code lsn}; returns ms since {@code writtenNanos}. */
  private double awaitReplayed(String lsn, long writtenNanos) throws SQLException, InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    try (Connection c = replica.getConnection();
        PreparedStatement q = c.prepareStatement("SELECT pg_last_wal_replay_lsn() >= ?::pg_lsn")) {
      q.setString(1, lsn);
      while (true) {
        try (ResultSet rs = q.executeQuery()) {
          if (rs.next() && rs.getBoolean(1)) {
            return ScenarioReport.msSince(writtenNanos);
          }
        }
        if (System.nanoTime() - deadline > 0) {
          throw new IllegalStateException("the replica did not replay " + lsn + " within 10 s of resuming");
        }
        Thread.sleep(2);
      }
    }
  }
}
