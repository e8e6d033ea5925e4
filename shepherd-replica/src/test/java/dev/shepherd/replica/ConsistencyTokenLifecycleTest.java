package dev.shepherd.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.testing.FakeTicker;
import dev.shepherd.testing.FaultProxy;
import dev.shepherd.testing.PostgresCluster;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;
import org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Tokens carry the primary's history (system identifier and timeline) and a token of another
 * cluster, or of another timeline after a promotion, is ignored rather than waited on: against a
 * real primary and streaming replica (promoted and rebuilt here, so the cluster is this class's
 * own) and a second, unrelated cluster.
 */
class ConsistencyTokenLifecycleTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();
  @RegisterExtension static final PostgresCluster otherCluster = PostgresCluster.primaryOnly();

  static final ConsistencyTokenCodec CODEC =
      ConsistencyTokenCodec.builder().signingKey("k1", ConsistencyTokenCodecTest.SECRET).build();
  static final AtomicLong IDS = new AtomicLong();

  static HikariDataSource primary;
  static HikariDataSource replica;
  static HikariDataSource other;
  final HttpClient client = HttpClient.newHttpClient();
  final List<Server> servers = new ArrayList<>();

  @BeforeAll
  static void pools() throws Exception {
    primary = pg.primaryDataSource();
    replica = pg.replicaDataSource(Duration.ofMillis(250));
    other = otherCluster.primaryDataSource();
    Pools.execute(primary, "CREATE TABLE docs (id bigint PRIMARY KEY, v text)");
    Pools.execute(other, "CREATE TABLE docs (id bigint PRIMARY KEY, v text)");
    pg.awaitReplicaCaughtUp(Duration.ofSeconds(30));
  }

  @AfterAll
  static void close() {
    other.close();
    replica.close();
    primary.close();
  }

  @AfterEach
  void stopServers() throws Exception {
    for (Server server : servers) {
      server.stop();
    }
  }

  /**
   * The application: POST /write inserts a row on its primary and records the write; GET /read
   * answers "<required lsn> <route>" where route is "replica" or "primary:<reason>".
   */
  static final class App extends HttpServlet {
    private static final long serialVersionUID = 1L;
    private final transient DataSource writeTo;
    private final transient ReplicaRouter router;

    App(DataSource writeTo, ReplicaRouter router) {
      this.writeTo = writeTo;
      this.router = router;
    }

    @Override
    protected void doPost(HttpServletRequest request, HttpServletResponse response) throws IOException {
      try {
        ConsistencyContext.recordWrite(Pools.insert(writeTo, "docs", IDS.incrementAndGet()));
      } catch (SQLException e) {
        throw new IOException(e);
      }
      response.getWriter().print("written");
    }

    @Override
    protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException {
      try {
        Lsn required = ConsistencyContext.requiredLsn();
        Route route = router.route(required);
        String where = switch (route) {
          case Route.ToReplica r -> "replica";
          case Route.ToPrimary p -> "primary:" + p.reason();
        };
        response.getWriter().print(required + " " + where);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException(e);
      }
    }
  }

  /** Starts the application with a filter whose policy knows the primary {@code identityOf} reaches. */
  record Running(int port, ConsistencyTokenFilter filter) {}

  Running start(DataSource writeTo, DataSource identityOf, ReplicaRouter router) throws Exception {
    ConsistencyTokenFilter filter = ConsistencyTokenFilter.builder(CODEC).secureCookie(false)
        .policy(ConsistencyTokenPolicy.builder()
            .database(PrimaryIdentity.builder(identityOf).refreshInterval(Duration.ZERO).build())
            .build())
        .build();
    Server server = new Server();
    ServerConnector connector = new ServerConnector(server);
    connector.setHost("127.0.0.1");
    connector.setPort(0);
    server.addConnector(connector);
    ServletContextHandler context = new ServletContextHandler();
    context.addFilter(new FilterHolder(filter), "/*", EnumSet.of(DispatcherType.REQUEST));
    context.addServlet(new ServletHolder(new App(writeTo, router)), "/*");
    server.setHandler(context);
    server.start();
    servers.add(server);
    return new Running(connector.getLocalPort(), filter);
  }

  String write(Running app) throws Exception {
    HttpResponse<String> response = client.send(HttpRequest.newBuilder(
        URI.create("http://127.0.0.1:" + app.port() + "/write")).POST(HttpRequest.BodyPublishers.noBody()).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(response.statusCode()).isEqualTo(200);
    return response.headers().firstValue(ConsistencyTokenFilter.DEFAULT_HEADER).orElseThrow();
  }

  String read(Running app, String token) throws Exception {
    HttpResponse<String> response = client.send(HttpRequest.newBuilder(
        URI.create("http://127.0.0.1:" + app.port() + "/read"))
        .header(ConsistencyTokenFilter.DEFAULT_HEADER, token).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(response.statusCode()).isEqualTo(200);
    return response.body();
  }

  @Test
  void theIdentityIsThePrimarysSystemIdentifierAndTimeline() throws Exception {
    DatabaseIdentity identity = DatabaseIdentity.of(primary);
    assertThat(Long.toUnsignedString(identity.systemIdentifier()))
        .isEqualTo(Pools.queryString(primary, "SELECT system_identifier::text FROM pg_control_system()"))
        .isEqualTo(Pools.queryString(replica, "SELECT system_identifier::text FROM pg_control_system()"));
    assertThat(identity.timeline()).isEqualTo(1);
    assertThat(DatabaseIdentity.of(other).systemIdentifier()).isNotEqualTo(identity.systemIdentifier());
    assertThatThrownBy(() -> DatabaseIdentity.of(replica))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("standby");
  }

  @Test
  void thePrimaryIdentityIsCachedForItsIntervalAndKeptWhileThePrimaryIsDown() throws Exception {
    FakeTicker ticker = new FakeTicker();
    AtomicInteger connections = new AtomicInteger();
    DataSource counted = DataSources.counting(other, connections); // the real pool, counted
    PrimaryIdentity identity = PrimaryIdentity.builder(counted).refreshInterval(Duration.ofSeconds(5)).ticker(ticker).build();
    DatabaseIdentity expected = DatabaseIdentity.of(other);
    assertThat(identity.current()).contains(expected);
    assertThat(connections).hasValue(1);
    ticker.advance(Duration.ofMillis(4_999));
    assertThat(identity.current()).contains(expected);
    assertThat(connections).hasValue(1); // within the interval: no query
    otherCluster.stopPrimary();
    try {
      ticker.advance(Duration.ofMillis(1));
      // The read starts in the background; callers answer the last identity meanwhile.
      assertThat(identity.current()).contains(expected);
      await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(connections).hasValue(2));
      assertThat(identity.current()).contains(expected); // the read fails: the last identity is kept
    } finally {
      otherCluster.startPrimary();
    }
    // Once the failed read has ended, the next interval reads again.
    await().atMost(Duration.ofSeconds(60)).until(() -> {
      ticker.advance(Duration.ofSeconds(5));
      return identity.current().equals(java.util.Optional.of(expected)) && connections.get() >= 3;
    });
    PrimaryIdentity neverRead = PrimaryIdentity.builder(replica).build(); // a standby has no identity to give
    assertThat(neverRead.current()).isEmpty();
  }

  /**
   * A primary that stops answering on a pooled connection (a network black hole) neither holds a
   * caller nor stops later reads: callers answer the last identity at once, and the read fails at
   * the query timeout, so the next interval reads again. The read used to run on the caller's
   * thread with no timeout: that caller hung, and no later refresh ever started.
   */
  @Test
  void aPrimaryThatStopsAnsweringHoldsNoCallerAndLaterIntervalsReadAgain() throws Exception {
    FakeTicker ticker = new FakeTicker();
    AtomicInteger connections = new AtomicInteger();
    try (FaultProxy proxy = FaultProxy.to(otherCluster.primaryPort());
        HikariDataSource pool = otherCluster.primaryDataSource(proxy, Duration.ofSeconds(1))) {
      DataSource counted = DataSources.counting(pool, connections);
      PrimaryIdentity identity = PrimaryIdentity.builder(counted)
          .refreshInterval(Duration.ofSeconds(5)).queryTimeout(Duration.ofMillis(500)).ticker(ticker).build();
      DatabaseIdentity expected = DatabaseIdentity.of(other);
      await().atMost(Duration.ofSeconds(60)).until(() -> identity.current().isPresent());
      assertThat(identity.current()).contains(expected);
      int read = connections.get();

      proxy.stopForwarding(); // the pooled connection stays open; nothing answers on it
      ticker.advance(Duration.ofSeconds(5));
      assertThat(identity.current()).contains(expected); // answered at once; the read runs behind
      await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(connections).hasValue(read + 1));
      // The read fails at its timeout, so a later interval tries again, still with the proxy stopped.
      await().atMost(Duration.ofSeconds(60)).until(() -> {
        ticker.advance(Duration.ofSeconds(5));
        assertThat(identity.current()).contains(expected);
        return connections.get() >= read + 2;
      });
      proxy.restore();
    }
  }

  @Test
  void aTokenOfAnotherClusterIsIgnoredAndOneOfThisClusterIsWaitedFor() throws Exception {
    try (ReplicaTracker tracker = ReplicaTracker.builder(replica).name("lifecycle").build()) {
      ReplicaRouter router = ReplicaRouter.builder(primary).replica(tracker).maxWait(Duration.ofSeconds(30)).build();
      Running app = start(primary, primary, router);
      Running otherApp = start(other, other, ReplicaRouter.builder(other).build());

      String ours = write(app);
      ConsistencyToken decoded = CODEC.decode(ours);
      assertThat(decoded.database()).isEqualTo(DatabaseIdentity.of(primary));
      assertThat(read(app, ours)).isEqualTo(decoded.lsn() + " replica");

      // A token of the unrelated cluster, signed with the same key (a shared key across environments):
      String theirs = write(otherApp);
      assertThat(CODEC.decode(theirs).database()).isEqualTo(DatabaseIdentity.of(other));
      assertThat(read(app, theirs)).isEqualTo("null replica");
      assertThat(app.filter().stats().otherHistory()).isEqualTo(1);
      assertThat(app.filter().stats().accepted()).isEqualTo(1);
    }
  }

  @Test
  void afterAPromotionTokensOfTheOldTimelineAreIgnoredAndAfterTheRebuildThoseOfTheDiscardedOne() throws Exception {
    try (ReplicaTracker tracker = ReplicaTracker.builder(replica).name("lifecycle-promote").retryInterval(Duration.ZERO).build()) {
      ReplicaRouter router = ReplicaRouter.builder(primary).replica(tracker).maxWait(Duration.ofSeconds(30)).build();
      Running app = start(primary, primary, router);
      // The same service after a failover: its primary is the promoted replica.
      Running failedOver = start(replica, replica, ReplicaRouter.builder(replica).build());

      String beforeFailover = write(app);
      assertThat(CODEC.decode(beforeFailover).database().timeline()).isEqualTo(1);
      pg.awaitReplicaCaughtUp(Duration.ofSeconds(30));

      pg.promoteReplica();
      DatabaseIdentity promoted = DatabaseIdentity.of(replica);
      assertThat(promoted.systemIdentifier()).isEqualTo(DatabaseIdentity.of(primary).systemIdentifier());
      assertThat(promoted.timeline()).isEqualTo(2);

      // Timeline 1's position means nothing on timeline 2: ignored, not waited for.
      assertThat(read(failedOver, beforeFailover)).isEqualTo("null primary:NO_REPLICAS");
      assertThat(failedOver.filter().stats().otherHistory()).isEqualTo(1);
      // Writes on the promoted server carry timeline 2 and are honoured there.
      // Move timeline 2 well ahead (8 WAL segments of 16 MiB), beyond where the original primary
      // will be after the rebuild below (a base backup switches its WAL segment too).
      for (int i = 0; i < 8; i++) {
        Pools.execute(replica, "INSERT INTO docs VALUES (" + (1_000_000 + i) + ", 'ahead')");
        Pools.execute(replica, "SELECT pg_switch_wal()");
      }
      String onTimeline2 = write(failedOver);
      ConsistencyToken t2 = CODEC.decode(onTimeline2);
      assertThat(t2.database()).isEqualTo(promoted);
      try (var c = replica.getConnection()) {
        ConsistencyToken exact = WritePosition.tokenAfterCommit(c);
        assertThat(exact.database()).isEqualTo(promoted);
        assertThat(exact.lsn().compareTo(t2.lsn())).isNotNegative();
      }
      assertThat(read(failedOver, onTimeline2)).isEqualTo(t2.lsn() + " primary:NO_REPLICAS");

      // The failover is undone: the replica is rebuilt from the original primary (timeline 1). The
      // timeline-2 token lies beyond anything the rebuilt replica has: waiting for it would run the
      // router's whole 30 s maxWait (and longer for a client that kept retrying); it is ignored.
      pg.rebuildReplica();
      assertThat(Lsn.parse(Pools.queryString(primary, "SELECT pg_current_wal_lsn()::text")).compareTo(t2.lsn())).isNegative();
      assertThat(read(app, onTimeline2)).isEqualTo("null replica");
      assertThat(app.filter().stats().otherHistory()).isEqualTo(1);
      // The rebuilt replica was restarted: a poll connection the pool hands out may still be a
      // dead one, which answers one wait "unavailable" (the router then reads from the primary,
      // as documented). A client retries; so does this test, until the tracker serves again.
      Lsn written = Lsn.parse(Pools.queryString(primary, "SELECT pg_current_wal_lsn()::text"));
      org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(60)).until(
          () -> tracker.awaitReplay(written, Duration.ofSeconds(5)) instanceof ReplayResult.Replayed);
      // And the original timeline's tokens still work.
      String afterRebuild = write(app);
      assertThat(read(app, afterRebuild)).isEqualTo(CODEC.decode(afterRebuild).lsn() + " replica");
    }
  }
}
