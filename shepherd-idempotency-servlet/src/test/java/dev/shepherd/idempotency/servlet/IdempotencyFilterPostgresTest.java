package dev.shepherd.idempotency.servlet;

import static dev.shepherd.idempotency.servlet.Http.assertProblem;
import static dev.shepherd.idempotency.servlet.Http.text;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.JdbcIdempotencyStore;
import dev.shepherd.idempotency.StoredResponse;
import dev.shepherd.idempotency.ForwardingIdempotencyStore;
import dev.shepherd.testing.FaultProxy;
import dev.shepherd.testing.PostgresCluster;
import java.lang.management.ManagementFactory;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The filter over the JDBC store on a real PostgreSQL reached through a {@link FaultProxy}, so the
 * database can be made to hang (stop forwarding) or vanish (cut and refuse connections) while
 * requests run: what each client then sees, that a response is never given up because storing it
 * failed, and that a hung database bounds every request with no pile-up.
 */
class IdempotencyFilterPostgresTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.primaryOnly();

  private static final int POOL = 8;

  private final TestServlet servlet = new TestServlet();
  private FaultProxy proxy;
  private HikariDataSource dataSource;
  private CountingStore store;
  private IdempotencyTracker tracker;
  private JettyApp app;

  private void start(Consumer<IdempotencyTracker.Builder> trackerSettings,
      Consumer<IdempotencyFilter.Builder> filterSettings, boolean wrap) throws Exception {
    proxy = FaultProxy.to(pg.primaryPort());
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl("jdbc:postgresql://127.0.0.1:" + proxy.port() + "/postgres");
    config.setUsername(pg.user());
    config.setMaximumPoolSize(POOL);
    config.setConnectionTimeout(1000);
    config.setValidationTimeout(500);
    config.setInitializationFailTimeout(-1);
    config.setPoolName("idem-filter-test");
    dataSource = new HikariDataSource(config);
    JdbcIdempotencyStore jdbc = JdbcIdempotencyStore.builder(dataSource).createSchema(true)
        .queryTimeout(Duration.ofSeconds(1)).networkTimeout(Duration.ofMillis(700)).build();
    store = new CountingStore(jdbc);
    IdempotencyTracker.Builder trackerBuilder = IdempotencyTracker.builder()
        .store(wrap ? store : jdbc).lease(Duration.ofSeconds(30))
        .heartbeatInterval(Duration.ofMillis(300));
    trackerSettings.accept(trackerBuilder);
    tracker = trackerBuilder.build();
    IdempotencyFilter.Builder filter = IdempotencyFilter.builder(tracker).allowAnonymous(true);
    filterSettings.accept(filter);
    app = new JettyApp(filter.build(), servlet);
  }

  @AfterEach
  void stop() {
    servlet.gate.countDown();
    if (proxy != null) {
      proxy.restore();
    }
    if (app != null) {
      app.close();
    }
    if (tracker != null) {
      tracker.close();
    }
    if (dataSource != null) {
      dataSource.close();
    }
    if (proxy != null) {
      proxy.close();
    }
  }

  /** Makes the database unreachable: open connections reset, new ones refused. */
  private void databaseDown() {
    proxy.refuseConnections();
    proxy.cutConnections();
  }

  @Test
  void replaysFromPostgres() throws Exception {
    start(t -> {}, f -> {}, false);
    HttpResponse<byte[]> first = app.send(app.post("/orders", "\"pg-1\"", "{}").build());
    HttpResponse<byte[]> replay = app.send(app.post("/orders", "\"pg-1\"", "{}").build());

    assertThat(first.statusCode()).isEqualTo(201);
    assertThat(replay.body()).isEqualTo(first.body());
    assertThat(replay.headers().firstValue("Idempotent-Replayed")).hasValue("true");
    assertProblem(app.send(app.post("/orders", "\"pg-1\"", "{\"x\":1}").build()), 422,
        "key-reused");
    assertThat(servlet.runs("/orders")).isEqualTo(1);
  }

  @Test
  void databaseHiccupWhileStoringIsRetriedAndTheClientGetsItsStoredSuccess() throws Exception {
    start(t -> t.completionRetry(Duration.ofSeconds(60)), f -> {}, true);
    CompletableFuture<HttpResponse<byte[]>> inFlight = app.client.sendAsync(
        app.post("/slow", "\"hiccup\"", "{}").build(), HttpResponse.BodyHandlers.ofByteArray());
    assertThat(servlet.entered.await(30, TimeUnit.SECONDS)).isTrue();

    databaseDown();
    servlet.gate.countDown();
    await().atMost(Duration.ofSeconds(60)).until(() -> store.failedCompletes.get() >= 2);
    proxy.restore();

    HttpResponse<byte[]> response = inFlight.get(60, TimeUnit.SECONDS);
    assertThat(response.statusCode()).isEqualTo(201);
    assertThat(text(response)).isEqualTo("slow run 1");
    HttpResponse<byte[]> replay = app.send(app.post("/slow", "\"hiccup\"", "{}").build());
    assertThat(text(replay)).isEqualTo("slow run 1");
    assertThat(servlet.runs("/slow")).isEqualTo(1);
  }

  @Test
  void databaseDownPastTheCompletionBoundGives503ThenTheStoredResponseNeverASecondRun()
      throws Exception {
    start(t -> t.completionRetry(Duration.ofMillis(500)), f -> {}, false);
    String key = "\"pg-down\"";
    CompletableFuture<HttpResponse<byte[]>> inFlight = app.client.sendAsync(
        app.post("/slow", key, "{}").build(), HttpResponse.BodyHandlers.ofByteArray());
    assertThat(servlet.entered.await(30, TimeUnit.SECONDS)).isTrue();

    databaseDown();
    try {
      servlet.gate.countDown();
      HttpResponse<byte[]> response = inFlight.get(60, TimeUnit.SECONDS);
      assertProblem(response, 503, "store-unavailable");
      assertThat(response.headers().firstValue("Retry-After")).hasValue("1");

      // While the database is away, no request can be tracked: 503, handler not run.
      assertProblem(app.send(app.post("/slow", key, "{}").build()), 503, "store-unavailable");
      assertProblem(app.send(app.post("/orders", "\"pg-new\"", "{}").build()), 503,
          "store-unavailable");
      assertThat(servlet.runs("/orders")).isZero();
    } finally {
      proxy.restore();
    }

    // The tracker kept the claim and stores the response once the database is back (within the
    // lease): a retry sees 409 until then, and the first run's response after; never a 2nd run.
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100)).until(() -> {
      HttpResponse<byte[]> retry = app.send(app.post("/slow", key, "{}").build());
      if (retry.statusCode() == 409 || retry.statusCode() == 503) {
        return false;
      }
      assertThat(text(retry)).isEqualTo("slow run 1");
      assertThat(retry.headers().firstValue("Idempotent-Replayed")).hasValue("true");
      return true;
    });
    assertThat(servlet.runs("/slow")).isEqualTo(1);
    assertThat(app.send(app.post("/orders", "\"pg-new\"", "{}").build()).statusCode())
        .isEqualTo(201);
  }

  @Test
  void hungDatabaseAnswersTwoHundredRequests503WithoutPilingUpThreadsConnectionsOrRenewals()
      throws Exception {
    start(t -> {}, f -> {}, true);
    app.send(app.post("/orders", "\"warm\"", "{}").build()); // connections and classes warm
    CompletableFuture<HttpResponse<byte[]>> owner = app.client.sendAsync(
        app.post("/slow", "\"owner\"", "{}").build(), HttpResponse.BodyHandlers.ofByteArray());
    assertThat(servlet.entered.await(30, TimeUnit.SECONDS)).isTrue();
    int platformThreadsBefore = ManagementFactory.getThreadMXBean().getThreadCount();

    proxy.stopForwarding();
    List<CompletableFuture<HttpResponse<byte[]>>> responses = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      responses.add(app.client.sendAsync(
          app.post("/orders", "\"hung-" + i + "\"", "{}").timeout(Duration.ofSeconds(60)).build(),
          HttpResponse.BodyHandlers.ofByteArray()));
    }
    for (CompletableFuture<HttpResponse<byte[]>> response : responses) {
      assertProblem(response.get(90, TimeUnit.SECONDS), 503, "store-unavailable");
    }
    // The owner's claim was due for many renewals meanwhile; never more than one at a time.
    await().atMost(Duration.ofSeconds(30)).until(() -> store.renewCalls.get() >= 3);
    int platformThreadsAfter = ManagementFactory.getThreadMXBean().getThreadCount();
    int poolConnections = dataSource.getHikariPoolMXBean().getTotalConnections();
    proxy.restore();
    servlet.gate.countDown();

    assertThat(servlet.runs("/orders")).isEqualTo(1); // only the warm-up ran
    assertThat(store.maxConcurrentRenewals.get()).isEqualTo(1);
    assertThat(poolConnections).isLessThanOrEqualTo(POOL);
    assertThat(platformThreadsAfter - platformThreadsBefore).isLessThan(50);
    assertThat(owner.get(60, TimeUnit.SECONDS).statusCode()).isIn(201, 503);
  }

  @Test
  void transactionalModeCommitsTheHandlersWritesWithTheResponseOrNeither() throws Exception {
    try (Connection c = DriverManager.getConnection(pg.primaryJdbcUrl());
        Statement s = c.createStatement()) {
      s.execute("CREATE TABLE IF NOT EXISTS tx_orders (idempotency_key text NOT NULL)");
    }
    start(t -> {}, f -> f.transactional(true), false);

    HttpResponse<byte[]> first = app.send(app.post("/tx-order", "\"tx-1\"", "{}").build());
    HttpResponse<byte[]> replay = app.send(app.post("/tx-order", "\"tx-1\"", "{}").build());
    HttpResponse<byte[]> failed = app.send(app.post("/tx-order-fails", "\"tx-2\"", "{}").build());

    assertThat(first.statusCode()).isEqualTo(201);
    assertThat(text(replay)).isEqualTo(text(first));
    assertThat(replay.headers().firstValue("Idempotent-Replayed")).hasValue("true");
    assertThat(servlet.runs("/tx-order")).isEqualTo(1);
    assertThat(rows("\"tx-1\"")).isEqualTo(1);
    assertThat(failed.statusCode()).isEqualTo(500);
    assertThat(rows("\"tx-2\"")).isZero(); // inserted, then the handler threw: rolled back
  }

  /**
   * Post/redirect/get in transactional mode: the handler inserts, redirects, and its instance loses
   * the database (and so its lease) before the COMMIT; another instance takes the key over. The
   * redirect must not have reached the first client: it would point at rolled-back writes, and the
   * client would never retry.
   */
  @Test
  void transactionalRedirectIsSentOnlyAfterTheCommitSoAnOwnerThatLostItsKeyAnswers409()
      throws Exception {
    createOrdersTable();
    start(t -> t.lease(Duration.ofSeconds(2)), f -> f.transactional(true), false);
    String key = "\"tx-redirect\"";
    CompletableFuture<HttpResponse<byte[]>> first = app.client.sendAsync(
        app.post("/tx-redirect", key, "{}").build(), HttpResponse.BodyHandlers.ofByteArray());
    assertThat(servlet.entered.await(30, TimeUnit.SECONDS)).isTrue(); // inserted, redirected

    proxy.stopForwarding(); // this instance can neither renew its lease nor commit
    TestServlet otherServlet = new TestServlet();
    otherServlet.gate.countDown();
    try (HikariDataSource otherData = pg.primaryDataSource();
        IdempotencyTracker otherTracker = IdempotencyTracker.builder()
            .store(JdbcIdempotencyStore.builder(otherData).build()).build();
        JettyApp other = new JettyApp(IdempotencyFilter.builder(otherTracker).allowAnonymous(true)
            .transactional(true).build(), otherServlet)) {
      // The other instance answers 409 while the lease lasts, then takes the key over and runs.
      HttpResponse<byte[]> takenOver = await().atMost(Duration.ofSeconds(60))
          .pollInterval(Duration.ofMillis(200))
          .until(() -> other.send(other.post("/tx-redirect", key, "{}").build()),
              r -> r.statusCode() != 409);
      assertThat(takenOver.statusCode()).isEqualTo(302);
      assertThat(first).isNotDone();

      proxy.restore();
      servlet.gate.countDown();
      assertProblem(first.get(60, TimeUnit.SECONDS), 409, "lease-lost");
      assertThat(rows(key)).isEqualTo(1); // the successor's; the first owner's rolled back
      HttpResponse<byte[]> replay = other.send(other.post("/tx-redirect", key, "{}").build());
      assertThat(replay.statusCode()).isEqualTo(302);
      assertThat(replay.headers().firstValue("Location"))
          .isEqualTo(takenOver.headers().firstValue("Location"));
    }
  }

  /**
   * In transactional mode a failed store is not retried in the background: the response's UPDATE
   * was rolled back with the handler's writes, so there is nothing to store. The client gets 503,
   * a retry 409 while the abandoned claim's lease lasts, and then a second run on an empty slate.
   */
  @Test
  void transactionalStoreFailureGives503AndAfterTheLeaseARetryRunsAgainOnAnEmptySlate()
      throws Exception {
    createOrdersTable();
    start(t -> t.lease(Duration.ofSeconds(2)), f -> f.transactional(true), false);
    String key = "\"tx-503\"";
    CompletableFuture<HttpResponse<byte[]>> first = app.client.sendAsync(
        app.post("/tx-redirect", key, "{}").build(), HttpResponse.BodyHandlers.ofByteArray());
    assertThat(servlet.entered.await(30, TimeUnit.SECONDS)).isTrue(); // inserted, not committed

    databaseDown(); // the request's own connection is reset: its UPDATE and COMMIT cannot run
    servlet.gate.countDown();
    assertProblem(first.get(60, TimeUnit.SECONDS), 503, "store-unavailable");
    proxy.restore();
    assertThat(rows(key)).isZero();

    HttpResponse<byte[]> retry = await().atMost(Duration.ofSeconds(60))
        .pollInterval(Duration.ofMillis(200))
        .until(() -> app.send(app.post("/tx-redirect", key, "{}").build()),
            r -> r.statusCode() != 409 && r.statusCode() != 503);
    assertThat(retry.statusCode()).isEqualTo(302);
    assertThat(retry.headers().firstValue("Location").orElseThrow()).endsWith("/orders/2");
    assertThat(servlet.runs("/tx-redirect")).isEqualTo(2);
    assertThat(rows(key)).isEqualTo(1);
  }

  @Test
  void transactionalRedirectIsDeliveredAfterTheCommitAndReplayed() throws Exception {
    createOrdersTable();
    start(t -> {}, f -> f.transactional(true), false);
    servlet.gate.countDown();
    HttpResponse<byte[]> first = app.send(app.post("/tx-redirect", "\"tx-prg\"", "{}").build());
    HttpResponse<byte[]> replay = app.send(app.post("/tx-redirect", "\"tx-prg\"", "{}").build());

    assertThat(first.statusCode()).isEqualTo(302);
    assertThat(first.headers().firstValue("Location").orElseThrow()).endsWith("/orders/1");
    assertThat(replay.headers().firstValue("Location"))
        .isEqualTo(first.headers().firstValue("Location"));
    assertThat(replay.headers().firstValue("Idempotent-Replayed")).hasValue("true");
    assertThat(rows("\"tx-prg\"")).isEqualTo(1);
    assertThat(servlet.runs("/tx-redirect")).isEqualTo(1);
  }

  /**
   * A response too large to hold cannot be streamed in transactional mode: it would reach the
   * client before the COMMIT. The write past the limit throws, the handler's writes roll back, and
   * the key fails like a handler that threw.
   */
  @Test
  void transactionalResponseTooLargeToHoldIsRefusedAndRolledBackNeverStreamedBeforeTheCommit()
      throws Exception {
    createOrdersTable();
    start(t -> {}, f -> f.transactional(true).maxStoredResponseSize(10_000), false);
    HttpResponse<byte[]> first = app.send(app.post("/tx-big", "\"tx-big\"", "{}").build());
    HttpResponse<byte[]> retry = app.send(app.post("/tx-big", "\"tx-big\"", "{}").build());

    assertThat(first.statusCode()).isEqualTo(500);
    assertThat(first.body()).hasSizeLessThan(10_000);
    assertThat(rows("\"tx-big\"")).isZero();
    assertProblem(retry, 500, "request-failed");
    assertThat(servlet.runs("/tx-big")).isEqualTo(1);
  }

  /** The same through a PrintWriter, which swallows the refused write: the filter answers. */
  @Test
  void transactionalResponseTooLargeToHoldThroughAWriterIsAnswered500AndRolledBack()
      throws Exception {
    createOrdersTable();
    start(t -> {}, f -> f.transactional(true).maxStoredResponseSize(10_000), false);
    HttpResponse<byte[]> first =
        app.send(app.post("/tx-big-writer", "\"tx-big-w\"", "{}").build());

    assertProblem(first, 500, "request-failed");
    assertThat(text(first)).contains("larger than the storage limit of 10000 bytes");
    assertThat(rows("\"tx-big-w\"")).isZero();
    assertProblem(app.send(app.post("/tx-big-writer", "\"tx-big-w\"", "{}").build()), 500,
        "request-failed");
    assertThat(servlet.runs("/tx-big-writer")).isEqualTo(1);
  }

  private static void createOrdersTable() throws SQLException {
    try (Connection c = DriverManager.getConnection(pg.primaryJdbcUrl());
        Statement s = c.createStatement()) {
      s.execute("CREATE TABLE IF NOT EXISTS tx_orders (idempotency_key text NOT NULL)");
    }
  }

  private static int rows(String key) throws SQLException {
    try (Connection c = DriverManager.getConnection(pg.primaryJdbcUrl());
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery(
            "SELECT count(*) FROM tx_orders WHERE idempotency_key = '" + key + "'")) {
      rs.next();
      return rs.getInt(1);
    }
  }

  /** Counts the store's failed completes and the renewals in flight at once. */
  private static final class CountingStore extends ForwardingIdempotencyStore {
    final AtomicInteger failedCompletes = new AtomicInteger();
    final AtomicInteger renewCalls = new AtomicInteger();
    final AtomicInteger renewing = new AtomicInteger();
    final AtomicInteger maxConcurrentRenewals = new AtomicInteger();

    CountingStore(IdempotencyStore delegate) {
      super(delegate);
    }

    @Override
    public boolean renew(String key, long token, Duration lease, Duration retention) {
      renewCalls.incrementAndGet();
      maxConcurrentRenewals.accumulateAndGet(renewing.incrementAndGet(), Math::max);
      try {
        return super.renew(key, token, lease, retention);
      } finally {
        renewing.decrementAndGet();
      }
    }

    @Override
    public boolean complete(String key, long token, StoredResponse response,
        Duration retention) {
      try {
        return super.complete(key, token, response, retention);
      } catch (RuntimeException e) {
        failedCompletes.incrementAndGet();
        throw e;
      }
    }
  }
}
