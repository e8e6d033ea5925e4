package dev.shepherd.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.testing.FaultProxy;
import dev.shepherd.testing.PostgresCluster;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLTimeoutException;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Every statement the library sends itself is bounded: a primary or replica that stops answering
 * mid-statement (a {@link FaultProxy} that stops forwarding: no answer and no error, only the
 * client's own timeouts) fails the library's call with an error naming the server and the timeout,
 * instead of holding the caller for ever. The bounds are asserted only as "it returns" with a
 * generous await: the machine is shared.
 */
class LibraryTimeoutTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();

  static HikariDataSource primary;

  @BeforeAll
  static void pools() throws Exception {
    primary = pg.primaryDataSource();
    Pools.execute(primary, "CREATE TABLE notes (id bigint PRIMARY KEY, v text)");
    pg.awaitReplicaCaughtUp(Duration.ofSeconds(30));
  }

  @AfterAll
  static void close() {
    primary.close();
  }

  /**
   * The write-position query on a primary that stops answering fails with a timeout naming the
   * primary and the bound. It used to run with the connection's own network timeout (none by
   * default), so the caller, after a commit that had happened, hung for ever.
   */
  @Test
  void theWritePositionQueryOnAPrimaryThatStopsAnsweringFailsAtItsTimeout() throws Exception {
    try (FaultProxy proxy = FaultProxy.to(pg.primaryPort());
        HikariDataSource pool = pg.primaryDataSource(proxy, Duration.ofSeconds(1));
        Connection c = pool.getConnection()) {
      try (Statement s = c.createStatement()) {
        s.executeUpdate("INSERT INTO notes(id, v) VALUES (1, 'one')");
      }
      int before = c.getNetworkTimeout();
      assertThat(WritePosition.afterCommit(c, Duration.ofMillis(400))).isNotNull();
      assertThat(c.getNetworkTimeout()).as("the connection's own network timeout, set back").isEqualTo(before);

      proxy.stopForwarding();
      try {
        assertThat(failureOnAThreadOfItsOwn(() -> WritePosition.afterCommit(c, Duration.ofMillis(400))))
            .isInstanceOf(SQLTimeoutException.class)
            .hasMessageContaining("the primary").hasMessageContaining("400 ms");
      } finally {
        proxy.cutConnections(); // frees a call still hung, so the pool can close
        proxy.restore();
      }
    }
  }

  /**
   * A replica that stops answering while its poller waits for replay fails the wait with
   * {@link ReplayResult.ReplicaUnavailable} whose cause names the replica and the tracker's query
   * timeout (the poller's connection has it as its network timeout).
   */
  @Test
  void aReplicaThatStopsAnsweringMidPollFailsTheWaitNamingItAndTheTimeout() throws Exception {
    try (FaultProxy proxy = FaultProxy.to(pg.replicaPort());
        HikariDataSource replica = pg.replicaDataSource(proxy, Duration.ofMillis(500));
        ReplicaTracker tracker = ReplicaTracker.builder(replica).name("behind-proxy")
            .queryTimeout(Duration.ofMillis(600)).retryInterval(Duration.ofHours(1)).build()) {
      assertThat(tracker.awaitReplay(Pools.insert(primary, "notes", 10), Duration.ofSeconds(30)).isReplayed()).isTrue();

      pg.pauseReplay(); // the poller keeps polling its connection for a position that does not come
      try {
        Lsn lsn = Pools.insert(primary, "notes", 11);
        CompletableFuture<ReplayResult> waiting = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> waiting.complete(waitFor(tracker, lsn)));
        long polled = tracker.stats().queries();
        await().atMost(Duration.ofSeconds(60)).until(() -> tracker.stats().queries() > polled + 2);
        proxy.stopForwarding();
        await().atMost(Duration.ofSeconds(60)).until(waiting::isDone);
        assertThat(waiting.join()).isInstanceOfSatisfying(ReplayResult.ReplicaUnavailable.class, u ->
            assertThat(u.cause()).isInstanceOf(SQLTimeoutException.class)
                .hasMessageContaining("replica behind-proxy").hasMessageContaining("600 ms"));
      } finally {
        proxy.cutConnections();
        proxy.restore();
        pg.resumeReplay();
      }
    }
  }

  /**
   * A routed connection applies the settings the application asked for before its first statement
   * (here a transaction isolation, which pgjdbc sends as a statement) on the physical connection
   * it takes; a primary that stops answering right then fails that statement at the routing data
   * source's query timeout, naming the primary, instead of holding the application's thread for
   * ever (it used to run with the connection's own network timeout: none by default).
   */
  @Test
  void aRoutedConnectionWhoseServerStopsAnsweringWhileItsSettingsAreAppliedFailsAtTheQueryTimeout()
      throws Exception {
    try (FaultProxy proxy = FaultProxy.to(pg.primaryPort());
        HikariDataSource pool = pg.primaryDataSource(proxy, Duration.ofSeconds(1));
        HikariDataSource replica = pg.replicaDataSource();
        ReplicaTracker tracker = ReplicaTracker.builder(replica).name("r1").build()) {
      AtomicBoolean stopAfterConnect = new AtomicBoolean();
      DataSource stopping = DataSources.afterConnect(pool, () -> {
        if (stopAfterConnect.get()) {
          proxy.stopForwarding(); // the connection is handed out alive, then nothing answers
        }
      });
      ReplicaRouter router = ReplicaRouter.builder(stopping).replica(tracker).build();
      ReplicaRoutingDataSource routing = ReplicaRoutingDataSource.builder(stopping, router)
          .queryTimeout(Duration.ofMillis(400)).build();
      try (Connection c = routing.getConnection()) { // asks the primary for its defaults first
        c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
        assertThat(serverIsolation(c)).isEqualTo("serializable");
      }
      stopAfterConnect.set(true);
      try {
        assertThat(failureOnAThreadOfItsOwn(() -> {
          try (Connection c = routing.getConnection()) {
            c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE); // recorded, not yet sent
            return serverIsolation(c); // binds: takes a connection, applies the isolation, then the query
          }
        })).isInstanceOf(SQLTimeoutException.class)
            .hasMessageContaining("the primary").hasMessageContaining("400 ms");
      } finally {
        proxy.cutConnections(); // frees a call still hung, so the pool can close
        proxy.restore();
      }
    }
  }

  /**
   * Runs {@code call} on a thread of its own, not joined (without its bound it would hang until
   * the proxy closes), and returns what it threw; an answer is an assertion error.
   */
  private static Throwable failureOnAThreadOfItsOwn(Callable<?> call) {
    CompletableFuture<Throwable> failure = new CompletableFuture<>();
    Thread.ofVirtual().start(() -> {
      try {
        call.call();
        failure.complete(new AssertionError("answered through a proxy that forwards nothing"));
      } catch (Exception e) {
        failure.complete(e);
      }
    });
    await().atMost(Duration.ofSeconds(60)).until(failure::isDone);
    return failure.join();
  }

  private static String serverIsolation(Connection c) throws Exception {
    try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SHOW transaction_isolation")) {
      rs.next();
      return rs.getString(1);
    }
  }

  private static ReplayResult waitFor(ReplicaTracker tracker, Lsn lsn) {
    try {
      return tracker.awaitReplay(lsn, Duration.ofMinutes(10));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
