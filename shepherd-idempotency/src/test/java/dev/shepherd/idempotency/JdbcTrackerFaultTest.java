package dev.shepherd.idempotency;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.testing.FaultProxy;
import dev.shepherd.testing.PostgresCluster;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The tracker over the JDBC store on a real PostgreSQL whose network a fault proxy breaks on
 * demand. The heartbeat's interval is far beyond each test, which calls {@code heartbeat()}
 * itself, on an executor that runs renewals on the calling thread: every store call happens at a
 * point the test chose.
 */
class JdbcTrackerFaultTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.primaryOnly();

  private static final Duration LONG = Duration.ofMinutes(30);

  private FaultProxy proxy;
  private HikariDataSource dataSource;
  private JdbcIdempotencyStore store;
  private IdempotencyTracker tracker;

  @BeforeEach
  void start() {
    proxy = FaultProxy.to(pg.primaryPort());
    dataSource = pg.primaryDataSource(proxy, Duration.ofMillis(250));
    store = JdbcIdempotencyStore.builder(dataSource).createSchema(true)
        .queryTimeout(Duration.ofSeconds(2)).build();
    tracker = IdempotencyTracker.builder().store(store).lease(LONG).retention(LONG)
        .heartbeatInterval(Duration.ofMinutes(10)).executor(Runnable::run)
        .completionRetry(Duration.ZERO).build();
  }

  @AfterEach
  void stop() {
    tracker.close();
    dataSource.close();
    proxy.close();
  }

  private static StoredResponse response(String body) {
    return new StoredResponse(201, List.of(), body.getBytes(StandardCharsets.UTF_8),
        Instant.parse("2026-01-02T03:04:05Z"));
  }

  private static String key(String name) {
    return name + ":" + UUID.randomUUID();
  }

  /** Claims a key and makes its complete fail: its response is then waiting to be stored. */
  private Tracked.Claimed claimWithAResponseWaiting(String key, StoredResponse response) {
    Tracked.Claimed claim = (Tracked.Claimed) tracker.track(key, "fp");
    proxy.refuseConnections();
    proxy.cutConnections();
    try {
      assertThatThrownBy(() -> tracker.complete(claim, response))
          .isInstanceOf(IdempotencyStoreException.class)
          .hasMessageContaining("keeps trying");
    } finally {
      proxy.restore();
    }
    return claim;
  }

  @Test
  void failAfterCompleteThrewKeepsTheWaitingResponseWhichIsStoredAndReplayed() {
    String key = key("fail-after-complete");
    Tracked.Claimed claim = claimWithAResponseWaiting(key, response("created"));

    // The README's shape: the handler's exception path calls fail() with whatever was thrown.
    assertThat(tracker.fail(claim, new IllegalStateException("complete threw"))).isFalse();
    assertThat(tracker.track(key, "fp")).isInstanceOf(Tracked.InProgress.class);
    tracker.heartbeat(); // stores the waiting response

    assertThat(tracker.track(key, "fp")).isInstanceOfSatisfying(Tracked.Completed.class,
        done -> assertThat(done.response()).isEqualTo(response("created")));
  }

  @Test
  void releaseAfterCompleteThrewKeepsTheWaitingResponseWhichIsStoredAndReplayed() {
    String key = key("release-after-complete");
    Tracked.Claimed claim = claimWithAResponseWaiting(key, response("created"));

    assertThat(tracker.release(claim)).isFalse(); // a release in a finally
    assertThat(tracker.halt(claim, "late halt")).isFalse();
    tracker.heartbeat();

    assertThat(tracker.track(key, "fp")).isInstanceOfSatisfying(Tracked.Completed.class,
        done -> assertThat(done.response()).isEqualTo(response("created")));
  }

  /**
   * The listener is told when the lease can no longer be confirmed, before another owner can
   * claim the key, and not at the next heartbeat tick after that (up to a heartbeat interval,
   * a third of the lease, later). The claim is placed half a heartbeat interval (1 s) after a
   * tick, observed as a renewal of another held claim, so the tracker's lease ends half an
   * interval before the next tick. The claim travels through a proxy that delays every message
   * by 150 ms: the database runs the claim's INSERT about three delays (450 ms) after the tracker
   * started counting, so its lease ends that much after the tracker's and still half a second
   * before that tick. Renewals fail (the proxy refuses). So a listener told at its lease's end is
   * told about 450 ms before another owner can claim; one told at the next tick (the code before
   * the one-shot lease check) about 550 ms after, and the test fails. What is asserted is the
   * order of the two events.
   */
  @Test
  void listenerIsToldThatTheLeaseIsUnconfirmedBeforeAnotherOwnerCanClaimTheKey() throws Exception {
    Duration lease = Duration.ofSeconds(6);
    Duration beat = Duration.ofSeconds(2); // the most a lease of 6 s allows
    AtomicLong events = new AtomicLong();
    AtomicLong toldAt = new AtomicLong();
    String key = key("listener");
    try (HikariDataSource direct = pg.primaryDataSource();
        IdempotencyTracker owner = IdempotencyTracker.builder().store(store).lease(lease)
            .heartbeatInterval(beat)
            .claimListener((claim, definitely) -> {
              if (!definitely && claim.key().startsWith("listener:")) {
                toldAt.compareAndSet(0, events.incrementAndGet());
              }
            }).build();
        IdempotencyTracker other = IdempotencyTracker.builder()
            .store(JdbcIdempotencyStore.builder(direct).build()).lease(lease).build()) {
      // A claim held meanwhile: its renewal shows when a tick ran.
      assertThat(owner.track(key("pacer"), "fp")).isInstanceOf(Tracked.Claimed.class);
      await().pollInterval(Duration.ofMillis(5)).atMost(Duration.ofMinutes(1)).until(() -> owner.renewals() > 0);
      Thread.sleep(beat.dividedBy(2).toMillis()); // the phase of the claim in the tick cycle, not a wait for an event
      proxy.delay(Duration.ofMillis(150));
      Tracked.Claimed claim = (Tracked.Claimed) owner.track(key, "fp");
      proxy.refuseConnections();
      proxy.cutConnections();

      await().pollInterval(Duration.ofMillis(10)).atMost(Duration.ofMinutes(2))
          .until(() -> other.track(key, "fp") instanceof Tracked.Claimed);
      long otherClaimedAt = events.incrementAndGet();

      assertThat(toldAt.get()).isPositive().isLessThan(otherClaimedAt);
      assertThat(owner.isHeld(claim)).isFalse();
    } finally {
      proxy.restore();
    }
  }

  /**
   * A renewal that runs in the store after the owner's complete finds the record completed,
   * which is not a loss: the listener must not hear "definitely lost" about a request whose
   * response was stored. The complete is held right after its UPDATE committed, before its call
   * returns; the renewal runs then.
   */
  @Test
  void renewalThatRunsAfterTheOwnersCompleteIsNotReportedAsALoss() throws Exception {
    List<Boolean> told = new java.util.concurrent.CopyOnWriteArrayList<>();
    try (HikariDataSource direct = pg.primaryDataSource()) {
      PausingDataSource pausing = new PausingDataSource(direct);
      try (IdempotencyTracker owner = IdempotencyTracker.builder()
          .store(JdbcIdempotencyStore.builder(pausing).build()).lease(LONG)
          .heartbeatInterval(Duration.ofMinutes(10)).executor(Runnable::run)
          .claimListener((claim, definitely) -> told.add(definitely)).build()) {
        String key = key("renew-vs-complete");
        Tracked.Claimed claim = (Tracked.Claimed) owner.track(key, "fp");
        Thread completer = Thread.ofPlatform().unstarted(
            () -> owner.complete(claim, response("done")));
        pausing.pauseCloseOf(completer);
        completer.start();
        pausing.awaitPaused(); // the record is completed in the database

        owner.heartbeat(); // its renewal finds state C
        pausing.release();
        completer.join();

        assertThat(told).isEmpty();
        assertThat(owner.track(key, "fp")).isInstanceOfSatisfying(Tracked.Completed.class,
            done -> assertThat(done.response()).isEqualTo(response("done")));
        assertThat(owner.heldClaims()).isZero();
      }
    }
  }

  @Test
  void closeStoresTheResponsesStillWaitingToBeStored() {
    String key = key("close-flush");
    claimWithAResponseWaiting(key, response("created"));
    assertThat(store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER))
        .isInstanceOf(Tracked.InProgress.class);

    tracker.close();

    assertThat(store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER))
        .isInstanceOfSatisfying(Tracked.Completed.class,
            done -> assertThat(done.response()).isEqualTo(response("created")));
  }

  @Test
  void closeWhileTheStoreIsDownGivesUpWithinItsBoundAndTheKeyWaitsForItsLease() {
    String key = key("close-down");
    claimWithAResponseWaiting(key, response("created"));
    proxy.refuseConnections();
    proxy.cutConnections();
    try {
      tracker.close(); // completionRetry is zero here: one attempt, which fails
    } finally {
      proxy.restore();
    }

    assertThat(store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER))
        .isInstanceOf(Tracked.InProgress.class);
  }

  /**
   * A claim that the database wrote but whose reply was lost (the network timeout struck while
   * the proxy held the reply) is released by the tracker through its claim id, so a retry runs
   * the request instead of finding the key in progress for a whole lease (or, under
   * OrphanPolicy.HALT, halted).
   */
  @Test
  void claimWhoseReplyWasLostIsReleasedSoTheRetryRuns() throws Exception {
    String key = key("lost-reply");
    try (HikariDataSource direct = pg.primaryDataSource();
        IdempotencyTracker owner = IdempotencyTracker.builder()
            .store(JdbcIdempotencyStore.builder(dataSource).queryTimeout(Duration.ofMinutes(1))
                .networkTimeout(Duration.ofMillis(500)).build())
            .lease(LONG).heartbeatInterval(Duration.ofMillis(200)).build();
        IdempotencyTracker retry = IdempotencyTracker.builder()
            .store(JdbcIdempotencyStore.builder(direct).build()).lease(LONG).build()) {
      proxy.delay(Duration.ofSeconds(1)); // the claim reaches the database after the timeout
      try {
        assertThatThrownBy(() -> owner.track(key, "fp"))
            .isInstanceOf(IdempotencyStoreException.class);
        await().atMost(Duration.ofMinutes(1)).until(() -> rowExists(direct, key)); // written
      } finally {
        proxy.restore();
      }

      await().atMost(Duration.ofMinutes(1))
          .until(() -> retry.track(key, "fp") instanceof Tracked.Claimed);
    }
  }

  private static boolean rowExists(javax.sql.DataSource dataSource, String key)
      throws java.sql.SQLException {
    try (java.sql.Connection c = dataSource.getConnection();
        java.sql.PreparedStatement ps = c.prepareStatement(
            "SELECT 1 FROM shepherd_idempotency WHERE idempotency_key = ?")) {
      ps.setString(1, key);
      try (java.sql.ResultSet rs = ps.executeQuery()) {
        return rs.next();
      }
    }
  }
}
