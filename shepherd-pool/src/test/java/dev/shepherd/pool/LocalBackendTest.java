package dev.shepherd.pool;

import dev.shepherd.pool.spi.RunnerHandle;
import dev.shepherd.pool.spi.RunnerSpec;
import dev.shepherd.pool.spi.RunningCall;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The local backend's runners on their own: concurrency, cancellation, death. */
class LocalBackendTest {

  private static final Duration LONG = Duration.ofSeconds(30);

  private static LocalBackend backend() {
    return LocalBackend.of(
        FunctionRegistry.builder()
            .register("echo", arg -> arg)
            .register("interruptedAtStart", arg -> Thread.currentThread().isInterrupted())
            .register("thread", arg -> Thread.currentThread())
            .register(
                "block",
                arg -> {
                  ((CountDownLatch) arg).await();
                  return null;
                })
            .build());
  }

  private static RunnerSpec spec(int maxConcurrency) {
    return new RunnerSpec("local-test", "r1", LONG, LONG, LONG, maxConcurrency);
  }

  @Test
  void aCancelRacingTheEndOfACallNeverInterruptsTheNextCall() throws Exception {
    RunnerHandle runner = backend().boot(spec(1), cause -> {});
    try {
      for (int i = 0; i < 3_000; i++) {
        RunningCall first = runner.start("echo", (long) i, LONG);
        first.cancel(); // races the call's end on purpose
        first.result().handle((r, t) -> null).get(30, TimeUnit.SECONDS);
        RunningCall next = runner.start("interruptedAtStart", null, LONG);
        assertThat(next.result().get(30, TimeUnit.SECONDS)).as("iteration %d", i).isEqualTo(false);
      }
    } finally {
      runner.kill();
    }
  }

  @Test
  void manyBlockedCallsStillLetNewCallsRunAtOnce() throws Exception {
    RunnerHandle runner = backend().boot(spec(64), cause -> {});
    try {
      CountDownLatch gate = new CountDownLatch(1);
      RunningCall[] blocked = new RunningCall[64];
      for (int i = 0; i < blocked.length; i++) {
        blocked[i] = runner.start("block", gate, LONG);
      }
      assertThat(runner.start("echo", 7L, LONG).result().get(30, TimeUnit.SECONDS)).isEqualTo(7L);
      gate.countDown();
      for (RunningCall call : blocked) {
        call.result().get(30, TimeUnit.SECONDS);
      }
    } finally {
      runner.kill();
    }
  }

  @Test
  void poolCallsThatBlockEveryReusedThreadDoNotStarveTheNextCall() throws Exception {
    CountDownLatch gate = new CountDownLatch(1);
    try (ElasticPool pool =
        ElasticPool.builder().name("starve").backend(backend()).max(1).maxConcurrency(64).build()) {
      java.util.List<java.util.concurrent.CompletableFuture<Object>> blocked = new java.util.ArrayList<>();
      for (int i = 0; i < 40; i++) {
        blocked.add(pool.callAsync("block", gate, LONG));
      }
      // 40 calls hold every reusable platform thread of the runner and more; this one still runs.
      assertThat(pool.call("echo", "through", LONG)).isEqualTo("through");
      assertThat(pool.snapshot().busySlots()).isEqualTo(40);
      gate.countDown();
      for (var call : blocked) {
        call.get(30, TimeUnit.SECONDS);
      }
    } finally {
      gate.countDown();
    }
  }

  @Test
  void aKilledRunnerFailsItsRunningCallsAndRefusesNewOnes() throws Exception {
    AtomicInteger deaths = new AtomicInteger();
    RunnerHandle runner = backend().boot(spec(4), cause -> deaths.incrementAndGet());
    RunningCall blocked = runner.start("block", new CountDownLatch(1), LONG);
    runner.kill();
    assertThatThrownBy(() -> blocked.result().get(30, TimeUnit.SECONDS))
        .hasCauseInstanceOf(RunnerDiedException.class);
    assertThatThrownBy(() -> runner.start("echo", 1L, LONG)).isInstanceOf(RunnerDiedException.class);
    assertThat(deaths).hasValue(1);
  }

  @Test
  void sequentialPoolCallsRunOnAFewReusedPlatformThreads() throws Exception {
    try (ElasticPool pool =
        ElasticPool.builder().name("reuse").backend(backend()).max(1).maxConcurrency(100).build()) {
      java.util.Set<Thread> threads = new java.util.HashSet<>();
      for (int i = 0; i < 2_000; i++) {
        threads.add((Thread) pool.call("thread", null, LONG));
      }
      // One call at a time: each is handed to an idle worker, none spills to a virtual thread.
      assertThat(threads).hasSizeLessThanOrEqualTo(Math.max(4, Runtime.getRuntime().availableProcessors()))
          .noneMatch(Thread::isVirtual);
      assertThat(pool.snapshot().busySlots()).isZero();
    }
  }

  @Test
  void aCallerDependentStageThatBlocksTheWorkerDoesNotDelayTheNextCall() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch inStage = new CountDownLatch(1);
    CountDownLatch leaveStage = new CountDownLatch(1);
    try (ElasticPool pool =
        ElasticPool.builder().name("stage").backend(backend()).max(1).maxConcurrency(8).build()) {
      java.util.concurrent.CompletableFuture<Object> first = pool.callAsync("block", release, LONG);
      // Registered while the function still blocks, so the worker that completes it runs it.
      var blockedStage = first.whenComplete(
          (r, t) -> {
            inStage.countDown();
            try {
              leaveStage.await();
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
          });
      release.countDown();
      inStage.await();
      // That worker is not back on the idle stack: the next call goes to another thread.
      assertThat(pool.call("echo", "next", LONG)).isEqualTo("next");
      leaveStage.countDown();
      blockedStage.get(30, TimeUnit.SECONDS);
    } finally {
      leaveStage.countDown();
    }
  }

  @Test
  void theIdleWorkersOfAKilledRunnerEnd() throws Exception {
    RunnerHandle runner = backend().boot(spec(4), cause -> {});
    Thread worker = (Thread) runner.start("thread", null, LONG).result().get(30, TimeUnit.SECONDS);
    assertThat(worker.isVirtual()).isFalse();
    runner.kill();
    await().until(() -> !worker.isAlive());
    assertThatThrownBy(() -> runner.start("echo", 1L, LONG)).isInstanceOf(RunnerDiedException.class);
  }
}
