package dev.shepherd.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;

/**
 * The router when a replica fails it after the routing decision: a pool that gives no connection,
 * a tracker closed by its owner. Scheduling only, so the replicas are {@link FakeReplica}s.
 */
class ReplicaRouterFaultTest {

  private static final Lsn FIRST = Lsn.parse("0/1000");
  private static final Lsn SECOND = Lsn.parse("0/2000");

  /** A replica whose pool stops giving connections to readers; its poller still gets them. */
  private static final class ReadersRefused {
    final FakeReplica replica = new FakeReplica();
    final AtomicInteger readerAttempts = new AtomicInteger();
    volatile boolean refuseReaders;
    final DataSource dataSource = DataSources.beforeConnect(replica, () -> {
      if (!Thread.currentThread().getName().startsWith("test-poller")) {
        readerAttempts.incrementAndGet();
        if (refuseReaders) {
          throw new SQLException("test: the replica's pool is exhausted");
        }
      }
    });
  }

  /** A tracker on {@code source} whose pollers are named for the tests. */
  private static ReplicaTracker.Builder tracker(DataSource source, String name) {
    return ReplicaTracker.builder(source).name(name).strategy(ReplayStrategy.POLLING).executor(POLLERS);
  }

  private static final Executor POLLERS = task -> Thread.ofVirtual().name("test-poller").start(task);

  /**
   * A read that waited for a replica whose pool then gave no connection runs on the primary and
   * is counted once, as that fallback: its wait once (it was counted twice), no replica read, and
   * the listener hears the decision and its revision.
   */
  @Test
  void aReplicaThatGivesNoConnectionAfterTheWaitCountsTheWaitOnceAndTheReadAsAFallback() throws Exception {
    ReadersRefused replicaSource = new ReadersRefused();
    replicaSource.replica.replayed = FIRST;
    List<Route> routes = new CopyOnWriteArrayList<>();
    try (ReplicaTracker tracker = tracker(replicaSource.dataSource, "refusing").minPollInterval(Duration.ofMillis(1))
        .maxPollInterval(Duration.ofMillis(5)).build()) {
      ReplicaRouter router = ReplicaRouter.builder(new FakeReplica()).replica(tracker)
          .maxWait(Duration.ofSeconds(30)).listener(routes::add).build();
      replicaSource.refuseReaders = true;
      replicaSource.replica.onPoll = n -> {
        if (n >= 5) {
          replicaSource.replica.replayed = SECOND; // replayed only after a few polls: a real wait
        }
      };

      String answer = router.read(SECOND, connection -> "read");

      assertThat(answer).isEqualTo("read");
      assertThat(routes).hasSize(2);
      assertThat(routes.get(0)).isInstanceOf(Route.ToReplica.class);
      assertThat(routes.get(1)).isInstanceOfSatisfying(Route.ToPrimary.class,
          p -> assertThat(p.reason()).isEqualTo(Route.FallbackReason.REPLICA_UNAVAILABLE));
      Duration waited = routes.get(0).waited();
      assertThat(waited).isPositive();
      ReplicaRouter.Stats stats = router.stats();
      assertThat(stats.replicaReads()).isZero();
      assertThat(stats.fallbacks()).containsEntry(Route.FallbackReason.REPLICA_UNAVAILABLE, 1L);
      assertThat(stats.totalWait()).as("the wait, counted once").isEqualTo(waited);
    }
  }

  /**
   * A tracker its owner closed is skipped: reads that need a position go to the other replica,
   * reads that do not go to a replica still open, and nothing throws. A closed tracker used to
   * throw IllegalStateException out of every routed read.
   */
  @Test
  void aClosedTrackerIsSkippedInsteadOfFailingEveryRead() throws Exception {
    FakeReplica closing = new FakeReplica();
    FakeReplica open = new FakeReplica();
    closing.replayed = SECOND;
    open.replayed = SECOND;
    ReplicaTracker closed = tracker(closing, "closed").build();
    try (ReplicaTracker serving = tracker(open, "serving").build()) {
      ReplicaRouter router = ReplicaRouter.builder(new FakeReplica()).replica(closed).replica(serving)
          .maxWait(Duration.ofSeconds(30)).build();
      await().atMost(Duration.ofSeconds(30)).until(() -> router.route(FIRST) instanceof Route.ToReplica);
      closed.close();

      for (int i = 0; i < 3; i++) {
        assertThat(router.route(SECOND)).isInstanceOfSatisfying(Route.ToReplica.class,
            r -> assertThat(r.replica()).isSameAs(serving));
        assertThat(router.route(null)).isInstanceOfSatisfying(Route.ToReplica.class,
            r -> assertThat(r.replica()).isSameAs(serving));
      }
    }
  }

