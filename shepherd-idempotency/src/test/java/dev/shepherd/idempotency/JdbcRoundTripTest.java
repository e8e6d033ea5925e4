package dev.shepherd.idempotency;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.testing.PostgresCluster;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Round trips of the JDBC store, counted on the wire between pgjdbc and a real PostgreSQL
 * ({@link PgWireCounter}): a replay is one round trip, a new request two (claim, complete), each
 * one statement in auto-commit, with no BEGIN, COMMIT or second read. Counted after the driver
 * switched to server-side prepared statements (pgjdbc's {@code prepareThreshold}), the steady
 * state, and also before it.
 */
class JdbcRoundTripTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.primaryOnly();

  private static final StoredResponse RESPONSE = new StoredResponse(201,
      List.of(new StoredResponse.Header("Content-Type", "application/json"),
          new StoredResponse.Header("Location", "/orders/42")),
      "{\"id\":42,\"status\":\"created\"}".getBytes(StandardCharsets.UTF_8),
      Instant.parse("2026-11-24T00:00:00Z"));

  private PgWireCounter wire;
  private Connection connection;
  private IdempotencyTracker tracker;

  @BeforeEach
  void connect() throws Exception {
    wire = new PgWireCounter("127.0.0.1", pg.primaryPort());
    connection = DriverManager.getConnection(wire.jdbcUrl());
    JdbcIdempotencyStore store =
        JdbcIdempotencyStore.builder(singleConnection(connection)).createSchema(true).build();
    // A lease of an hour: no heartbeat renewal falls into the counted calls.
    tracker = IdempotencyTracker.builder().store(store).lease(Duration.ofHours(1)).build();
  }

  @AfterEach
  void close() throws Exception {
    tracker.close();
    connection.close();
    wire.close();
  }

  @Test
  void aReplayIsOneRoundTripAndANewRequestTwo() {
    // Past pgjdbc's prepareThreshold (5): the statements are now server-side prepared.
    for (int i = 0; i < 8; i++) {
      String key = "warm:" + UUID.randomUUID();
      tracker.complete((Tracked.Claimed) tracker.track(key, "fp"), RESPONSE);
      assertThat(tracker.track(key, "fp")).isInstanceOf(Tracked.Completed.class);
    }
    for (int i = 0; i < 3; i++) {
      assertCounted();
    }
  }

  @Test
  void theFirstCallsOnAConnectionAreNoDearer() {
    assertCounted(); // statements not yet prepared on the server: still one round trip each
  }

  private void assertCounted() {
    String key = "k:" + UUID.randomUUID();
    wire.reset();
    Tracked.Claimed claim = (Tracked.Claimed) tracker.track(key, "fp");
    assertOneStatement(wire.roundTrips(), "WITH ");
    wire.reset();
    tracker.complete(claim, RESPONSE);
    assertOneStatement(wire.roundTrips(), "UPDATE ");
    wire.reset();
    Tracked replay = tracker.track(key, "fp");
    assertThat(replay).isInstanceOf(Tracked.Completed.class);
    assertThat(((Tracked.Completed) replay).response().toBytes()).isEqualTo(RESPONSE.toBytes());
    assertOneStatement(wire.roundTrips(), "WITH ");
  }

  private static void assertOneStatement(List<List<String>> roundTrips, String prefix) {
    assertThat(roundTrips).as("round trips, each the statements it executed").hasSize(1);
    assertThat(roundTrips.get(0)).hasSize(1);
    assertThat(roundTrips.get(0).get(0)).startsWith(prefix).contains("shepherd_idempotency");
  }

  /** A DataSource that hands out one connection again and again; close() keeps it open. */
  private static DataSource singleConnection(Connection connection) {
    Connection kept = (Connection) Proxy.newProxyInstance(
        JdbcRoundTripTest.class.getClassLoader(), new Class<?>[] {Connection.class},
        (proxy, method, args) -> method.getName().equals("close")
            ? null
            : TestDataSource.invoke(connection, method, args));
    return new TestDataSource() {
      @Override
      public Connection getConnection() {
        return kept;
      }
    };
  }
}
