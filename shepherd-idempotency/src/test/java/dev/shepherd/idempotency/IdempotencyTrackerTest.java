package dev.shepherd.idempotency;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shepherd.testing.FakeTicker;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The tracker over the in-memory store with a fake ticker: lifetimes are exact, nothing waits. */
class IdempotencyTrackerTest {

  private final FakeTicker ticker = new FakeTicker();
  private final Clock clock = Clock.fixed(Instant.parse("2026-11-24T00:00:00Z"), ZoneOffset.UTC);
  private final InMemoryIdempotencyStore store = InMemoryIdempotencyStore.create(ticker, clock);
  private final IdempotencyTracker tracker =
      IdempotencyTracker.builder()
          .store(store)
          .executor(Runnable::run)
          .ticker(ticker)
          .pruneInterval(Duration.ofDays(1))
          .heartbeatInterval(Duration.ofHours(8))
          .lease(Duration.ofDays(1))
          .build();

  private final IdempotencyTracker defaults =
      IdempotencyTracker.builder().store(store).executor(Runnable::run).ticker(ticker).build();

  @AfterEach
  void close() {
    tracker.close();
    defaults.close();
  }

  private static StoredResponse ok() {
    return new StoredResponse(200, List.of(), new byte[] {1, 2, 3}, Instant.EPOCH);
  }

  /**
   * Each held claim arms a check for the end of its confirmed lease; a claim finished long before
   * that must take its check off the timer, or a busy service keeps one task per request of the
   * last lease (a day here) in the timer's queue.
   */
  @Test
  void aFinishedClaimTakesItsLeaseCheckOffTheTimer() {
    int idle = tracker.pendingTimerTasks();
    for (int i = 0; i < 300; i++) {
      Tracked.Claimed claim = (Tracked.Claimed) tracker.track("k" + i, "fp");
      switch (i % 3) {
        case 0 -> tracker.complete(claim, ok());
        case 1 -> tracker.release(claim);
        default -> tracker.halt(claim, "failed");
      }
    }
    Tracked.Claimed open = (Tracked.Claimed) tracker.track("open", "fp");
    assertThat(tracker.isHeld(open)).isTrue();
    assertThat(tracker.pendingTimerTasks()).as("one check, for the claim still held").isEqualTo(idle + 1);
  }

  @Test
  void defaultsAreSixtySecondLeaseAndTwentyFourHourRetention() {
    assertThat(defaults.lease()).isEqualTo(Duration.ofSeconds(60));
    assertThat(defaults.retention()).isEqualTo(Duration.ofHours(24));
  }

  @Test
  void keyWithoutHeartbeatIsTakenOverExactlyWhenTheLeaseRunsOut() {
    Tracked.Claimed first = (Tracked.Claimed) defaults.track("k", "fp");
    defaults.store().renew("k", first.fencingToken(), Duration.ofSeconds(60), Duration.ofHours(24));

    ticker.advance(Duration.ofSeconds(60).minusNanos(1));
    assertThat(defaults.track("k", "fp")).isInstanceOfSatisfying(
        Tracked.InProgress.class,
        busy -> assertThat(busy.leaseRemaining()).isEqualTo(Duration.ofNanos(1)));
    ticker.advanceNanos(1);

    assertThat(defaults.track("k", "fp")).isInstanceOfSatisfying(Tracked.Claimed.class, c -> {
      assertThat(c.tookOver()).isTrue();
      assertThat(c.fencingToken()).isGreaterThan(first.fencingToken());
    });
  }

