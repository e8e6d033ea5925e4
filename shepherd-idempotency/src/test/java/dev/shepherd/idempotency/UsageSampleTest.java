package dev.shepherd.idempotency;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/** Runs the samples of README.md and of the {@link IdempotencyTracker} javadoc, copied verbatim. */
class UsageSampleTest {

  // --- README.md: "Usage" (verbatim from here) ---
  static StoredResponse handle(
      IdempotencyTracker tracker, String key, String fingerprint, Supplier<StoredResponse> handler) {
    return switch (tracker.track(key, fingerprint)) {
      case Tracked.Claimed claim -> {
        StoredResponse response;
        try {
          response = handler.get();
        } catch (RuntimeException e) {
          tracker.fail(claim, e); // Halted by default; FailurePolicy.RELEASE lets a retry run
          throw e;
        }
        tracker.complete(claim, response); // ClaimLostException if the key was taken over
        yield response;
      }
      case Tracked.Completed done -> done.response(); // replay, byte for byte
      case Tracked.InProgress busy ->
          problem(409, "in progress; retry in " + busy.leaseRemaining().toSeconds() + " s");
      case Tracked.Halted halted -> problem(500, "the first attempt failed: " + halted.reason());
      case Tracked.Mismatch mismatch -> problem(422, "key reused with another payload");
    };
  }

  static StoredResponse problem(int status, String detail) {
    return new StoredResponse(status, List.of(), detail.getBytes(UTF_8), Instant.now());
  }
  // --- end of sample ---

  @Test
  void readmeSampleRunsTheHandlerOnceAndReplays() {
    // --- README.md: "Building a tracker" (verbatim from here) ---
    IdempotencyTracker tracker = IdempotencyTracker.builder()
        .store(InMemoryIdempotencyStore.create()) // or JdbcIdempotencyStore, RedisIdempotencyStore
        .lease(Duration.ofSeconds(60))            // default 60 s
        .retention(Duration.ofHours(24))          // default 24 h
        .build();
    // --- end of sample ---
    AtomicInteger runs = new AtomicInteger();
    Supplier<StoredResponse> create = () -> {
      runs.incrementAndGet();
      return new StoredResponse(201, List.of(new StoredResponse.Header("Location", "/orders/1")),
          "created".getBytes(UTF_8), Instant.now());
    };

    StoredResponse first = handle(tracker, "user-7 POST /orders k1", "sha256:aa", create);
    StoredResponse again = handle(tracker, "user-7 POST /orders k1", "sha256:aa", create);
    StoredResponse other = handle(tracker, "user-7 POST /orders k1", "sha256:bb", create);

    assertThat(runs).hasValue(1);
    assertThat(again).isEqualTo(first);
    assertThat(other.status()).isEqualTo(422);
    tracker.close();
  }

  @Test
  void readmeSampleHaltsWhenTheHandlerThrows() {
    try (IdempotencyTracker tracker =
        IdempotencyTracker.builder().store(InMemoryIdempotencyStore.create()).build()) {
      assertThatThrownBy(() -> handle(tracker, "k", "fp", () -> {
        throw new IllegalStateException("payment gateway down");
      })).hasMessage("payment gateway down");

      StoredResponse retry = handle(tracker, "k", "fp", () -> problem(200, "ran again"));

      assertThat(retry.status()).isEqualTo(500);
      assertThat(new String(retry.body(), UTF_8))
          .isEqualTo("the first attempt failed: java.lang.IllegalStateException: payment gateway"
              + " down");
    }
  }
}
