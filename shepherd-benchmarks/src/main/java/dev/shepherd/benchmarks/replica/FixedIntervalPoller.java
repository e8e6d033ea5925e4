package dev.shepherd.benchmarks.replica;

import dev.shepherd.replica.Lsn;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import javax.sql.DataSource;

/**
 * The peer: fly_postgres's LSN Tracker in Java. A background task queries
 * {@code pg_last_wal_replay_lsn()} every 100 ms (also when nobody waits), caches it, and notifies
 * every registered waiter whose position was reached, one map scan per tick.
 */
final class FixedIntervalPoller {

  private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
  private final Map<Object, Waiting> requests = new ConcurrentHashMap<>();
  private final AtomicReference<Lsn> lastReplay = new AtomicReference<>();
  private final AtomicLong queries = new AtomicLong();
  private final Connection connection;
  private final PreparedStatement poll;

  private record Waiting(Lsn lsn, CompletableFuture<Void> ready) {}

  private FixedIntervalPoller(Connection connection) throws SQLException {
    this.connection = connection;
    connection.setAutoCommit(true);
    poll = connection.prepareStatement("SELECT pg_last_wal_replay_lsn()::text");
  }

  static FixedIntervalPoller start(DataSource replica, long periodMillis) throws SQLException {
    FixedIntervalPoller poller = new FixedIntervalPoller(replica.getConnection());
    var unusedTicks =
        poller.scheduler.scheduleWithFixedDelay(poller::tick, 0, periodMillis, TimeUnit.MILLISECONDS);
    return poller;
  }

  private void tick() {
    try (ResultSet rs = poll.executeQuery()) {
      queries.incrementAndGet();
      rs.next();
      Lsn replay = Lsn.parse(rs.getString(1));
      lastReplay.set(replay);
      requests.forEach((key, waiting) -> {
        if (replay.isAtLeast(waiting.lsn())) {
          requests.remove(key);
          waiting.ready().complete(null);
        }
      });
    } catch (SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  /** fly_postgres's request_and_await_notification: cache first, else register and wait. */
  boolean await(Lsn lsn, long timeoutMillis) throws Exception {
    Lsn cached = lastReplay.get();
    if (cached != null && cached.isAtLeast(lsn)) {
      return true;
    }
    Object key = new Object();
    Waiting waiting = new Waiting(lsn, new CompletableFuture<>());
    requests.put(key, waiting);
    try {
      waiting.ready().get(timeoutMillis, TimeUnit.MILLISECONDS);
      return true;
    } catch (java.util.concurrent.TimeoutException e) {
      return false;
    } finally {
      requests.remove(key);
    }
  }

  long queries() {
    return queries.get();
  }

  void close() throws SQLException, InterruptedException {
    scheduler.shutdownNow();
    scheduler.awaitTermination(5, TimeUnit.SECONDS);
    connection.close();
  }
}
