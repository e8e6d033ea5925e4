package dev.shepherd.idempotency;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.testing.PostgresCluster;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Transactional completion through {@code kill -9}: a child JVM runs {@link OrderHandler} for many
 * keys at once, each stopped at one of the crash points (before the writes, between the two
 * writes, between the writes and the commit, after the commit), and is killed with every key
 * stopped there. Then each key is retried here: a key killed after the commit replays and its
 * rows exist exactly once; every other key has no row at all and is claimed again, and its retry
 * writes them exactly once. 4 rounds of 80 keys: 320 killed requests.
 */
class JdbcClaimTransactionKillTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.primaryOnly();

  private static final int ROUNDS = 4;
  private static final int KEYS_PER_ROUND = 80;
  private static final Duration CHILD_LEASE = Duration.ofSeconds(1);

  private static HikariDataSource dataSource;
  private static IdempotencyTracker tracker;

  @BeforeAll
  static void setUp() throws SQLException {
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(pg.primaryJdbcUrl());
    config.setMaximumPoolSize(8);
    dataSource = new HikariDataSource(config);
    JdbcIdempotencyStore store = JdbcIdempotencyStore.builder(dataSource).createSchema(true).build();
    try (Connection c = dataSource.getConnection()) {
      OrderHandler.createTables(c);
    }
    tracker = IdempotencyTracker.builder().store(store).build();
  }

  @AfterAll
  static void tearDown() {
    tracker.close();
    dataSource.close();
  }

  @Test
  void everyKeyKilledAtEveryPointEndsWithItsRowsExactlyOnce() throws Exception {
    Map<OrderHandler.Point, Integer> replayed = new LinkedHashMap<>();
    Map<OrderHandler.Point, Integer> ranAgain = new LinkedHashMap<>();
    OrderHandler.Point[] points = OrderHandler.Point.values();
    for (int round = 0; round < ROUNDS; round++) {
      Map<String, OrderHandler.Point> keys = new LinkedHashMap<>();
      for (int i = 0; i < KEYS_PER_ROUND; i++) {
        keys.put("kill-" + round + "-" + i + "-" + UUID.randomUUID(), points[i % points.length]);
      }
      runChildAndKillIt(keys);

      for (Map.Entry<String, OrderHandler.Point> entry : keys.entrySet()) {
        String key = entry.getKey();
        Tracked retry = await().atMost(CHILD_LEASE.multipliedBy(30))
            .pollInterval(Duration.ofMillis(20))
            .until(() -> tracker.track(key, "fp"), t -> !(t instanceof Tracked.InProgress));
        if (entry.getValue() == OrderHandler.Point.AFTER_COMMIT) {
          assertThat(retry).as(key).isInstanceOfSatisfying(Tracked.Completed.class, done ->
              assertThat(done.response().body()).isEqualTo(("order " + key).getBytes(UTF_8)));
          assertThat(rows(key)).as("rows of %s, killed after its commit", key).containsExactly(1, 1);
          replayed.merge(entry.getValue(), 1, Integer::sum);
        } else {
          assertThat(rows(key)).as("rows of %s, killed at %s", key, entry.getValue())
              .containsExactly(0, 0);
          assertThat(retry).as(key).isInstanceOfSatisfying(Tracked.Claimed.class,
              claim -> assertThat(claim.tookOver()).isTrue());
          OrderHandler.handle(tracker, (Tracked.Claimed) retry, point -> {});
          assertThat(rows(key)).as("rows of %s after its retry ran", key).containsExactly(1, 1);
          assertThat(tracker.track(key, "fp")).isInstanceOf(Tracked.Completed.class);
          ranAgain.merge(entry.getValue(), 1, Integer::sum);
        }
      }
    }
    int perPoint = ROUNDS * KEYS_PER_ROUND / points.length;
    assertThat(replayed).containsExactly(Map.entry(OrderHandler.Point.AFTER_COMMIT, perPoint));
    assertThat(ranAgain).containsExactly(
        Map.entry(OrderHandler.Point.BEFORE_WRITES, perPoint),
        Map.entry(OrderHandler.Point.BETWEEN_WRITES, perPoint),
        Map.entry(OrderHandler.Point.BEFORE_COMMIT, perPoint));
  }

  private static void runChildAndKillIt(Map<String, OrderHandler.Point> keys) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    // in the module's target directory, not the shared /tmp: kept for a failure's diagnosis
    Path log = Files.createTempFile(
        Files.createDirectories(Path.of("target", "child-logs")), "idempotency-kill-child-", ".log");
    List<String> command = new ArrayList<>(List.of(java, "-cp",
        System.getProperty("java.class.path"), TransactionalChildMain.class.getName(),
        pg.primaryJdbcUrl(), Long.toString(CHILD_LEASE.toMillis())));
    keys.forEach((key, point) -> command.add(key + "=" + point));
    Process child = new ProcessBuilder(command).redirectError(log.toFile()).start();
    try {
      BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), UTF_8));
      Map<String, String> stopped = new LinkedHashMap<>();
      while (stopped.size() < keys.size()) {
        String line = out.readLine();
        assertThat(line).as("child output; its stderr is in %s", log).isNotNull();
        String[] parts = line.split(" ");
        assertThat(parts[0]).as("child line '%s'; stderr in %s", line, log).isEqualTo("AT");
        stopped.put(parts[1], parts[2]);
      }
      keys.forEach((key, point) -> assertThat(stopped.get(key)).isEqualTo(point.name()));
    } finally {
      child.destroyForcibly(); // SIGKILL: no shutdown hook, no rollback sent, sockets just close
      assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
    }
  }

  /** The key's rows in the two business tables. */
  private static List<Integer> rows(String key) throws SQLException {
    List<Integer> counts = new ArrayList<>();
    try (Connection c = dataSource.getConnection()) {
      for (String table : List.of("kill_orders", "kill_order_lines")) {
        try (PreparedStatement ps = c.prepareStatement(
            "SELECT count(*) FROM " + table + " WHERE idempotency_key = ?")) {
          ps.setString(1, key);
          try (ResultSet rs = ps.executeQuery()) {
            rs.next();
            counts.add(rs.getInt(1));
          }
        }
      }
    }
    return counts;
  }
}
