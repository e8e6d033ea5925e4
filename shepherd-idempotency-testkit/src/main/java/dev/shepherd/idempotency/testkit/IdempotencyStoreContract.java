package dev.shepherd.idempotency.testkit;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.shepherd.idempotency.ClaimLostException;
import dev.shepherd.idempotency.FailurePolicy;
import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.IdempotencyStoreException;
import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.OrphanPolicy;
import dev.shepherd.idempotency.StoredResponse;
import dev.shepherd.idempotency.Tracked;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import org.assertj.core.api.ThrowingConsumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The contract every {@link IdempotencyStore} passes, as an abstract JUnit 5 test: extend it to run
 * the whole contract against your own store. Shepherd runs it against its in-memory store, a real
 * PostgreSQL and a real Redis. Subclasses say how to make the store.
 *
 * <pre>{@code
 * class MyStoreContractTest extends IdempotencyStoreContract {
 *   protected IdempotencyStore newStore() { return new MyStore(...); }
 *   protected IdempotencyStore unreachableStore() { return new MyStore(closedPort); }
 *   protected boolean isStored(String key) { ... }  // does the backend still hold the record?
 * }
 * }</pre>
 *
 * <p>Leases and retention in these tests are real time measured by the store's own clock (the
 * database server's), so the tests use short leases and await the outcome with Awaitility; they
 * never sleep.
 */
public abstract class IdempotencyStoreContract {

  /** For subclasses. */
  protected IdempotencyStoreContract() {}

  /** A lease long enough never to run out during a test. */
  protected static final Duration LONG = Duration.ofMinutes(10);

  /** A lease or retention that runs out quickly. */
  protected static final Duration SHORT = Duration.ofMillis(300);

  /** The store under test, made by {@link #newStore()} before each test. */
  protected IdempotencyStore store;
  private final List<IdempotencyTracker> trackers = new ArrayList<>();

  /**
   * Makes the store under test; called before each test.
   *
   * @return a store
   */
  protected abstract IdempotencyStore newStore();

  /**
   * Makes a store whose server cannot be reached (a closed port), to show that failures are
   * exceptions.
   *
   * @return a store that fails every call
   */
  protected abstract IdempotencyStore unreachableStore();

  /**
   * Whether a record for the key is still stored (deleted by pruning or by the server: not).
   *
   * @param key the key
   * @return true if the store still holds it (expired but not yet deleted counts as held)
   */
  protected abstract boolean isStored(String key);

  /**
   * Whether {@link IdempotencyStore#prune} deletes records (false where the server expires them).
   *
   * @return true if prune deletes
   */
  protected boolean prunes() {
    return true;
  }

  @BeforeEach
  void openStore() {
    store = newStore();
  }

  @AfterEach
  void closeStore() {
    trackers.forEach(IdempotencyTracker::close);
    if (store != null) {
      store.close();
    }
  }

  /**
   * Makes a tracker over the store under test, closed after the test.
   *
   * @param lease the tracker's lease
   * @param retention the tracker's retention
   * @return the tracker
   */
  protected IdempotencyTracker tracker(Duration lease, Duration retention) {
    return tracker(IdempotencyTracker.builder().store(store).lease(lease).retention(retention));
  }

  /**
   * Builds a tracker, closed after the test.
   *
   * @param builder the tracker's settings, with the store under test
   * @return the tracker
   */
  protected IdempotencyTracker tracker(IdempotencyTracker.Builder builder) {
    IdempotencyTracker tracker = builder.build();
    trackers.add(tracker);
    return tracker;
  }

  /**
   * Returns a key no other test uses.
   *
   * @param name a readable part
   * @return the name plus a random UUID
   */
  protected static String key(String name) {
    return name + ":" + UUID.randomUUID();
  }

