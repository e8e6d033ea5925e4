package dev.shepherd.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.pool.spi.RunnerHandle;
import dev.shepherd.pool.spi.RunningCall;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
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

  /**
   * A process backend whose runner holds the result of "echo" until {@link #releaseResult} and
   * the start of "square" until {@link #openStart}, standing in for a result that arrives later
   * and a frame write that takes long.
   */
  private static final class HeldBackend extends StartWrappingBackend {
    final CompletableFuture<Void> releaseResult = new CompletableFuture<>();
    final CountDownLatch startEntered = new CountDownLatch(1);
    final CountDownLatch openStart = new CountDownLatch(1);

    HeldBackend() {
      super(ProcessBackend.builder().functions(TestFunctions.class).build());
    }

    @Override
    RunningCall start(RunnerHandle runner, int number, String function, @Nullable Object argument,
        Duration timeout) {
      if (function.equals("square")) {
        startEntered.countDown();
        try {
          if (!openStart.await(60, TimeUnit.SECONDS)) {
            throw new AssertionError("the start was never let through");
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new AssertionError(e);
        }
      }
      RunningCall call = runner.start(function, argument, timeout);
      if (!function.equals("echo")) {
        return call;
      }
      CompletableFuture<@Nullable Object> held =
          call.result().thenCombine(releaseResult, (result, released) -> result);
      return new RunningCall() {
        @Override
        public CompletableFuture<@Nullable Object> result() {
          return held;
        }

        @Override
        public void cancel() {
          call.cancel();
        }
      };
    }
  }

  /**
   * Before the fix, the thread that took a result handed the freed slot to the next waiter and
   * wrote that waiter's frame before it completed the caller whose result it held: a slow write
   * (a large argument, a runner that just stopped reading) kept that caller from a result already
   * in hand.
   */
  @Test
  void aResultIsNotHeldBackWhileTheNextWaitersCallIsStarted() throws Exception {
    HeldBackend backend = new HeldBackend();
    try (ElasticPool pool =
        ElasticPool.builder()
            .name("handover")
            .backend(backend)
            .min(1)
            .max(1)
            .maxConcurrency(1)
            .bootTimeout(LONG)
            .build()) {
      await().atMost(LONG).until(() -> pool.snapshot().ready() == 1);
      try {
        CompletableFuture<Object> first = pool.callAsync("echo", "first", LONG);
        CompletableFuture<Object> next = pool.callAsync("square", 3L, LONG);
        assertThat(pool.snapshot().waiters()).isEqualTo(1);
        backend.releaseResult.complete(null);
        assertThat(backend.startEntered.await(60, TimeUnit.SECONDS)).isTrue();

        // The next call's start is still held; the first caller has its result all the same.
        assertThat(first.get(20, TimeUnit.SECONDS)).isEqualTo("first");
        backend.openStart.countDown();
        assertThat(next.get(60, TimeUnit.SECONDS)).isEqualTo(9L);
      } finally {
        backend.openStart.countDown();
      }
    }
  }
}
