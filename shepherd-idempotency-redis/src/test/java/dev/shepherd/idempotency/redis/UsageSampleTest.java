package dev.shepherd.idempotency.redis;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.StoredResponse;
import dev.shepherd.idempotency.Tracked;
import dev.shepherd.testing.RedisServer;
import io.lettuce.core.RedisClient;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Runs the sample of README.md and of the {@link RedisIdempotencyStore} javadoc verbatim. */
class UsageSampleTest {

  @RegisterExtension static final RedisServer redis = RedisServer.create();

  @Test
  void readmeSampleClaimsCompletesAndReplays() {
    RedisClient redisClient = RedisClient.create(redis.uri());
    // --- README.md: "Usage" (verbatim from here) ---
    RedisIdempotencyStore store = RedisIdempotencyStore.builder(redisClient)
        .keyPrefix("shepherd:idem:")            // the default
        .commandTimeout(Duration.ofSeconds(5))  // the default
        .build();
    IdempotencyTracker tracker = IdempotencyTracker.builder()
        .store(store)
        .lease(Duration.ofSeconds(60))
        .retention(Duration.ofHours(24))
        .build();
    // --- end of sample ---
    try {
      Tracked.Claimed claim = (Tracked.Claimed) tracker.track("user-7 POST /orders k1", "fp");
      StoredResponse response =
          new StoredResponse(201, List.of(), new byte[] {0, (byte) 0xff}, Instant.now());
      tracker.complete(claim, response);

      assertThat(tracker.track("user-7 POST /orders k1", "fp"))
          .isInstanceOfSatisfying(
              Tracked.Completed.class, done -> assertThat(done.response()).isEqualTo(response));
    } finally {
      tracker.close();
      store.close();
      redisClient.shutdown();
    }
  }
}
