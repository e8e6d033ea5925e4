package dev.shepherd.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The pool has one timer thread for every deadline, boot timeout and cancel grace. A caller's
 * dependent stage runs on the thread that completes its future; before the fix, a timed-out
 * call's future was completed on the timer thread, and one caller's stage that blocked there
 * stopped every other call's deadline.
 */
class TimerThreadTest {

  private static final Duration LONG = Duration.ofSeconds(60);

  @Test
  void aCallersBlockingStageOnATimedOutCallDoesNotStopOtherCallsDeadlines() throws Exception {
    try (ElasticPool pool =
        ElasticPool.builder()
            .name("timer")
            .backend(ProcessBackend.builder().functions(TestFunctions.class).build())
            .min(1)
            .max(1)
            .maxConcurrency(2)
            .bootTimeout(LONG)
            .build()) {
      await().atMost(LONG).until(() -> pool.snapshot().ready() == 1);
      Thread test = Thread.currentThread();
      CountDownLatch blocked = new CountDownLatch(1);
      CountDownLatch release = new CountDownLatch(1);
      try {
        CompletableFuture<Object> first = pool.callAsync("sleep", 600_000L, Duration.ofMillis(200));
        var unused =
            first.whenComplete(
                (r, t) -> {
                  if (Thread.currentThread() != test) { // completed by the pool, not registered late
                    blocked.countDown();
                    try {
                      release.await();
                    } catch (InterruptedException e) {
                      Thread.currentThread().interrupt();
                    }
                  }
                });
        assertThat(blocked.await(60, TimeUnit.SECONDS)).isTrue();

        CompletableFuture<Object> second = pool.callAsync("sleep", 600_000L, Duration.ofMillis(200));
        assertThatThrownBy(() -> second.get(20, TimeUnit.SECONDS)).as("the call was expected to time out")
            .isInstanceOf(ExecutionException.class).hasCauseInstanceOf(CallTimeoutException.class);
        assertThat(blocked.getCount()).isZero();
      } finally {
        release.countDown();
      }
    }
  }

  /**
   * Before the fix, the {@link IdleCheck} ran on the timer thread: a check that blocked (one that
   * asks the runner over the network, say) stopped the sweep, which arms the deadline timer of an
   * async call when its deadline comes near, so such a call never timed out.
   */
  @Test
  void anIdleCheckThatBlocksDoesNotStopDeadlines() throws Exception {
    CountDownLatch checking = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    IdleCheck blocking =
        runnerId -> {
          checking.countDown();
          try {
            release.await();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          return false;
        };
    try (ElasticPool pool =
        ElasticPool.builder()
            .name("idle-check")
            .backend(ProcessBackend.builder().functions(TestFunctions.class).build())
            .max(1)
            .maxConcurrency(2)
            .bootTimeout(LONG)
            .housekeepingInterval(Duration.ofMillis(20))
            .idleShutdownAfter(Duration.ofMillis(1), blocking)
            .build()) {
      try {
        assertThat(pool.call("echo", "boot", LONG)).isEqualTo("boot");
        assertThat(checking.await(60, TimeUnit.SECONDS)).isTrue();

        // Far from its deadline at first (more than two sweeps), so a sweep must arm its timer.
        CompletableFuture<Object> call = pool.callAsync("sleep", 600_000L, Duration.ofSeconds(1));
        assertThatThrownBy(() -> call.get(20, TimeUnit.SECONDS)).as("the call was expected to time out")
            .isInstanceOf(ExecutionException.class).hasCauseInstanceOf(CallTimeoutException.class);
      } finally {
        release.countDown();
      }
    }
  }

  /**
   * Before the fix, a boot the sweep started (a retry after a failed boot, or one for min) called
   * the onGrowStart hook on the timer thread: a hook that blocked stopped the sweep, and with it
   * the deadline of every async call whose timer the sweep had yet to arm.
   */
  @Test
  void aBlockingGrowHookOfABootRetryDoesNotStopDeadlines() throws Exception {
    ControlledBackend backend = new ControlledBackend();
    backend.failNextBoots.set(1);
    java.util.concurrent.atomic.AtomicInteger grows = new java.util.concurrent.atomic.AtomicInteger();
    CountDownLatch retrying = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    try (ElasticPool pool =
        ElasticPool.builder()
            .name("grow-hook")
            .backend(backend)
            .max(1)
            .housekeepingInterval(Duration.ofMillis(20))
            .onGrowStart(
                event -> {
                  if (grows.incrementAndGet() == 2) { // the retry, started by the sweep
                    retrying.countDown();
                    try {
                      release.await();
                    } catch (InterruptedException e) {
                      Thread.currentThread().interrupt();
                    }
                  }
                })
            .build()) {
      try {
        // Its first boot fails; the retry comes a second later, two seconds before its deadline.
        CompletableFuture<Object> call = pool.callAsync("echo", "x", Duration.ofSeconds(3));
        assertThat(retrying.await(60, TimeUnit.SECONDS)).isTrue();
        assertThatThrownBy(() -> call.get(20, TimeUnit.SECONDS)).as("the call was expected to time out")
            .isInstanceOf(ExecutionException.class).hasCauseInstanceOf(CallTimeoutException.class);
      } finally {
        release.countDown();
      }
    }
  }
}