  /**
   * The caller of a claim can give up (its timeout) while the statement is still on its way: the
   * first release by claim id finds nothing, and the claim is written after it. The heartbeat must
   * keep trying until the claim's lease ends, or the key stays blocked for a whole lease (halted,
   * under OrphanPolicy.HALT) by a request that never ran.
   */
  @Test
  void aClaimWrittenAfterItsCallerGaveUpIsStillReleasedByItsId() {
    java.util.concurrent.atomic.AtomicReference<Runnable> late =
        new java.util.concurrent.atomic.AtomicReference<>();
    IdempotencyStore lateWriting = new ForwardingIdempotencyStore(store) {
      @Override
      public Tracked claim(String key, String fingerprint, Duration lease, Duration retention,
          OrphanPolicy policy, String claimId) {
        if (late.get() == null) {
          late.set(() -> store.claim(key, fingerprint, lease, retention, policy, claimId));
          throw new IdempotencyStoreException("the claim's reply did not come in time", null);
        }
        return super.claim(key, fingerprint, lease, retention, policy, claimId);
      }
    };
    try (IdempotencyTracker t = IdempotencyTracker.builder().store(lateWriting)
        .executor(Runnable::run).ticker(ticker).orphanPolicy(OrphanPolicy.HALT).build()) {
      assertThatThrownBy(() -> t.track("k", "fp")).isInstanceOf(IdempotencyStoreException.class);
      late.get().run(); // the statement reaches the store after the first release found nothing
      assertThat(store.claim("k", "fp", Duration.ofSeconds(60), Duration.ofHours(1),
          OrphanPolicy.HALT)).as("the late claim holds the key").isInstanceOf(Tracked.InProgress.class);

      t.heartbeat();

      assertThat(t.track("k", "fp")).as("released by its id, so the retry runs")
          .isInstanceOf(Tracked.Claimed.class);
    }
  }

  @Test
  void heartbeatKeepsTheKeyPastManyLeases() {
    Tracked.Claimed claim = (Tracked.Claimed) defaults.track("k", "fp");

    for (int i = 0; i < 10; i++) {
      ticker.advance(Duration.ofSeconds(40));
      defaults.heartbeat();
      assertThat(defaults.track("k", "fp")).isInstanceOf(Tracked.InProgress.class);
    }

    assertThat(defaults.renewals()).isEqualTo(10);
    defaults.complete(claim, ok());
    assertThat(defaults.track("k", "fp")).isInstanceOf(Tracked.Completed.class);
  }

  @Test
  void heartbeatStopsRenewingOnceTheClaimIsFinished() {
    Tracked.Claimed claim = (Tracked.Claimed) defaults.track("k", "fp");
    defaults.complete(claim, ok());

    defaults.heartbeat();

    assertThat(defaults.renewals()).isZero();
    assertThat(defaults.heldClaims()).isZero();
  }

  @Test
  void heartbeatDropsAClaimThatWasTakenOver() {
    Tracked.Claimed claim = (Tracked.Claimed) defaults.track("k", "fp");
    ticker.advance(Duration.ofSeconds(61));
    assertThat(store.claim("k", "fp", Duration.ofSeconds(60), Duration.ofHours(1),
        OrphanPolicy.TAKE_OVER)).isInstanceOf(Tracked.Claimed.class);

    defaults.heartbeat();

    assertThat(defaults.heldClaims()).isZero();
    assertThatThrownBy(() -> defaults.complete(claim, ok()))
        .isInstanceOf(ClaimLostException.class);
  }

  @Test
  void completedRecordIsReplayedUntilRetentionEndsThenForgotten() {
    Tracked.Claimed claim = (Tracked.Claimed) defaults.track("k", "fp");
    defaults.complete(claim, ok());

    ticker.advance(Duration.ofHours(24).minusNanos(1));
    assertThat(defaults.track("k", "fp")).isInstanceOfSatisfying(
        Tracked.Completed.class,
        // Computed once when the record was written: the same instant on every answer.
        done -> assertThat(done.expiresAt()).isEqualTo(clock.instant().plus(Duration.ofHours(24))));
    ticker.advanceNanos(1);

    assertThat(defaults.track("k", "fp")).isInstanceOfSatisfying(
        Tracked.Claimed.class, c -> assertThat(c.tookOver()).isFalse());
  }

  @Test
  void haltPolicyMarksAVanishedOwnersKeyHalted() {
    try (IdempotencyTracker halting =
        IdempotencyTracker.builder().store(store).executor(Runnable::run)
            .orphanPolicy(OrphanPolicy.HALT).build()) {
      halting.track("k", "fp");
      ticker.advance(Duration.ofSeconds(60));

      assertThat(halting.track("k", "fp")).isInstanceOfSatisfying(
          Tracked.Halted.class,
          h -> assertThat(h.reason()).isEqualTo(IdempotencyTracker.OWNER_VANISHED));
    }
  }

