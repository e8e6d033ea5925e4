package dev.shepherd.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A caller's dependent stage runs on the thread that completes its future. Before the fix, the
 * result of a call on a child JVM completed it on the connection's one reader thread: a stage that
 * blocked (a database write, a lock) stopped every other result of that runner from being read,
 * so its other calls timed out and, once their cancel grace passed, the runner was killed.
 */
class CallerStageTest {

  private static final Duration LONG = Duration.ofSeconds(60);

  @Test
  void aCallersBlockingStageDoesNotHoldUpTheOtherResultsOfItsRunner() throws Exception {
    try (ElasticPool pool =
        ElasticPool.builder()
            .name("stage")
            .backend(ProcessBackend.builder().functions(TestFunctions.class).build())
            .min(1)
            .max(1)
            .maxConcurrency(1)
            .bootTimeout(LONG)
            .build()) {
      await().atMost(LONG).until(() -> pool.snapshot().ready() == 1);
      CountDownLatch blocked = new CountDownLatch(1);
      CountDownLatch release = new CountDownLatch(1);
      try {
        // The first call waits for the only slot, so its stage is in place before it can end.
        CompletableFuture<Object> holder = pool.callAsync("sleep", 600_000L, LONG);
        await().atMost(LONG).until(() -> pool.snapshot().busySlots() == 1);
        CompletableFuture<Object> first = pool.callAsync("echo", "first", LONG);
        assertThat(pool.snapshot().waiters()).isEqualTo(1);
        var unused =
            first.thenAccept(
                result -> {
                  blocked.countDown();
                  try {
                    release.await();
                  } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                  }
                });
        holder.cancel(true);
        assertThat(blocked.await(60, TimeUnit.SECONDS)).isTrue();

        // The runner answers the next call while the first caller's stage still blocks.
        assertThat(pool.call("echo", "second", Duration.ofSeconds(20))).isEqualTo("second");
        assertThat(pool.snapshot().deaths()).isZero();
      } finally {
        release.countDown();
      }
    }
  }
}