  /**
   * Returns a response with repeated headers of mixed case and the given body.
   *
   * @param body the body, as UTF-8
   * @return the response
   */
  protected static StoredResponse response(String body) {
    return new StoredResponse(
        201,
        List.of(
            new StoredResponse.Header("Content-Type", "application/json"),
            new StoredResponse.Header("X-Trace", "a"),
            new StoredResponse.Header("x-TRACE", "b")),
        body.getBytes(UTF_8),
        Instant.parse("2026-01-02T03:04:05.123456789Z"));
  }

  @Test
  void firstTrackClaimsTheKey() {
    String key = key("first");

    Tracked tracked = store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER);

    assertThat(tracked).isInstanceOfSatisfying(Tracked.Claimed.class, claim -> {
      assertThat(claim.key()).isEqualTo(key);
      assertThat(claim.fencingToken()).isPositive();
      assertThat(claim.tookOver()).isFalse();
    });
  }

  /**
   * A unique key of exactly {@code bytes} bytes in UTF-8, mostly distinct three-byte characters
   * (CJK), so that no compression in the store makes it smaller.
   */
  private static String keyOfUtf8Bytes(int bytes) {
    StringBuilder key = new StringBuilder(UUID.randomUUID().toString()); // 36 ASCII bytes
    int cjk = (bytes - key.length()) / 3;
    for (int i = 0; i < cjk; i++) {
      key.append((char) (0x4E00 + (i * 7919) % 20000)); // distinct characters in U+4E00..
    }
    while (key.toString().getBytes(UTF_8).length < bytes) {
      key.append('x');
    }
    return key.toString();
  }

  @Test
  void keyOfTheMostUtf8BytesIsClaimedCompletedAndReplayedUnchanged() {
    String key = keyOfUtf8Bytes(IdempotencyTracker.MAX_KEY_BYTES);
    assertThat(key.getBytes(UTF_8)).hasSize(IdempotencyTracker.MAX_KEY_BYTES);
    IdempotencyTracker tracker = tracker(LONG, LONG);

    Tracked.Claimed claim = (Tracked.Claimed) tracker.track(key, "fp");
    assertThat(claim.key()).isEqualTo(key);
    tracker.complete(claim, response("long key"));

    assertThat(tracker.track(key, "fp")).isInstanceOfSatisfying(Tracked.Completed.class,
        done -> assertThat(done.response()).isEqualTo(response("long key")));
  }

  @Test
  void keyOverTheMostUtf8BytesIsRejectedBeforeItReachesTheStore() {
    // 1,024 characters (the most) but 3,072 bytes: over PostgreSQL's 2,704-byte index entry.
    String key = keyOfUtf8Bytes(3 * IdempotencyTracker.MAX_KEY_LENGTH).substring(0,
        IdempotencyTracker.MAX_KEY_LENGTH);
    IdempotencyTracker tracker = tracker(LONG, LONG);

    assertThatThrownBy(() -> tracker.track(key, "fp"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("key must be at most " + IdempotencyTracker.MAX_KEY_BYTES
            + " bytes in UTF-8");
    assertThatThrownBy(() -> IdempotencyTracker.checkKey(key))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void aClaimIsReleasedByTheClaimIdItWasMadeWithAndByNoOther() {
    String key = key("claim-id");
    Tracked.Claimed claim = (Tracked.Claimed)
        store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER, "attempt-1");

    assertThat(store.releaseClaim(key, "attempt-2")).isFalse();
    assertThat(store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER))
        .isInstanceOf(Tracked.InProgress.class);
    assertThat(store.releaseClaim(key, "attempt-1")).isTrue();
    assertThat(store.releaseClaim(key, "attempt-1")).isFalse();

    assertThat(store.claim(key, "fp", LONG, LONG, OrphanPolicy.HALT, "attempt-3"))
        .isInstanceOfSatisfying(Tracked.Claimed.class, next -> {
          assertThat(next.tookOver()).isFalse();
          assertThat(next.fencingToken()).isGreaterThan(claim.fencingToken());
        });
  }

  @Test
  void aClaimIdReleasesNothingOnceItsClaimWasTakenOverOrFinished() {
    String key = key("claim-id-gone");
    store.claim(key, "fp", SHORT, LONG, OrphanPolicy.TAKE_OVER, "old");
    awaitLeaseOver(SHORT);
    Tracked.Claimed successor = (Tracked.Claimed)
        store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER, "new");

    assertThat(store.releaseClaim(key, "old")).isFalse();
    assertThat(store.complete(key, successor.fencingToken(), response("kept"), LONG)).isTrue();
    assertThat(store.releaseClaim(key, "new")).isFalse();
    assertThat(store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER))
        .isInstanceOf(Tracked.Completed.class);
  }

  @Test
  void secondTrackWhileLeaseLivesIsInProgressSinceTheClaim() {
    String key = key("busy");
    Tracked.Claimed claim = claimed(key, LONG);

    Tracked tracked = store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER);

    assertThat(tracked).isInstanceOfSatisfying(Tracked.InProgress.class, busy -> {
      assertThat(busy.since()).isEqualTo(claim.since());
      assertThat(busy.leaseRemaining()).isPositive().isLessThanOrEqualTo(LONG);
    });
  }

  @Test
  void completedKeyReplaysTheResponseByteForByte() {
    String key = key("done");
    Tracked.Claimed claim = claimed(key, LONG);
    byte[] body = new byte[256];
    for (int i = 0; i < body.length; i++) {
      body[i] = (byte) i;
    }
    StoredResponse response =
        new StoredResponse(
            500,
            List.of(
                new StoredResponse.Header("X-Odd", "caf\u00e9 \ud83d\ude00 \ud800 tab\tend"),
                new StoredResponse.Header("Content-Length", "256"),
                new StoredResponse.Header("x-odd", "")),
            body,
            Instant.parse("2026-11-24T01:02:03.000000007Z"));

    assertThat(store.complete(key, claim.fencingToken(), response, LONG)).isTrue();
    Tracked tracked = store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER);

    assertThat(tracked).isInstanceOfSatisfying(Tracked.Completed.class, done -> {
      assertThat(done.response()).isEqualTo(response);
      assertThat(done.response().body()).isEqualTo(body);
      assertThat(done.response().headers()).isEqualTo(response.headers());
      assertThat(done.expiresAt()).isAfter(Instant.now().plus(LONG).minusSeconds(60));
    });
  }

  @Test
  void anotherFingerprintIsMismatchWhileInProgressAndAfterCompletion() {
    String key = key("mismatch");
    Tracked.Claimed claim =
        (Tracked.Claimed) store.claim(key, "fp-a", LONG, LONG, OrphanPolicy.TAKE_OVER);

    assertThat(store.claim(key, "fp-b", LONG, LONG, OrphanPolicy.TAKE_OVER))
        .isInstanceOf(Tracked.Mismatch.class);
    store.complete(key, claim.fencingToken(), response("x"), LONG);
    assertThat(store.claim(key, "fp-b", LONG, LONG, OrphanPolicy.TAKE_OVER))
        .isInstanceOf(Tracked.Mismatch.class);
    assertThat(store.claim(key, "fp-a", LONG, LONG, OrphanPolicy.TAKE_OVER))
        .isInstanceOf(Tracked.Completed.class);
  }

  @Test
  void haltedKeyReportsItsReason() {
    String key = key("halt");
    Tracked.Claimed claim = claimed(key, LONG);

    assertThat(store.halt(key, claim.fencingToken(), "boom: it broke", LONG)).isTrue();

    assertThat(store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER))
        .isInstanceOfSatisfying(
            Tracked.Halted.class, h -> assertThat(h.reason()).isEqualTo("boom: it broke"));
  }

  @Test
  void releasedKeyIsClaimedAgainWithALargerToken() {
    String key = key("release");
    Tracked.Claimed first = claimed(key, LONG);

    assertThat(store.release(key, first.fencingToken())).isTrue();
    Tracked again = store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER);

    assertThat(again).isInstanceOfSatisfying(Tracked.Claimed.class, c -> {
      assertThat(c.fencingToken()).isGreaterThan(first.fencingToken());
      assertThat(c.tookOver()).isFalse();
    });
  }

  @Test
  void releasedTokenCanNeitherCompleteNorReleaseTheNextOwnersClaim() {
    String key = key("release-fence");
    Tracked.Claimed first = claimed(key, LONG);
    store.release(key, first.fencingToken());
    Tracked.Claimed second = claimed(key, LONG);

    assertThat(store.complete(key, first.fencingToken(), response("stale"), LONG)).isFalse();
    assertThat(store.release(key, first.fencingToken())).isFalse();
    assertThat(store.halt(key, first.fencingToken(), "stale", LONG)).isFalse();
    assertThat(store.renew(key, first.fencingToken(), LONG, LONG)).isFalse();

    assertStillOwnedBy(second, "fresh");
  }

  @Test
  void aSecondCompleteWithTheSameTokenIsANoOpSuccessAndTheClaimCannotBeReleasedNorHalted() {
    String key = key("twice");
    Tracked.Claimed claim = claimed(key, LONG);

    assertThat(store.complete(key, claim.fencingToken(), response("one"), LONG)).isTrue();
    // A retry of a complete whose reply was lost: success, and the first response stays.
    assertThat(store.complete(key, claim.fencingToken(), response("two"), LONG)).isTrue();
    assertThat(store.release(key, claim.fencingToken())).isFalse();
    assertThat(store.halt(key, claim.fencingToken(), "late", LONG)).isFalse();

    assertThat(store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER)).satisfies(completedWith("one"));
  }

  @Test
  void keyWhoseLeaseRanOutIsTakenOverWithALargerToken() {
    String key = key("orphan");
    Tracked.Claimed first = claimed(key, SHORT);

    Tracked.Claimed second = awaitClaim(key, "fp", OrphanPolicy.TAKE_OVER);

    assertThat(second.tookOver()).isTrue();
    assertThat(second.fencingToken()).isGreaterThan(first.fencingToken());
  }

  @Test
  void formerOwnerCannotOverwriteTheResultOfTheOwnerThatTookOver() {
    String key = key("fence");
    Tracked.Claimed first = claimed(key, SHORT);
    Tracked.Claimed second = awaitClaim(key, "fp", OrphanPolicy.TAKE_OVER);
    assertThat(store.complete(key, second.fencingToken(), response("new owner"), LONG)).isTrue();

    assertThat(store.complete(key, first.fencingToken(), response("old owner"), LONG)).isFalse();
    assertThat(store.halt(key, first.fencingToken(), "old owner", LONG)).isFalse();
    assertThat(store.release(key, first.fencingToken())).isFalse();

    assertThat(store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER)).satisfies(completedWith("new owner"));
  }

  @Test
  void formerOwnerWhoseLeaseRanOutCanStillCompleteIfNobodyTookOver() {
    String key = key("late");
    Tracked.Claimed claim = claimed(key, Duration.ofMillis(50));
    awaitLeaseOver(Duration.ofMillis(50));

    assertThat(store.complete(key, claim.fencingToken(), response("late"), LONG)).isTrue();
    assertThat(store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER))
        .isInstanceOf(Tracked.Completed.class);
  }

  /**
   * Returns once a lease of this length, claimed before this call, has run out by the store's
   * clock: it claims a probe key with the same lease and waits until the probe can be taken over.
   * Probing the key under test would take it over.
   *
   * @param lease the lease to wait out
   */
  protected void awaitLeaseOver(Duration lease) {
    String probe = key("probe");
    store.claim(probe, "fp", lease, LONG, OrphanPolicy.TAKE_OVER);
    awaitClaim(probe, "fp", OrphanPolicy.TAKE_OVER);
  }

  @Test
  void orphanUnderHaltPolicyIsHaltedInsteadOfTakenOver() {
    String key = key("orphan-halt");
    store.claim(key, "fp", SHORT, LONG, OrphanPolicy.HALT);

    Tracked tracked =
        await()
            .until(
                () -> store.claim(key, "fp", LONG, LONG, OrphanPolicy.HALT),
                t -> !(t instanceof Tracked.InProgress));

    assertThat(tracked).isInstanceOfSatisfying(
        Tracked.Halted.class,
        h -> assertThat(h.reason()).isEqualTo(IdempotencyTracker.OWNER_VANISHED));
    assertThat(store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER))
        .isInstanceOf(Tracked.Halted.class);
  }

  @Test
  void orphanWithAnotherFingerprintIsMismatchNotTakenOver() {
    String key = key("orphan-mismatch");
    store.claim(key, "fp-a", SHORT, LONG, OrphanPolicy.TAKE_OVER);
    awaitLeaseOver(SHORT);

    assertThat(store.claim(key, "fp-b", LONG, LONG, OrphanPolicy.TAKE_OVER))
        .isInstanceOf(Tracked.Mismatch.class);
    assertThat(store.claim(key, "fp-a", LONG, LONG, OrphanPolicy.TAKE_OVER))
        .isInstanceOfSatisfying(Tracked.Claimed.class, c -> assertThat(c.tookOver()).isTrue());
  }

  @Test
  void renewKeepsTheLeaseAlivePastItsFirstEnd() {
    String key = key("renew");
    Tracked.Claimed claim = claimed(key, SHORT);
    Instant end = Instant.now().plus(SHORT).plus(SHORT);

    // Renew until well past the first lease's end; the key must stay in progress throughout.
    await().until(() -> {
      assertThat(store.renew(key, claim.fencingToken(), SHORT, LONG)).isTrue();
      assertThat(store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER))
          .isInstanceOf(Tracked.InProgress.class);
      return Instant.now().isAfter(end);
    });
  }

  @Test
  void finishedRecordIsForgottenAfterRetention() {
    String key = key("retention");
    Tracked.Claimed claim =
        (Tracked.Claimed) store.claim(key, "fp", LONG, SHORT, OrphanPolicy.TAKE_OVER);
    store.complete(key, claim.fencingToken(), response("x"), SHORT);

    Tracked.Claimed again = awaitClaim(key, "other-fp", OrphanPolicy.TAKE_OVER);

    assertThat(again.tookOver()).isFalse();
    assertThat(again.fencingToken()).isGreaterThan(claim.fencingToken());
  }

  @Test
  void pruneDeletesExpiredRecordsInBoundedBatches() {
    List<String> keys = new ArrayList<>();
    for (int i = 0; i < 25; i++) {
      String key = key("prune-" + i);
      keys.add(key);
      Tracked.Claimed claim =
          (Tracked.Claimed) store.claim(key, "fp", LONG, SHORT, OrphanPolicy.TAKE_OVER);
      store.complete(key, claim.fencingToken(), response("x"), Duration.ofMillis(50));
    }
    String live = key("prune-live");
    Tracked.Claimed liveClaim = claimed(live, LONG);

    await().until(() -> {
      int deleted = store.prune(10);
      assertThat(deleted).isBetween(0, 10);
      return keys.stream().noneMatch(this::isStored);
    });

    assertThat(isStored(live)).isTrue();
    assertStillOwnedBy(liveClaim, "y");
  }

  @Test
  void tokensOfOneKeyOnlyGrow() {
    String key = key("grow");
    long last = 0;
    for (int i = 0; i < 20; i++) {
      Tracked.Claimed claim = claimed(key, LONG);
      assertThat(claim.fencingToken()).isGreaterThan(last);
      last = claim.fencingToken();
      store.release(key, claim.fencingToken());
    }
  }

  @Test
  void concurrentClaimsOfOneKeyHaveExactlyOneWinner() throws Exception {
    race(30, 32, "race", key -> {}, (round, claims) ->
        assertThat(claims).as("claims in round %d", round).hasSize(1));
  }

  @Test
  void concurrentTakeOversOfAnOrphanHaveExactlyOneWinner() throws Exception {
    race(5, 16, "takeover-race", key -> {
      store.claim(key, "fp", Duration.ofMillis(100), LONG, OrphanPolicy.TAKE_OVER);
      awaitLeaseOver(Duration.ofMillis(100));
    }, (round, winners) -> {
      assertThat(winners).hasSize(1);
      assertThat(winners.get(0).tookOver()).isTrue();
    });
  }

  /**
   * Runs {@code rounds} races, each on a fresh key {@code name-round} that {@code setUp} prepares
   * and then {@code threads} tasks of one pool claim at once; {@code check} gets each round's
   * claims (see {@link #claimAtOnce}).
   */
  private void race(int rounds, int threads, String name, Consumer<String> setUp,
      BiConsumer<Integer, List<Tracked.Claimed>> check) throws Exception {
    try (ExecutorService pool = Executors.newFixedThreadPool(threads)) {
      for (int round = 0; round < rounds; round++) {
        String key = key(name + "-" + round);
        setUp.accept(key);
        check.accept(round, claimAtOnce(pool, threads, key));
      }
    }
  }

  /**
   * Claims {@code key} from {@code threads} tasks released at once; checks that every answer but
   * the claims is {@link Tracked.InProgress}, and returns the claims.
   */
  private List<Tracked.Claimed> claimAtOnce(ExecutorService pool, int threads, String key)
      throws Exception {
    CountDownLatch start = new CountDownLatch(1);
    List<Future<Tracked>> results = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      results.add(pool.submit(() -> {
        start.await();
        return store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER);
      }));
    }
    start.countDown();
    List<Tracked.Claimed> claims = new ArrayList<>();
    for (Future<Tracked> result : results) {
      Tracked answer = result.get();
      if (answer instanceof Tracked.Claimed claim) {
        claims.add(claim);
      } else {
        assertThat(answer).isInstanceOf(Tracked.InProgress.class);
      }
    }
    return claims;
  }

  /** Lets the store's clock move on, so an expiry computed afresh per answer would differ. */
  private static void letTimePass() {
    long start = System.nanoTime();
    while (System.nanoTime() - start < 5_000_000) {
      Thread.onSpinWait();
    }
  }

  @Test
  void everyAnswerAboutARecordReportsTheSameExpiry() {
    String done = key("expiry-completed");
    Tracked.Claimed claim = claimed(done, LONG);
    store.complete(done, claim.fencingToken(), response("x"), LONG);
    String halted = key("expiry-halted");
    Tracked.Claimed other = claimed(halted, LONG);
    store.halt(halted, other.fencingToken(), "r", LONG);

    List<Instant> completed = new ArrayList<>();
    List<Instant> mismatched = new ArrayList<>();
    List<Instant> haltedAnswers = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      letTimePass();
      completed.add(((Tracked.Completed) store.claim(done, "fp", LONG, LONG,
          OrphanPolicy.TAKE_OVER)).expiresAt());
      mismatched.add(((Tracked.Mismatch) store.claim(done, "other", LONG, LONG,
          OrphanPolicy.TAKE_OVER)).expiresAt());
      haltedAnswers.add(((Tracked.Halted) store.claim(halted, "fp", LONG, LONG,
          OrphanPolicy.TAKE_OVER)).expiresAt());
    }

    assertThat(completed).containsOnly(completed.get(0));
    assertThat(mismatched).containsOnly(completed.get(0));
    assertThat(haltedAnswers).containsOnly(haltedAnswers.get(0));
  }

  @Test
  void unreachableStoreFailsWithIdempotencyStoreException() {
    try (IdempotencyStore broken = unreachableStore();
        IdempotencyTracker tracker =
            IdempotencyTracker.builder().store(broken).lease(LONG).build()) {
      assertThatThrownBy(() -> tracker.track("k", "fp"))
          .isInstanceOf(IdempotencyStoreException.class)
          .hasMessageContaining("'k'");
      Tracked.Claimed claim = new Tracked.Claimed("k", 1, Instant.now(), false);
      assertThatThrownBy(() -> tracker.complete(claim, response("x")))
          .isInstanceOf(IdempotencyStoreException.class);
      assertThatThrownBy(() -> tracker.release(claim))
          .isInstanceOf(IdempotencyStoreException.class);
      assertThatThrownBy(() -> tracker.fail(claim, new RuntimeException("x")))
          .isInstanceOf(IdempotencyStoreException.class);
      if (prunes()) {
        assertThatThrownBy(tracker::pruneNow).isInstanceOf(IdempotencyStoreException.class);
      }
    }
  }

  // ---- the tracker over this store ----

  @Test
  void trackerCompleteStoresTheResponseAndAHaltedClaimCannotCompleteNorBeCompletedTwice() {
    IdempotencyTracker tracker = tracker(LONG, LONG);
    String key = key("tracker-complete");
    Tracked.Claimed claim = (Tracked.Claimed) tracker.track(key, "fp");

    tracker.complete(claim, response("once"));
    tracker.complete(claim, response("twice")); // a retry: no-op, the first response stays

    assertThat(tracker.halt(claim, "late")).isFalse();
    assertThat(tracker.track(key, "fp")).satisfies(completedWith("once"));
  }

  @Test
  void trackerFailHaltsByDefaultWithTheExceptionAsReason() {
    IdempotencyTracker tracker = tracker(LONG, LONG);
    String key = key("tracker-fail");
    Tracked.Claimed claim = (Tracked.Claimed) tracker.track(key, "fp");

    assertThat(tracker.fail(claim, new IllegalStateException("db down"))).isTrue();

    assertThat(tracker.track(key, "fp"))
        .isInstanceOfSatisfying(
            Tracked.Halted.class,
            h -> assertThat(h.reason()).isEqualTo("java.lang.IllegalStateException: db down"));
    assertThat(tracker.heldClaims()).isZero();
  }

  @Test
  void trackerFailUnderReleasePolicyLetsTheNextRequestRun() {
    IdempotencyTracker tracker =
        tracker(IdempotencyTracker.builder().store(store).lease(LONG)
            .failurePolicy(FailurePolicy.RELEASE));
    String key = key("tracker-release");
    Tracked.Claimed claim = (Tracked.Claimed) tracker.track(key, "fp");

    assertThat(tracker.fail(claim, new RuntimeException("x"))).isTrue();

    assertThat(tracker.track(key, "fp")).isInstanceOf(Tracked.Claimed.class);
  }

  @Test
  void trackerHeartbeatRenewsTheLeaseWhileTheOwnerLives() {
    IdempotencyTracker owner =
        tracker(IdempotencyTracker.builder().store(store).lease(SHORT)
            .heartbeatInterval(Duration.ofMillis(50)));
    String key = key("heartbeat");
    Tracked.Claimed claim = (Tracked.Claimed) owner.track(key, "fp");

    // 12 renewals 50 ms apart take at least 550 ms, well past the first 300 ms lease.
    await().until(() -> owner.renewals() >= 12);

    assertThat(store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER))
        .isInstanceOf(Tracked.InProgress.class);
    owner.complete(claim, response("alive"));
  }

  @Test
  void trackerCompleteAfterTakeOverFailsWithClaimLostAndKeepsTheSuccessorsClaim() {
    IdempotencyTracker tracker = tracker(LONG, LONG);
    String key = key("taken-over");
    Tracked.Claimed stale = claimed(key, SHORT);
    Tracked.Claimed successor = awaitClaim(key, "fp", OrphanPolicy.TAKE_OVER);

    assertThatThrownBy(() -> tracker.complete(stale, response("stale")))
        .isInstanceOf(ClaimLostException.class)
        .hasMessageContaining("no longer current");
    assertThat(tracker.release(stale)).isFalse();
    assertThat(tracker.fail(stale, new RuntimeException("stale"))).isFalse();
    assertThat(store.complete(key, successor.fencingToken(), response("ok"), LONG)).isTrue();
  }

  @Test
  void trackerWaitReturnsTheResponseOnceTheOwnerCompletes() throws Exception {
    IdempotencyTracker tracker = tracker(LONG, LONG);
    String key = key("wait");
    Tracked.Claimed claim = (Tracked.Claimed) tracker.track(key, "fp");
    CountDownLatch waiting = new CountDownLatch(1);
    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      Future<Tracked> waiter = pool.submit(() -> {
        waiting.countDown();
        return tracker.track(key, "fp", Duration.ofMinutes(1));
      });
      waiting.await();
      tracker.complete(claim, response("waited"));

      assertThat(waiter.get()).satisfies(completedWith("waited"));
    }
  }

  @Test
  void trackerWaitOfZeroAnswersInProgressAtOnce() throws Exception {
    IdempotencyTracker tracker = tracker(LONG, LONG);
    String key = key("nowait");
    tracker.track(key, "fp");

    assertThat(tracker.track(key, "fp", Duration.ZERO)).isInstanceOf(Tracked.InProgress.class);
  }

  @Test
  void trackerPruneNowDeletesExpiredRecords() {
    IdempotencyTracker tracker =
        tracker(IdempotencyTracker.builder().store(store).lease(LONG)
            .retention(Duration.ofMillis(50)).pruneBatchSize(3));
    List<String> keys = new ArrayList<>();
    for (int i = 0; i < 7; i++) {
      String key = key("tracker-prune-" + i);
      keys.add(key);
      tracker.complete((Tracked.Claimed) tracker.track(key, "fp"), response("x"));
    }

    await().until(() -> {
      tracker.pruneNow();
      return keys.stream().noneMatch(this::isStored);
    });
  }

  /** Claims a fresh (or orphaned) key with fingerprint {@code fp}, a long retention, taking over orphans. */
  private Tracked.Claimed claimed(String key, Duration lease) {
    return (Tracked.Claimed) store.claim(key, "fp", lease, LONG, OrphanPolicy.TAKE_OVER);
  }

  /**
   * Checks that a claim still owns its key: another request sees it in progress, and the owner
   * completes it with a response of this body.
   */
  private void assertStillOwnedBy(Tracked.Claimed owner, String body) {
    assertThat(store.claim(owner.key(), "fp", LONG, LONG, OrphanPolicy.TAKE_OVER))
        .isInstanceOf(Tracked.InProgress.class);
    assertThat(store.complete(owner.key(), owner.fencingToken(), response(body), LONG)).isTrue();
  }

  /** Checks that an answer is the stored response, with this body. */
  private static ThrowingConsumer<Tracked> completedWith(String body) {
    return tracked -> assertThat(tracked).isInstanceOfSatisfying(
        Tracked.Completed.class, done -> assertThat(done.response().body()).isEqualTo(body.getBytes(UTF_8)));
  }

  /**
   * Claims a key as soon as the store lets this caller, awaiting its current owner's lease.
   *
   * @param key the key
   * @param fp the fingerprint
   * @param policy the orphan policy
   * @return the claim
   */
  protected Tracked.Claimed awaitClaim(String key, String fp, OrphanPolicy policy) {
    return (Tracked.Claimed) await()
        .atMost(Duration.ofSeconds(10))
        .until(() -> store.claim(key, fp, LONG, LONG, policy), t -> t instanceof Tracked.Claimed);
  }
}
