package dev.shepherd.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Regression tests of interleavings found in review of the pool's state machine. */
class ElasticPoolRaceTest {

  private static final Duration LONG = Duration.ofSeconds(30);
  private static final Duration MANUAL = Duration.ofHours(1);

  @BeforeEach
  void reset() {
    TestFunctions.reset();
  }

  @Test
  void aBootThatLandsAfterResizeLoweredMaxNeverTakesThePoolAboveMax() throws Exception {
    ControlledBackend backend = new ControlledBackend();
    backend.holdBoots = true;
    try (ElasticPool pool =
        ElasticPool.builder().backend(backend).min(0).max(2).maxConcurrency(1)
            .housekeepingInterval(MANUAL).build()) {
      List<CompletableFuture<Object>> calls = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        calls.add(pool.callAsync("gate", "g" + i, LONG));
      }
      await().until(() -> pool.snapshot().booting() == 2);
      pool.resize(0, 1);
      backend.bootPermits.release(2);
      try {
        await().until(() -> pool.snapshot().booting() == 0 && pool.snapshot().busySlots() >= 1);
        PoolSnapshot snapshot = pool.snapshot();
        assertThat(snapshot.ready() + snapshot.draining()).isLessThanOrEqualTo(1);
        assertThat(snapshot.busySlots()).isEqualTo(1);
      } finally {
        for (int i = 0; i < 4; i++) {
          TestFunctions.gate("g" + i).countDown();
        }
      }
      for (CompletableFuture<Object> call : calls) {
        call.get(10, TimeUnit.SECONDS);
      }
      assertThat(pool.snapshot().ready() + pool.snapshot().draining()).isLessThanOrEqualTo(1);
    }
  }
}