  @Test
  void backgroundPruneNowDeletesOnlyExpiredRecordsInBatches() {
    try (IdempotencyTracker pruning =
        IdempotencyTracker.builder().store(store).executor(Runnable::run).pruneBatchSize(4)
            .build()) {
      for (int i = 0; i < 10; i++) {
        pruning.complete((Tracked.Claimed) pruning.track("done-" + i, "fp"), ok());
      }
      pruning.track("live", "fp");
      ticker.advance(Duration.ofHours(24));

      assertThat(store.prune(4)).isEqualTo(4);
      assertThat(pruning.pruneNow()).isEqualTo(6);

      assertThat(store.size()).isEqualTo(1);
      assertThat(store.containsKey("live")).isTrue();
    }
  }

  @Test
  void backgroundPruningRunsOnItsIntervalOnTheExecutor() {
    CountingExecutor executor = new CountingExecutor();
    try (IdempotencyTracker pruning =
        IdempotencyTracker.builder().store(store).executor(executor)
            .pruneInterval(Duration.ofMillis(10)).retention(Duration.ofMillis(1)).build()) {
      pruning.complete((Tracked.Claimed) pruning.track("old", "fp"), ok());
      ticker.advance(Duration.ofSeconds(1));

      org.awaitility.Awaitility.await().until(() -> store.size() == 0);
      assertThat(executor.tasks.get()).isPositive();
    }
  }

  private static final class CountingExecutor implements java.util.concurrent.Executor {
    final AtomicInteger tasks = new AtomicInteger();

    @Override
    public void execute(Runnable command) {
      tasks.incrementAndGet();
      command.run();
    }
  }