  /**
   * When one replica answers from its cache, a lagging one gets no waiter: no poller starts and
   * no query is sent for it. Every replica used to get a waiter before the caches were compared,
   * so each read with a token made the lagging replica poll.
   */
  @Test
  void aReplicaThatAnswersFromItsCacheSparesTheLaggingOneAWait() throws Exception {
    FakeReplica upToDate = new FakeReplica();
    FakeReplica lagging = new FakeReplica();
    upToDate.replayed = SECOND;
    lagging.replayed = FIRST;
    try (ReplicaTracker fresh = tracker(upToDate, "fresh").build();
        ReplicaTracker behind = tracker(lagging, "behind").build()) {
      assertThat(fresh.awaitReplay(SECOND, Duration.ofSeconds(30))).isInstanceOf(ReplayResult.Replayed.class);
      await().atMost(Duration.ofSeconds(30)).until(() -> !fresh.isPolling());
      ReplicaRouter router = ReplicaRouter.builder(new FakeReplica()).replica(behind).replica(fresh)
          .maxWait(Duration.ofSeconds(30)).build();

      for (int i = 0; i < 5; i++) {
        assertThat(router.route(SECOND)).isInstanceOfSatisfying(Route.ToReplica.class,
            r -> assertThat(r.replica()).isSameAs(fresh));
      }

      assertThat(behind.stats().pollerStarts()).isZero();
      assertThat(lagging.polls).hasValue(0);
    }
  }

  /**
   * Reads that need no position start no poll, so a replica that dies after its last poll used to
   * stay STREAMING for them for ever: every read tried its pool and waited out the pool's
   * connection timeout. The first failure now marks it unavailable, later reads go to the primary
   * without trying it, and after the retry interval a poll (not a read) finds it again.
   */
  @Test
  void aReplicaWhosePoolGivesNoConnectionIsLeftAloneUntilAPollFindsItAgain() throws Exception {
    ReadersRefused replicaSource = new ReadersRefused();
    replicaSource.replica.replayed = FIRST;
    dev.shepherd.testing.FakeTicker ticker = new dev.shepherd.testing.FakeTicker();
    try (ReplicaTracker tracker = tracker(replicaSource.dataSource, "dying").ticker(ticker)
        .retryInterval(Duration.ofSeconds(1)).build()) {
      assertThat(tracker.awaitReplay(FIRST, Duration.ofSeconds(30))).isInstanceOf(ReplayResult.Replayed.class);
      await().atMost(Duration.ofSeconds(30)).until(() -> !tracker.isPolling());
      ReplicaRouter router = ReplicaRouter.builder(new FakeReplica()).replica(tracker).build();
      replicaSource.refuseReaders = true;

      String first = router.read(null, connection -> "on the primary");
      assertThat(first).isEqualTo("on the primary");
      assertThat(tracker.status()).isEqualTo(ReplicaTracker.Status.UNAVAILABLE);
      int attempts = replicaSource.readerAttempts.get();
      int polls = replicaSource.replica.polls.get();
      for (int i = 0; i < 5; i++) {
        String later = router.read(null, connection -> "on the primary");
        assertThat(later).isEqualTo("on the primary");
      }
      assertThat(replicaSource.readerAttempts).as("reads that tried the failing pool").hasValue(attempts);
      assertThat(replicaSource.replica.polls).as("polls before the retry interval").hasValue(polls);

      replicaSource.refuseReaders = false; // the replica is back
      ticker.advance(Duration.ofSeconds(1));
      assertThat(router.route(null)).as("the read that starts the poll still goes elsewhere")
          .isInstanceOf(Route.ToPrimary.class);
      await().atMost(Duration.ofSeconds(30)).until(() -> router.route(null) instanceof Route.ToReplica);
      assertThat(replicaSource.replica.polls.get()).isGreaterThan(polls);
      assertThat(tracker.status()).isEqualTo(ReplicaTracker.Status.STREAMING);
    }
  }
}
