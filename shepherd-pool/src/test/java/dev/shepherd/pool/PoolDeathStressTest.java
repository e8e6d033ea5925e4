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
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.RepeatedTest;

/** Runner deaths racing completions, timeouts and cancels leave the pool consistent. */
class PoolDeathStressTest {

  @BeforeEach
  void reset() {
    TestFunctions.reset();
  }

  @RepeatedTest(3)
  void deathsRacingTimeoutsAndCancelsNeverLeakSlotsNorExceedMax() throws Exception {
    Random random = new Random(7);
    ControlledBackend backend = new ControlledBackend();
    int max = 3;
    try (ElasticPool pool =
        ElasticPool.builder().backend(backend).min(1).max(max).maxConcurrency(2).build()) {
      AtomicBoolean stop = new AtomicBoolean();
      AtomicInteger overMax = new AtomicInteger();
      Thread monitor =
          Thread.ofVirtual().start(() -> {
            while (!stop.get()) {
              PoolSnapshot s = pool.snapshot();
              if (s.ready() + s.draining() + s.booting() > max
                  || s.runners().stream().anyMatch(r -> r.busySlots() > 2)) {
                overMax.incrementAndGet();
              }
              Thread.yield();
            }
          });
      Thread killer =
          Thread.ofVirtual().start(() -> {
            Random r = new Random(11);
            for (int i = 0; i < 60 && !stop.get(); i++) {
              List<ControlledBackend.Booted> booted = backend.booted;
              if (!booted.isEmpty()) {
                booted.get(r.nextInt(booted.size())).die();
              }
              try {
                Thread.sleep(2);
              } catch (InterruptedException e) {
                return;
              }
            }
          });
      List<CompletableFuture<Object>> calls = new ArrayList<>();
      for (int i = 0; i < 2_000; i++) {
        Duration timeout = Duration.ofMillis(5 + random.nextInt(200));
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
          assertThat(e.getCause())
              .isInstanceOfAny(CallTimeoutException.class, RunnerDiedException.class);
        }
      }
      killer.join();
      stop.set(true);
      monitor.join();
      assertThat(ok).isPositive();
      assertThat(overMax.get()).isZero();
      assertThat(pool.snapshot().deaths()).isPositive();
      await().until(() -> pool.snapshot().busySlots() == 0);
      PoolSnapshot snapshot = pool.snapshot();
      assertThat(snapshot.waiters()).isZero();
      assertThat(snapshot.runners()).allSatisfy(r -> assertThat(r.busySlots()).isZero());
      // No bound on TestFunctions.MAX_RUNNING here: a killed local runner's threads are only
      // interrupted, and may still count while its replacement runs; the monitor checks the pool.
      assertThat(pool.call("echo", "still works", Duration.ofSeconds(10))).isEqualTo("still works");
    }
  }
}
