package dev.shepherd.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.pool.spi.RunnerHandle;
import dev.shepherd.pool.spi.RunningCall;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A caller that gives up while its call is being started on a runner: the pool has given it the
 * slot (the call is RUNNING) but the backend's {@code start} has not returned yet (a frame being
 * written to a child JVM). A waiter's call is started by whichever thread freed the slot (here the
 * pool's thread that hands it over), so its caller holds the future and can cancel it meanwhile.
 * The backend below holds {@code start} of one function at a gate, standing in for a slow write.
 */
class CancelWhileStartingTest {

  private static final Duration LONG = Duration.ofSeconds(60);

  /** A process backend whose {@code start} of {@link #gated} waits at a gate; records starts. */
  private static final class GatedBackend extends StartWrappingBackend {
    final String gated;
    /** Whether the gated start then fails as if the runner had died while it was written. */
    final boolean dieWhileStarting;
    final CountDownLatch entered = new CountDownLatch(1);
    final CountDownLatch open = new CountDownLatch(1);
    /** "runner-number:function" for every start, in order. */
    final List<String> starts = new CopyOnWriteArrayList<>();
    /** Whether the first runner is gone (only it is gated). */
    private final AtomicBoolean firstGone = new AtomicBoolean();

    GatedBackend(String gated, boolean dieWhileStarting) {
      super(ProcessBackend.builder().functions(TestFunctions.class).build());
      this.gated = gated;
      this.dieWhileStarting = dieWhileStarting;
    }

    @Override
    RunningCall start(RunnerHandle runner, int number, String function, @Nullable Object preparedArgument,
        Duration timeout) {
      starts.add(number + ":" + function);
      if (number == 1 && firstGone.get()) {
        throw new RunnerDiedException(runner.id(), "runner " + runner.id() + " is gone", null);
      }
      if (number == 1 && function.equals(gated)) {
        entered.countDown();
        try {
          if (!open.await(60, TimeUnit.SECONDS)) {
            throw new AssertionError("the gate was never opened");
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new AssertionError(e);
        }
        if (dieWhileStarting) {
          firstGone.set(true);
          throw new RunnerDiedException(runner.id(), "runner " + runner.id() + " is gone", null);
        }
      }
      return runner.start(function, preparedArgument, timeout);
    }
  }

  /**
   * The first call holds the only slot; the second waits; the first is cancelled, which frees the
   * slot, and the second's start waits at the gate on the thread that freed it.
   */
  private static CompletableFuture<Object> waiterHeldInItsStart(
      ElasticPool pool, GatedBackend backend, String function, @Nullable Object argument)
      throws InterruptedException {
    CompletableFuture<Object> holder = pool.callAsync("sleep", 600_000L, LONG);
    await().atMost(LONG).until(() -> pool.snapshot().busySlots() == 1);
    CompletableFuture<Object> waiter = pool.callAsync(function, argument, LONG);
    assertThat(pool.snapshot().waiters()).isEqualTo(1);
    holder.cancel(true);
    assertThat(backend.entered.await(60, TimeUnit.SECONDS)).isTrue();
    return waiter;
  }

  /**
   * Before the fix, the cancel found no running call to stop and armed no grace; the start then
   * sent the cancel, which a function that ignores interrupts ignored, and its slot stayed taken
   * for good: with one slot, the pool was wedged.
   */
  @Test
  void aCallCancelledWhileItIsStartedStillGetsItsGraceAndCannotWedgeThePool() throws Exception {
    GatedBackend backend = new GatedBackend("spin", false);
    ElasticPool pool =
        ElasticPool.builder()
            .name("cancel-starting")
            .backend(backend)
            .min(1)
            .max(1)
            .maxConcurrency(1)
            .bootTimeout(LONG)
            .cancelGrace(Duration.ofMillis(500))
            .build();
    try (pool) {
      CompletableFuture<Object> spinning = waiterHeldInItsStart(pool, backend, "spin", null);
      assertThat(spinning.cancel(true)).isTrue();
      backend.open.countDown();

      // The grace passes, the runner still spins: it is stopped and replaced, its slot freed.
      await().atMost(Duration.ofSeconds(30)).until(() -> pool.snapshot().deaths() == 1);
      assertThat(pool.call("echo", "after", LONG)).isEqualTo("after");
      assertThat(pool.snapshot().busySlots()).isZero();
    }
  }

  /**
   * Before the fix, a call that could not be sent went back to the head of the queue even when its
   * caller had cancelled it meanwhile, and ran on the replacement runner for nobody.
   */
  @Test
  void aCallCancelledWhileItCouldNotBeSentIsNotRunOnTheReplacement(@TempDir Path dir)
      throws Exception {
    GatedBackend backend = new GatedBackend("touch", true);
    Path proof = dir.resolve("ran");
    ElasticPool pool =
        ElasticPool.builder()
            .name("cancel-unsent")
            .backend(backend)
            .min(1)
            .max(1)
            .maxConcurrency(1)
            .bootTimeout(LONG)
            .build();
    try (pool) {
      CompletableFuture<Object> touch = waiterHeldInItsStart(pool, backend, "touch", proof.toString());
      assertThat(touch.cancel(true)).isTrue();
      backend.open.countDown();

      // Queued behind the cancelled call, had it been put back: this runs after it would have.
      assertThat(pool.call("echo", "after", LONG)).isEqualTo("after");
      assertThat(backend.starts).filteredOn(start -> start.startsWith("2:")).containsExactly("2:echo");
      assertThat(proof).doesNotExist();
      assertThat(pool.snapshot().busySlots()).isZero();
    }
  }
}
