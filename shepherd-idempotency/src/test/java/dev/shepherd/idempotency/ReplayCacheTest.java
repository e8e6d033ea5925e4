package dev.shepherd.idempotency;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.testing.FakeTicker;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The tracker's optional local replay cache. */
class ReplayCacheTest {

  private final FakeTicker ticker = new FakeTicker();
  private final InMemoryIdempotencyStore memory =
      InMemoryIdempotencyStore.create(ticker, Clock.fixed(Instant.EPOCH, ZoneOffset.UTC));
  private final AtomicInteger claims = new AtomicInteger();
  private final IdempotencyStore counting = new IdempotencyStore() {
    @Override
    public Tracked claim(String key, String fp, Duration lease, Duration retention,
        OrphanPolicy policy) {
      claims.incrementAndGet();
      return memory.claim(key, fp, lease, retention, policy);
    }

    @Override
    public boolean renew(String key, long token, Duration lease, Duration retention) {
      return memory.renew(key, token, lease, retention);
    }

    @Override
    public boolean complete(String key, long token, StoredResponse r, Duration retention) {
      return memory.complete(key, token, r, retention);
    }

    @Override
    public boolean halt(String key, long token, String reason, Duration retention) {
      return memory.halt(key, token, reason, retention);
    }

    @Override
    public boolean release(String key, long token) {
      return memory.release(key, token);
    }

    @Override
    public int prune(int limit) {
      return memory.prune(limit);
    }
  };

  private final IdempotencyTracker tracker = IdempotencyTracker.builder()
      .store(counting)
      .ticker(ticker)
      .executor(Runnable::run)
      .localReplayCache(2, Duration.ofMinutes(1))
      .build();

  @AfterEach
  void close() {
    tracker.close();
  }

  private static StoredResponse ok(String body) {
    return new StoredResponse(200, List.of(), body.getBytes(), Instant.EPOCH);
  }

  @Test
  void replayAfterALocalCompleteDoesNotAskTheStore() {
    tracker.complete((Tracked.Claimed) tracker.track("k", "fp"), ok("x"));

    Tracked replay = tracker.track("k", "fp");

    assertThat(replay).isInstanceOfSatisfying(
        Tracked.Completed.class, done -> assertThat(done.response()).isEqualTo(ok("x")));
    assertThat(claims).hasValue(1);
  }

  @Test
  void replayFetchedFromTheStoreIsCachedToo() {
    Tracked.Claimed claim = (Tracked.Claimed) memory.claim("k", "fp", Duration.ofMinutes(1),
        Duration.ofHours(1), OrphanPolicy.TAKE_OVER);
    memory.complete("k", claim.fencingToken(), ok("elsewhere"), Duration.ofHours(1));

    tracker.track("k", "fp");
    tracker.track("k", "fp");

    assertThat(claims).hasValue(1);
  }

  @Test
  void anotherFingerprintStillAsksTheStoreAndGetsMismatch() {
    tracker.complete((Tracked.Claimed) tracker.track("k", "fp"), ok("x"));

    assertThat(tracker.track("k", "other")).isInstanceOf(Tracked.Mismatch.class);
    assertThat(claims).hasValue(2);
  }

  @Test
  void cachedReplayIsDroppedAfterItsTtl() {
    tracker.complete((Tracked.Claimed) tracker.track("k", "fp"), ok("x"));
    ticker.advance(Duration.ofMinutes(1));

    assertThat(tracker.track("k", "fp")).isInstanceOf(Tracked.Completed.class);
    assertThat(claims).hasValue(2);
  }

  @Test
  void cacheKeepsAtMostItsSize() {
    for (int i = 0; i < 5; i++) {
      tracker.complete((Tracked.Claimed) tracker.track("k" + i, "fp"), ok("x"));
    }
    claims.set(0);

    for (int i = 0; i < 5; i++) {
      assertThat(tracker.track("k" + i, "fp")).isInstanceOf(Tracked.Completed.class);
    }

    assertThat(claims.get()).isGreaterThanOrEqualTo(3);
  }

  @Test
  void withoutTheCacheEveryReplayAsksTheStore() {
    try (IdempotencyTracker plain =
        IdempotencyTracker.builder().store(counting).executor(Runnable::run).build()) {
      plain.complete((Tracked.Claimed) plain.track("p", "fp"), ok("x"));
      plain.track("p", "fp");

      assertThat(claims).hasValue(2);
    }
  }
}
