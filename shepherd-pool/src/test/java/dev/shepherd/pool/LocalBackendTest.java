package dev.shepherd.pool;

import dev.shepherd.pool.spi.RunnerHandle;
import dev.shepherd.pool.spi.RunnerSpec;
import dev.shepherd.pool.spi.RunningCall;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
}
