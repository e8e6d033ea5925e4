package dev.shepherd.pool;

import dev.shepherd.pool.spi.LaunchedRunner;
import dev.shepherd.pool.spi.RunnerLauncher;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
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

  @Test
  void waitersQueuedBehindARunnerThatDiesAreServedByItsReplacementNotFailed() throws Exception {
    // A remote runner's connection fails its open calls before it tells the pool of the death:
    // the freed slot must not be handed to waiters, each of which would then fail to start on the
    // dead runner and hand its slot on to the next.
    List<StubRunner> launched = new CopyOnWriteArrayList<>();
    RunnerLauncher inProcess =
        (spec, env) -> {
          Thread.ofVirtual().start(() -> RemoteRunner.run(env));
          StubRunner runner = new StubRunner();
          launched.add(runner);
          return runner;
        };
    try (ElasticPool pool =
        ElasticPool.builder()
            .backend(RemoteBackend.builder().functions(TestFunctions.class).launcher(inProcess).build())
            .min(1).max(1).maxConcurrency(1).housekeepingInterval(MANUAL).build()) {
      await().until(() -> pool.snapshot().ready() == 1);
      CompletableFuture<Object> held = pool.callAsync("gate", "held", LONG);
      await().until(() -> pool.snapshot().busySlots() == 1);
      List<CompletableFuture<Object>> queued = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        queued.add(pool.callAsync("echo", "q" + i, LONG));
      }
      assertThat(pool.snapshot().waiters()).isEqualTo(20);
      try {
        launched.get(0).exited.complete(null); // the child process "exits"
        assertThat(failureOf(held)).isInstanceOf(RunnerDiedException.class);
        for (int i = 0; i < 20; i++) {
          assertThat(queued.get(i).get(10, TimeUnit.SECONDS)).isEqualTo("q" + i);
        }
        assertThat(pool.snapshot().deaths()).isEqualTo(1);
      } finally {
        TestFunctions.gate("held").countDown();
      }
    }
  }

  private static Throwable failureOf(CompletableFuture<?> future) {
    try {
      future.join();
    } catch (CompletionException e) {
      return e.getCause();
    }
    throw new AssertionError("expected " + future + " to fail");
  }

  /** A runner launched on a thread of this JVM; completing {@code exited} plays its exit. */
}