  @Test
  void keyOfMaximumLengthIsAcceptedAndOneLongerRejected() {
    String max = "k".repeat(IdempotencyTracker.MAX_KEY_LENGTH);

    assertThat(defaults.track(max, "fp")).isInstanceOf(Tracked.Claimed.class);
    assertThatThrownBy(() -> defaults.track(max + "k", "fp"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("key must be at most 1024 characters, was 1025");
  }

  @Test
  void invalidKeysAndFingerprintsAreRejectedWithMessagesNamingTheProblem() {
    assertThatThrownBy(() -> defaults.track("", "fp"))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("key must not be empty");
    assertThatThrownBy(() -> defaults.track(null, "fp"))
        .isInstanceOf(NullPointerException.class).hasMessage("key must not be null");
    assertThatThrownBy(() -> defaults.track("a\u0000b", "fp"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("key must not contain U+0000, found at index 1");
    assertThatThrownBy(() -> defaults.track("a\ud800", "fp"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("key must not contain an unpaired surrogate, found at index 1");
    assertThatThrownBy(() -> defaults.track("k", "f".repeat(1025)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("fingerprint must be at most 1024 characters, was 1025");
    assertThat(defaults.track("\ud83d\ude00 ok", "fp")).isInstanceOf(Tracked.Claimed.class);
    assertThat(IdempotencyTracker.checkKey("user:42 POST /orders \"abc\"")).isNotEmpty();
  }

  @Test
  void longHaltReasonIsCut() {
    Tracked.Claimed claim = (Tracked.Claimed) defaults.track("k", "fp");

    defaults.halt(claim, "x".repeat(5000) + "\u0000");

    assertThat(defaults.track("k", "fp")).isInstanceOfSatisfying(
        Tracked.Halted.class,
        h -> assertThat(h.reason()).hasSize(IdempotencyTracker.MAX_REASON_LENGTH));
  }

  @Test
  void builderRejectsBadSettings() {
    assertThatThrownBy(() -> IdempotencyTracker.builder().build())
        .isInstanceOf(IllegalStateException.class).hasMessage("store must be set");
    assertThatThrownBy(() -> IdempotencyTracker.builder().lease(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("lease must be positive, was PT0S");
    assertThatThrownBy(() -> IdempotencyTracker.builder().pruneBatchSize(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("pruneBatchSize must be at least 1, was 0");
    assertThatThrownBy(() -> IdempotencyTracker.builder().store(store)
        .lease(Duration.ofSeconds(1)).heartbeatInterval(Duration.ofSeconds(1)).build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("heartbeatInterval must be at most a third of the lease");
    assertThatThrownBy(() -> IdempotencyTracker.builder().store(store)
        .lease(Duration.ofSeconds(3)).heartbeatInterval(Duration.ofMillis(1001)).build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("heartbeatInterval must be at most a third of the lease");
    assertThat(IdempotencyTracker.builder().store(store).executor(Runnable::run)
        .lease(Duration.ofSeconds(3)).build().config().heartbeatInterval())
        .isEqualTo(Duration.ofSeconds(1));
  }

  // ---- the owner knows when it lost the key; renewals never pile up -------------------------

  @Test
  void atMostOneRenewalPerClaimIsInFlight() {
    java.util.List<Runnable> queued = new java.util.ArrayList<>();
    try (IdempotencyTracker queueing = IdempotencyTracker.builder().store(store)
        .executor(queued::add).ticker(ticker).build()) {
      queueing.track("a", "fp");
      queueing.track("b", "fp");

      queueing.heartbeat();
      queueing.heartbeat(); // the first renewals have not run (a hung store): none is added
      queueing.heartbeat();
      assertThat(queued).hasSize(2);

      queued.removeFirst().run();
      queueing.heartbeat();
      assertThat(queued).hasSize(2); // "a" again, "b" still in flight
      assertThat(queueing.renewals()).isEqualTo(1);
    }
  }

  @Test
  void isHeldTurnsFalseWhenRenewalsFailAtTheLatestWhenAnotherOwnerCanClaim() {
    FlakyStore flaky = new FlakyStore(store);
    java.util.List<String> told = new java.util.concurrent.CopyOnWriteArrayList<>();
    try (IdempotencyTracker owner = IdempotencyTracker.builder().store(flaky)
        .executor(Runnable::run).ticker(ticker)
        .claimListener((claim, definitely) -> told.add(claim.key() + " " + definitely))
        .build()) {
      Tracked.Claimed claim = (Tracked.Claimed) owner.track("k", "fp");
      flaky.failRenew.set(true);
      for (int i = 0; i < 2; i++) {
        ticker.advance(Duration.ofSeconds(20));
        owner.heartbeat(); // fails: nothing confirmed
        assertThat(owner.isHeld(claim)).isTrue();
      }
      ticker.advance(Duration.ofSeconds(20).minusNanos(1));
      assertThat(owner.isHeld(claim)).isTrue();
      assertThat(store.claim("k", "fp", Duration.ofSeconds(60), Duration.ofHours(1),
          OrphanPolicy.TAKE_OVER)).isInstanceOf(Tracked.InProgress.class);

      ticker.advanceNanos(1); // the lease as counted from the claim's sending has run out
      assertThat(owner.isHeld(claim)).isFalse();
      owner.heartbeat();
      assertThat(told).containsExactly("k false");

      assertThat(store.claim("k", "fp", Duration.ofSeconds(60), Duration.ofHours(1),
          OrphanPolicy.TAKE_OVER)).isInstanceOf(Tracked.Claimed.class);
      flaky.failRenew.set(false);
      owner.heartbeat(); // the store now says the key is someone else's
      assertThat(told).containsExactly("k false", "k true");
      assertThat(owner.heldClaims()).isZero();
    }
  }

  @Test
  void aSuccessfulRenewalConfirmsTheLeaseFromWhenItWasSent() {
    Tracked.Claimed claim = (Tracked.Claimed) defaults.track("k", "fp");
    ticker.advance(Duration.ofSeconds(50));
    defaults.heartbeat();

    ticker.advance(Duration.ofSeconds(60).minusNanos(1));
    assertThat(defaults.isHeld(claim)).isTrue();
    ticker.advanceNanos(1);
    assertThat(defaults.isHeld(claim)).isFalse();
  }

  // ---- completion survives store hiccups ------------------------------------------------------

  @Test
  void completeRetriesAFailingStoreWhileTheClaimStaysHeld() {
    FlakyStore flaky = new FlakyStore(store);
    flaky.failNextCompletes.set(3);
    try (IdempotencyTracker owner = IdempotencyTracker.builder().store(flaky)
        .executor(Runnable::run).ticker(ticker).build()) {
      Tracked.Claimed claim = (Tracked.Claimed) owner.track("k", "fp");

      owner.complete(claim, ok());

      assertThat(flaky.completeCalls.get()).isEqualTo(4);
      assertThat(owner.heldClaims()).isZero();
      assertThat(owner.track("k", "fp")).isInstanceOf(Tracked.Completed.class);
    }
  }

  @Test
  void completeThatFailsPastItsBoundKeepsTheClaimAndStoresTheResponseLaterNeverRunningTwice() {
    FlakyStore flaky = new FlakyStore(store);
    flaky.failComplete.set(true);
    try (IdempotencyTracker owner = IdempotencyTracker.builder().store(flaky)
        .executor(Runnable::run).ticker(ticker).completionRetry(Duration.ZERO).build()) {
      Tracked.Claimed claim = (Tracked.Claimed) owner.track("k", "fp");

      assertThatThrownBy(() -> owner.complete(claim, ok()))
          .isInstanceOf(IdempotencyStoreException.class)
          .hasMessageContaining("the claim stays held");

      // The claim is still held and renewed: for many leases, a retry sees it in progress.
      for (int i = 0; i < 9; i++) {
        ticker.advance(Duration.ofSeconds(20));
        owner.heartbeat();
        assertThat(owner.isHeld(claim)).isTrue();
        assertThat(owner.track("k", "fp")).isInstanceOf(Tracked.InProgress.class);
      }
      flaky.failComplete.set(false);
      owner.heartbeat(); // the pending response is stored now

      assertThat(owner.heldClaims()).isZero();
      assertThat(owner.track("k", "fp")).isInstanceOfSatisfying(Tracked.Completed.class,
          done -> assertThat(done.response()).isEqualTo(ok()));
    }
  }

  @Test
  void completeAfterTheClaimWasTakenOverFailsWithClaimLostAtOnceWithoutRetrying() {
    FlakyStore flaky = new FlakyStore(store);
    try (IdempotencyTracker owner = IdempotencyTracker.builder().store(flaky)
        .executor(Runnable::run).ticker(ticker).build()) {
      Tracked.Claimed claim = (Tracked.Claimed) owner.track("k", "fp");
      ticker.advance(Duration.ofSeconds(60));
      store.claim("k", "fp", Duration.ofSeconds(60), Duration.ofHours(1), OrphanPolicy.TAKE_OVER);

      assertThatThrownBy(() -> owner.complete(claim, ok())).isInstanceOf(ClaimLostException.class);
      assertThat(flaky.completeCalls.get()).isEqualTo(1);
      assertThat(owner.heldClaims()).isZero();
    }
  }

  @Test
  void closedTrackerRejectsTrack() {
    defaults.close();

    assertThatThrownBy(() -> defaults.track("k", "fp"))
        .isInstanceOf(IllegalStateException.class).hasMessage("tracker is closed");
  }

  @Test
  void manyThreadsOnManyKeysGetExactlyOneClaimPerKey() throws Exception {
    int keys = 200;
    int perKey = 20;
    ConcurrentLinkedQueue<Tracked.Claimed> claims = new ConcurrentLinkedQueue<>();
    AtomicInteger others = new AtomicInteger();
    CountDownLatch start = new CountDownLatch(1);
    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int k = 0; k < keys; k++) {
        String key = "key-" + k;
        for (int i = 0; i < perKey; i++) {
          pool.execute(() -> {
            try {
              start.await();
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
              return;
            }
            if (tracker.track(key, "fp") instanceof Tracked.Claimed c) {
              claims.add(c);
              tracker.complete(c, ok());
            } else {
              others.incrementAndGet();
            }
          });
        }
      }
      start.countDown();
    }

    assertThat(claims).hasSize(keys);
    assertThat(claims.stream().map(Tracked.Claimed::key).distinct()).hasSize(keys);
    assertThat(others.get()).isEqualTo(keys * (perKey - 1));
  }
}
