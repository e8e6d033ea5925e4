package dev.shepherd.idempotency;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.testing.PostgresCluster;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The JDBC specifics against a real PostgreSQL. (The store contract itself runs against the JDBC
 * store in shepherd-idempotency-testkit, {@code JdbcStoreContractTest}.)
 */
class JdbcIdempotencyStoreTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.primaryOnly();

  private static final Duration LONG = Duration.ofMinutes(10);
  private static final Duration SHORT = Duration.ofMillis(300);

  private static HikariDataSource dataSource;
  private JdbcIdempotencyStore store;
  private final List<IdempotencyTracker> trackers = new ArrayList<>();

  @BeforeAll
  static void pool() {
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(pg.primaryJdbcUrl());
    config.setMaximumPoolSize(40);
    config.setConnectionTimeout(2000);
    dataSource = new HikariDataSource(config);
  }

  @AfterAll
  static void closePool() {
    dataSource.close();
  }

  @BeforeEach
  void openStore() {
    store = JdbcIdempotencyStore.builder(dataSource).createSchema(true).build();
  }

  @AfterEach
  void closeTrackers() {
    trackers.forEach(IdempotencyTracker::close);
  }

  private IdempotencyTracker tracker(Duration lease, Duration retention) {
    IdempotencyTracker tracker =
        IdempotencyTracker.builder().store(store).lease(lease).retention(retention).build();
    trackers.add(tracker);
    return tracker;
  }

  private static String key(String name) {
    return name + ":" + UUID.randomUUID();
  }

  private static StoredResponse response(String body) {
    return new StoredResponse(201, List.of(), body.getBytes(StandardCharsets.UTF_8),
        Instant.parse("2026-01-02T03:04:05Z"));
  }

  /** Returns once a lease of this length, claimed before, ran out by the database's clock. */
  private void awaitLeaseOver(Duration lease) {
    String probe = key("probe");
    store.claim(probe, "fp", lease, LONG, OrphanPolicy.TAKE_OVER);
    org.awaitility.Awaitility.await().until(() -> store.claim(probe, "fp", lease, LONG,
        OrphanPolicy.TAKE_OVER) instanceof Tracked.Claimed);
  }

  private boolean isStored(String key) {
    try (Connection c = dataSource.getConnection();
        PreparedStatement ps = c.prepareStatement(
            "SELECT 1 FROM shepherd_idempotency WHERE idempotency_key = ?")) {
      ps.setString(1, key);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next();
      }
    } catch (SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  // --- README.md: "Exactly once with PostgreSQL" (the case, verbatim) ---
  static StoredResponse handleOrder(IdempotencyTracker tracker, String key) throws SQLException {
    return switch (tracker.track(key, "fp")) {
      case Tracked.Claimed claim -> {
        try (JdbcClaimTransaction tx = JdbcClaimTransaction.begin(tracker, claim)) {
          insertOrder(tx.connection(), claim.key());      // the request's own writes
          insertOrderLine(tx.connection(), claim.key());
          StoredResponse response = created(claim.key());
          tx.commit(response);  // UPDATE of the key's record (fenced by its token), then COMMIT
          yield response;
        } catch (SQLException | RuntimeException e) {
          tracker.fail(claim, e);  // nothing of the request was committed
          throw e;
        }
      }
      // --- end of sample ---
      case Tracked.Completed done -> done.response();
      default -> throw new IllegalStateException("unexpected state of " + key);
    };
  }

  private static void insertOrder(Connection c, String key) throws SQLException {
    insertInto(c, "readme_orders", key);
  }

  private static void insertOrderLine(Connection c, String key) throws SQLException {
    insertInto(c, "readme_order_lines", key);
  }

  private static void insertInto(Connection c, String table, String key) throws SQLException {
    try (PreparedStatement ps =
        c.prepareStatement("INSERT INTO " + table + " (idempotency_key) VALUES (?)")) {
      ps.setString(1, key);
      ps.executeUpdate();
    }
  }

  private static StoredResponse created(String key) {
    return new StoredResponse(201, List.of(new StoredResponse.Header("Location", "/orders/" + key)),
        new byte[0], Instant.parse("2026-01-02T03:04:05Z"));
  }

  private static int count(String table, String key) throws SQLException {
    try (Connection c = dataSource.getConnection();
        PreparedStatement ps =
            c.prepareStatement("SELECT count(*) FROM " + table + " WHERE idempotency_key = ?")) {
      ps.setString(1, key);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getInt(1);
      }
    }
  }

  @Test
  void queryTimeoutCancelsAStatementStuckOnALock() throws SQLException {
    // A network timeout far beyond the query timeout: only a cancel on the server ends the wait.
    JdbcIdempotencyStore impatient = JdbcIdempotencyStore.builder(dataSource)
        .queryTimeout(Duration.ofMillis(500)).networkTimeout(Duration.ofMinutes(5)).build();
    String key = key("locked");
    Tracked.Claimed claim =
        (Tracked.Claimed) impatient.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER);
    try (Connection locker = dataSource.getConnection()) {
      locker.setAutoCommit(false);
      try (PreparedStatement lock = locker.prepareStatement(
          "SELECT 1 FROM shepherd_idempotency WHERE idempotency_key = ? FOR UPDATE")) {
        lock.setString(1, key);
        lock.executeQuery().close();
      }
      // The UPDATE waits for the row lock until the watchdog cancels it on the server.
      assertThatThrownBy(() -> impatient.complete(key, claim.fencingToken(), response("late"),
          LONG))
          .isInstanceOf(IdempotencyStoreException.class)
          .cause().isInstanceOfSatisfying(SQLException.class,
              e -> assertThat(e.getSQLState()).isEqualTo("57014")); // query_canceled
      locker.rollback();
    }
    // The connection went back to the pool clean: the same claim completes now.
    assertThat(impatient.complete(key, claim.fencingToken(), response("now"), LONG)).isTrue();
  }

  @Test
  void readmeTransactionSampleCommitsTheWritesWithTheResponseAndReplays() throws Exception {
    try (Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
      s.execute("CREATE TABLE IF NOT EXISTS readme_orders (idempotency_key text NOT NULL)");
      s.execute("CREATE TABLE IF NOT EXISTS readme_order_lines (idempotency_key text NOT NULL)");
    }
    IdempotencyTracker tracker = tracker(LONG, LONG);
    String key = key("readme-tx");

    StoredResponse first = handleOrder(tracker, key);
    StoredResponse replay = handleOrder(tracker, key);

    assertThat(replay).isEqualTo(first);
    assertThat(count("readme_orders", key)).isEqualTo(1);
    assertThat(count("readme_order_lines", key)).isEqualTo(1);
  }

  /**
   * The fencing pattern of {@link Tracked.Claimed#fencingToken()}: a write elsewhere carries the
   * token and is conditioned on no larger token having written before.
   */
  private static int fencedWrite(long token, long balance) throws SQLException {
    try (Connection c = dataSource.getConnection();
        PreparedStatement ps = c.prepareStatement(
            "UPDATE fenced_accounts SET balance = ?, fence = ? WHERE id = 'a' AND fence <= ?")) {
      ps.setLong(1, balance);
      ps.setLong(2, token);
      ps.setLong(3, token);
      return ps.executeUpdate();
    }
  }

  @Test
  void afterATakeOverTheStaleOwnersFencedWriteIsRefused() throws Exception {
    try (Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
      s.execute("CREATE TABLE IF NOT EXISTS fenced_accounts"
          + " (id text PRIMARY KEY, balance bigint NOT NULL, fence bigint NOT NULL)");
      s.execute("INSERT INTO fenced_accounts VALUES ('a', 0, 0)"
          + " ON CONFLICT (id) DO UPDATE SET balance = 0, fence = 0");
    }
    String key = key("fenced");
    Tracked.Claimed stale =
        (Tracked.Claimed) store.claim(key, "fp", SHORT, LONG, OrphanPolicy.TAKE_OVER);
    awaitLeaseOver(SHORT);
    Tracked.Claimed successor =
        (Tracked.Claimed) store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER);

    assertThat(fencedWrite(successor.fencingToken(), 200)).isEqualTo(1);
    assertThat(fencedWrite(stale.fencingToken(), 100)).isZero(); // the stale owner is refused
    assertThat(store.complete(key, stale.fencingToken(), response("stale"), LONG)).isFalse();
    try (Connection c = dataSource.getConnection(); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT balance, fence FROM fenced_accounts")) {
      rs.next();
      assertThat(rs.getLong(1)).isEqualTo(200);
      assertThat(rs.getLong(2)).isEqualTo(successor.fencingToken());
    }
  }

  @Test
  void schemaShipsInTheJarAndNamesTheTable() {
    String sql = JdbcIdempotencyStore.schemaSql("orders_idem");

    assertThat(sql)
        .contains("CREATE TABLE IF NOT EXISTS orders_idem (")
        .contains("CREATE SEQUENCE IF NOT EXISTS orders_idem_token_seq")
        .doesNotContain("shepherd_idempotency");
  }

  @Test
  void customTableIsCreatedAndUsed() throws Exception {
    try (Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
      s.execute("CREATE SCHEMA IF NOT EXISTS billing");
    }
    JdbcIdempotencyStore custom =
        JdbcIdempotencyStore.builder(dataSource).tableName("billing.idem").createSchema(true)
            .build();

    assertThat(custom.claim("k", "fp", LONG, LONG, OrphanPolicy.TAKE_OVER))
        .isInstanceOf(Tracked.Claimed.class);
    try (Connection c = dataSource.getConnection(); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT count(*) FROM billing.idem")) {
      rs.next();
      assertThat(rs.getInt(1)).isEqualTo(1);
    }
  }

  @Test
  void schemaCreationIsSafeFromManyJvmsAtOnce() throws Exception {
    String table = "race_" + Long.toHexString(System.nanoTime());
    CountDownLatch start = new CountDownLatch(1);
    try (ExecutorService pool = Executors.newFixedThreadPool(8)) {
      List<Future<JdbcIdempotencyStore>> stores = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        stores.add(pool.submit(() -> {
          start.await();
          return JdbcIdempotencyStore.builder(dataSource).tableName(table).createSchema(true)
              .build();
        }));
      }
      start.countDown();
      for (Future<JdbcIdempotencyStore> store : stores) {
        assertThat(store.get().tableName()).isEqualTo(table);
      }
    }
  }

  @Test
  void withoutCreateSchemaAMissingTableIsAStoreError() {
    JdbcIdempotencyStore missing =
        JdbcIdempotencyStore.builder(dataSource).tableName("no_such_table").build();

    assertThatThrownBy(() -> missing.claim("k", "fp", LONG, LONG, OrphanPolicy.TAKE_OVER))
        .isInstanceOf(IdempotencyStoreException.class)
        .hasMessageContaining("no_such_table")
        .hasMessageContaining("'k'");
  }

  @Test
  void tableNamesThatAreNotPlainIdentifiersAreRejected() {
    assertThatThrownBy(() -> JdbcIdempotencyStore.builder(dataSource).tableName("x; DROP TABLE y"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("tableName must be a lower-case SQL identifier");
  }

  @Test
  void worksWithConnectionsHandedOutWithoutAutoCommit() {
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(pg.primaryJdbcUrl());
    config.setAutoCommit(false);
    config.setMaximumPoolSize(2);
    try (HikariDataSource manual = new HikariDataSource(config)) {
      JdbcIdempotencyStore s = JdbcIdempotencyStore.builder(manual).createSchema(true).build();
      String key = key("manual-commit");
      Tracked.Claimed claim = (Tracked.Claimed) s.claim(key, "fp", LONG, LONG,
          OrphanPolicy.TAKE_OVER);
      assertThat(s.complete(key, claim.fencingToken(), response("x"), LONG)).isTrue();

      assertThat(store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER))
          .isInstanceOf(Tracked.Completed.class);
    }
  }

  @Test
  void storeErrorWhenTheDatabaseStopsAndRecoveryWhenItReturns() {
    IdempotencyTracker tracker = tracker(LONG, LONG);
    String key = key("db-down");
    Tracked.Claimed claim = (Tracked.Claimed) tracker.track(key, "fp");
    pg.stopPrimary();
    try {
      assertThatThrownBy(() -> tracker.track(key("other"), "fp"))
          .isInstanceOf(IdempotencyStoreException.class);
      assertThatThrownBy(() -> tracker.complete(claim, response("x")))
          .isInstanceOf(IdempotencyStoreException.class);
    } finally {
      pg.startPrimary();
    }
    org.awaitility.Awaitility.await().ignoreExceptions().until(
        () -> tracker.track(key, "fp") instanceof Tracked.InProgress);
    tracker.complete(claim, response("after restart"));
    assertThat(tracker.track(key, "fp")).isInstanceOf(Tracked.Completed.class);
  }

  @Test
  void releasedKeyIsFreeForTheNextClaimEvenIfTheDatabaseClockSteppedBack() throws Exception {
    String same = key("released-clock-same");
    String other = key("released-clock-other");
    List<Long> tokens = new ArrayList<>();
    for (String key : List.of(same, other)) {
      Tracked.Claimed first =
          (Tracked.Claimed) store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER);
      assertThat(store.release(key, first.fencingToken())).isTrue();
      tokens.add(first.fencingToken());
    }
    // The released rows' expiry (the release's statement_timestamp()) now lies ahead of the
    // next claim's clock, as after the database's clock stepped back.
    try (Connection c = dataSource.getConnection();
        PreparedStatement ps = c.prepareStatement("UPDATE shepherd_idempotency"
            + " SET expires_at = statement_timestamp() + interval '1 hour'"
            + " WHERE idempotency_key IN (?, ?) AND state = 'R'")) {
      ps.setString(1, same);
      ps.setString(2, other);
      assertThat(ps.executeUpdate()).isEqualTo(2);
    }

    assertThat(store.claim(same, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER))
        .isInstanceOfSatisfying(Tracked.Claimed.class, claim -> {
          assertThat(claim.tookOver()).isFalse();
          assertThat(claim.fencingToken()).isGreaterThan(tokens.get(0));
        });
    assertThat(store.claim(other, "another-fp", LONG, LONG, OrphanPolicy.HALT))
        .isInstanceOfSatisfying(Tracked.Claimed.class, claim -> {
          assertThat(claim.tookOver()).isFalse();
          assertThat(claim.fencingToken()).isGreaterThan(tokens.get(1));
        });
    assertThat(store.claim(same, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER))
        .isInstanceOf(Tracked.InProgress.class);
  }

  @Test
  void releasedKeyKeepsItsRowSoTheNextTokenIsLarger() throws Exception {
    String key = key("released-row");
    Tracked.Claimed first =
        (Tracked.Claimed) store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER);
    store.release(key, first.fencingToken());

    assertThat(isStored(key)).isTrue();
    try (Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
      // Simulate a sequence that lags (restored from a backup): the key's token must still grow.
      s.execute("SELECT setval('shepherd_idempotency_token_seq', 1)");
    }
    Tracked.Claimed second =
        (Tracked.Claimed) store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER);
    assertThat(second.fencingToken()).isGreaterThan(first.fencingToken());
  }
}
