package dev.shepherd.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.RepeatedTest;

/** Timeouts, cancellations and completions racing on many threads leave the pool consistent. */
class PoolStressTest {

  @BeforeEach
  void reset() {
    TestFunctions.reset();
  }

  @RepeatedTest(3)
  void racingTimeoutsAndCancelsNeverLeakSlotsOrExceedTheBound() {
    Random random = new Random(42);
    try (ElasticPool pool =
        ElasticPool.builder().backend(LocalBackend.of(new TestFunctions().create()))
            .min(0).max(2).maxConcurrency(3).build()) {
      List<CompletableFuture<Object>> calls = new ArrayList<>();
      for (int i = 0; i < 2_000; i++) {
        Duration timeout = Duration.ofMillis(1 + random.nextInt(30));
        CompletableFuture<Object> call = pool.callAsync("count", (long) random.nextInt(3), timeout);
        if (random.nextInt(10) == 0) {
          Thread.ofVirtual().start(() -> call.cancel(true));
        }
        calls.add(call);
      }
      int ok = 0;
      for (CompletableFuture<Object> call : calls) {
        try {
          call.join();
          ok++;
        } catch (CancellationException e) {
          // cancelled by the test
        } catch (CompletionException e) {
          assertThat(e.getCause()).isInstanceOf(CallTimeoutException.class);
        }
      }
      assertThat(ok).isPositive();
      await().until(() -> pool.snapshot().busySlots() == 0);
      PoolSnapshot snapshot = pool.snapshot();
      assertThat(snapshot.waiters()).isZero();
      assertThat(snapshot.runners()).allSatisfy(r -> assertThat(r.busySlots()).isZero());
      assertThat(TestFunctions.MAX_RUNNING.get()).isBetween(1, 6);
      assertThat(pool.call("echo", "still works")).isEqualTo("still works");
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    }
  }
}
