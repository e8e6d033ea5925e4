package dev.shepherd.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.shepherd.pool.spi.Backend;
import dev.shepherd.pool.spi.ForwardingBackend;
import dev.shepherd.pool.spi.RunnerHandle;
import dev.shepherd.pool.spi.RunnerListener;
import dev.shepherd.pool.spi.RunnerSpec;
import dev.shepherd.pool.spi.RunningCall;
import dev.shepherd.testing.FakeTicker;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class ElasticPoolTest {

  private static final Duration LONG = Duration.ofSeconds(30);
  private static final Duration MANUAL = Duration.ofHours(1);

  @BeforeEach
  void reset() {
    TestFunctions.reset();
  }

  private static LocalBackend local() {
    return LocalBackend.of(new TestFunctions().create());
  }

  private static Throwable failureOf(CompletableFuture<?> future) {
    try {
      future.join();
    } catch (CompletionException | CancellationException e) {
      return e instanceof CompletionException ? e.getCause() : e;
    }
    throw new AssertionError("expected " + future + " to fail");
  }

  @Test
  void callRunsTheFunctionAndReturnsItsResult() throws Exception {
    try (ElasticPool pool = ElasticPool.builder().name("squares").backend(local()).max(2).build()) {
      assertThat(pool.call("square", 7L)).isEqualTo(49L);
      assertThat(pool.callAsync("square", 3L).get(5, TimeUnit.SECONDS)).isEqualTo(9L);
    }
  }

  @Test
  void javadocSampleRuns() throws Exception {
    FunctionRegistry functions = FunctionRegistry.builder()
        .register("square", x -> (Long) x * (Long) x)
        .build();
    try (ElasticPool pool = ElasticPool.builder()
        .name("squares")
        .backend(LocalBackend.of(functions))
        .min(0)
        .max(4)
        .maxConcurrency(10)
        .build()) {
      Object nine = pool.call("square", 3L, Duration.ofSeconds(5));   // 9L
      assertThat(nine).isEqualTo(9L);
    }
  }

  @Test
  void checkoutGoesToTheLeastLoadedRunner() throws Exception {
    try (ElasticPool pool =
        ElasticPool.builder().backend(local()).min(2).max(2).maxConcurrency(10).build()) {
      await().until(() -> pool.snapshot().ready() == 2);
      pool.callAsync("gate", "a", LONG);
      pool.callAsync("gate", "b", LONG);
      await().until(() -> pool.snapshot().busySlots() == 2);
      assertThat(pool.snapshot().runners()).extracting(RunnerInfo::busySlots).containsExactly(1, 1);
      TestFunctions.gate("a").countDown();
      TestFunctions.gate("b").countDown();
    }
  }

  @Test
  void waitersGetFreedSlotsInFifoOrder() {
    FakeTicker ticker = new FakeTicker();
    try (ElasticPool pool =
        ElasticPool.builder().backend(local()).max(1).maxConcurrency(1).ticker(ticker)
            .housekeepingInterval(Duration.ofMillis(5)).build()) {
      CompletableFuture<Object> blocker = pool.callAsync("gate", "first", LONG);
      await().until(() -> pool.snapshot().busySlots() == 1);
      List<CompletableFuture<Object>> queued = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        queued.add(pool.callAsync("record", i, LONG));
      }
      assertThat(pool.snapshot().waiters()).isEqualTo(20);
      TestFunctions.gate("first").countDown();
      blocker.join();
      queued.forEach(CompletableFuture::join);
      assertThat(TestFunctions.ORDER).containsExactly(
          0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19);
    }
  }

  @Test
  void anExpiredWaiterLeavesWithoutDisturbingTheOthers() {
    FakeTicker ticker = new FakeTicker();
    try (ElasticPool pool =
        ElasticPool.builder().backend(local()).max(1).maxConcurrency(1).ticker(ticker)
            .housekeepingInterval(Duration.ofMillis(5)).build()) {
      pool.callAsync("gate", "first", LONG);
      await().until(() -> pool.snapshot().busySlots() == 1);
      CompletableFuture<Object> a = pool.callAsync("record", "a", Duration.ofSeconds(1));
      CompletableFuture<Object> b = pool.callAsync("record", "b", Duration.ofSeconds(10));
      CompletableFuture<Object> c = pool.callAsync("record", "c", Duration.ofSeconds(1));
      ticker.advance(Duration.ofSeconds(2));
      assertThat(failureOf(a)).isInstanceOfSatisfying(
          CallTimeoutException.class, e -> assertThat(e.started()).isFalse());
      assertThat(failureOf(c)).isInstanceOf(CallTimeoutException.class);
      assertThat(b).isNotDone();
      assertThat(pool.snapshot().waiters()).isEqualTo(1);
      TestFunctions.gate("first").countDown();
      assertThat(b.join()).isEqualTo("b");
      assertThat(TestFunctions.ORDER).containsExactly("b");
    }
  }

  @Test
  void aCancelledWaiterLeavesTheQueue() {
    try (ElasticPool pool = ElasticPool.builder().backend(local()).max(1).maxConcurrency(1).build()) {
      pool.callAsync("gate", "first", LONG);
      await().until(() -> pool.snapshot().busySlots() == 1);
      CompletableFuture<Object> a = pool.callAsync("record", "a", LONG);
      CompletableFuture<Object> b = pool.callAsync("record", "b", LONG);
      a.cancel(true);
      await().until(() -> pool.snapshot().waiters() == 1);
      TestFunctions.gate("first").countDown();
      assertThat(b.join()).isEqualTo("b");
      assertThat(TestFunctions.ORDER).containsExactly("b");
    }
  }

  @Test
  void aBlockedCallerTimesOutWhileWaiting() {
    try (ElasticPool pool = ElasticPool.builder().backend(local()).max(1).maxConcurrency(1).build()) {
      pool.callAsync("gate", "first", LONG);
      await().until(() -> pool.snapshot().busySlots() == 1);
      assertThatThrownBy(() -> pool.call("echo", 1, Duration.ofMillis(50)))
          .isInstanceOfSatisfying(CallTimeoutException.class, e -> assertThat(e.started()).isFalse())
          .hasMessageContaining("no runner slot for \"echo\"");
      assertThat(pool.snapshot().waiters()).isZero();
      TestFunctions.gate("first").countDown();
    }
  }

  @Test
  void theCallerWaitsInTheQueueNotOnTheBoot() throws Exception {
    ControlledBackend backend = new ControlledBackend();
    try (ElasticPool pool =
        ElasticPool.builder().backend(backend).min(1).max(2).maxConcurrency(1).build()) {
      await().until(() -> pool.snapshot().ready() == 1);
      backend.holdBoots = true;
      CompletableFuture<Object> first = pool.callAsync("gate", "first", LONG);
      await().until(() -> pool.snapshot().busySlots() == 1);
      CompletableFuture<Object> second = pool.callAsync("echo", "second", LONG);
      await().until(() -> pool.snapshot().booting() == 1);
      // The boot is held; the slot freed on the first runner goes to the waiter at once.
      TestFunctions.gate("first").countDown();
      assertThat(second.get(10, TimeUnit.SECONDS)).isEqualTo("second");
      assertThat(first.join()).isEqualTo("first");
      assertThat(pool.snapshot().booting()).isEqualTo(1);
      backend.bootPermits.release();
      await().until(() -> pool.snapshot().ready() == 2);
    }
  }

  @Test
  void aBurstOfAThousandCallsNeverRunsMoreThanMaxTimesConcurrency() throws Exception {
    try (ElasticPool pool =
            ElasticPool.builder().backend(local()).min(0).max(4).maxConcurrency(10).build();
        ExecutorService callers = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<Object>> results = new ArrayList<>();
      for (int i = 0; i < 1000; i++) {
        results.add(callers.submit(() -> pool.call("count", 2L, Duration.ofMinutes(1))));
      }
      for (Future<Object> result : results) {
        assertThat((Integer) result.get()).isBetween(1, 40);
      }
      assertThat(TestFunctions.MAX_RUNNING.get()).isBetween(1, 40);
      PoolSnapshot snapshot = pool.snapshot();
      assertThat(snapshot.boots()).isEqualTo(4);
      assertThat(snapshot.busySlots()).isZero();
      assertThat(snapshot.waiters()).isZero();
    }
  }

  @Test
  void scalesFromZeroToMaxAndBackToZeroWhenIdle() throws Exception {
    FakeTicker ticker = new FakeTicker();
    List<PoolEvent.Shrink> shrinks = new CopyOnWriteArrayList<>();
    try (ElasticPool pool =
            ElasticPool.builder().backend(local()).min(0).max(4).maxConcurrency(5).ticker(ticker)
                .idleShutdownAfter(Duration.ofSeconds(10)).onShrink(shrinks::add)
                .housekeepingInterval(MANUAL).build()) {
      assertThat(pool.snapshot().ready()).isZero();
      List<CompletableFuture<Object>> calls = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        calls.add(pool.callAsync("gate", "burst", LONG));
      }
      await().until(() -> pool.snapshot().ready() == 4 && pool.snapshot().busySlots() == 20);
      TestFunctions.gate("burst").countDown();
      calls.forEach(CompletableFuture::join);
      ticker.advance(Duration.ofSeconds(9));
      pool.housekeep();
      assertThat(pool.snapshot().ready()).isEqualTo(4);
      ticker.advance(Duration.ofSeconds(1));
      pool.housekeep();
      assertThat(pool.snapshot().ready()).isZero();
      assertThat(shrinks).hasSize(4).allSatisfy(s -> assertThat(s)
          .isInstanceOfSatisfying(PoolEvent.RunnerRetired.class,
              r -> assertThat(r.reason()).isEqualTo(PoolEvent.RetireReason.IDLE)));
    }
  }

  @Test
  void minRunnersStayUnlessMinIdleShutdownIsSet() throws Exception {
    FakeTicker ticker = new FakeTicker();
    try (ElasticPool pool =
        ElasticPool.builder().backend(local()).min(1).max(3).ticker(ticker)
            .idleShutdownAfter(Duration.ofSeconds(10))
            .minIdleShutdownAfter(Duration.ofSeconds(100))
            .housekeepingInterval(MANUAL).build()) {
      await().until(() -> pool.snapshot().ready() == 1);
      ticker.advance(Duration.ofSeconds(50));
      pool.housekeep();
      assertThat(pool.snapshot().ready()).isEqualTo(1);
      ticker.advance(Duration.ofSeconds(50));
      pool.housekeep();
      assertThat(pool.snapshot().ready()).isZero();
      // Idled out, it is not booted again until a call needs it.
      for (int i = 0; i < 3; i++) {
        ticker.advance(Duration.ofSeconds(50));
        pool.housekeep();
      }
      assertThat(pool.snapshot().booting()).isZero();
      assertThat(pool.snapshot().boots()).isEqualTo(1);
      assertThat(pool.call("echo", "demand", LONG)).isEqualTo("demand");
      assertThat(pool.snapshot().boots()).isEqualTo(2);
    }
  }

  @Test
  void theIdleCheckMustAgreeBeforeARunnerRetires() {
    FakeTicker ticker = new FakeTicker();
    java.util.concurrent.atomic.AtomicBoolean idle = new java.util.concurrent.atomic.AtomicBoolean();
    try (ElasticPool pool =
        ElasticPool.builder().backend(local()).min(0).max(1).ticker(ticker)
            .idleShutdownAfter(Duration.ofSeconds(1), id -> idle.get())
            .housekeepingInterval(MANUAL).build()) {
      pool.callAsync("echo", 1).join();
      ticker.advance(Duration.ofSeconds(2));
      pool.housekeep();
      assertThat(pool.snapshot().ready()).isEqualTo(1);
      idle.set(true);
      pool.housekeep();
      assertThat(pool.snapshot().ready()).isZero();
    }
  }

  @Test
  void aFailedBootIsRetriedAfterOneSecondOnlyWhileCallersWait() {
    FakeTicker ticker = new FakeTicker();
    ControlledBackend backend = new ControlledBackend();
    backend.failNextBoots.set(1_000);
    List<PoolEvent> events = new CopyOnWriteArrayList<>();
    try (ElasticPool pool =
        ElasticPool.builder().backend(backend).max(3).maxConcurrency(1).ticker(ticker)
            .eventListener(events::add).housekeepingInterval(MANUAL).build()) {
      CompletableFuture<Object> a = pool.callAsync("echo", "a", Duration.ofSeconds(5));
      CompletableFuture<Object> b = pool.callAsync("echo", "b", Duration.ofSeconds(5));
      await().until(() -> pool.snapshot().bootFailures() >= 1 && pool.snapshot().booting() == 0);
      long attempts = backend.bootAttempts.get();
      pool.housekeep();
      assertThat(backend.bootAttempts.get()).isEqualTo(attempts); // not before 1 s
      ticker.advance(Duration.ofSeconds(1));
      pool.housekeep();
      await().until(() -> backend.bootAttempts.get() == attempts + 1); // one boot at a time
      await().until(() -> pool.snapshot().booting() == 0);
      ticker.advance(Duration.ofSeconds(5));
      pool.housekeep();
      Throwable timeout = failureOf(a);
      assertThat(timeout).isInstanceOf(CallTimeoutException.class);
      assertThat(timeout.getCause()).isInstanceOf(RunnerBootException.class)
          .hasRootCauseMessage("boot refused by test for pool-" + backend.bootAttempts.get());
      assertThat(failureOf(b)).isInstanceOf(CallTimeoutException.class);
      long afterWaiters = backend.bootAttempts.get();
      ticker.advance(Duration.ofSeconds(5));
      pool.housekeep();
      assertThat(backend.bootAttempts.get()).isEqualTo(afterWaiters); // nobody waits: no retry
      assertThat(events).filteredOn(e -> e instanceof PoolEvent.BootFailed).isNotEmpty();
    }
  }

  @Test
  void aRunnerDeathFailsItsCallsAtOnceAndThePoolRecovers() throws Exception {
    ControlledBackend backend = new ControlledBackend();
    List<PoolEvent.Shrink> shrinks = new CopyOnWriteArrayList<>();
    try (ElasticPool pool =
        ElasticPool.builder().backend(backend).min(1).max(1).maxConcurrency(5)
            .onShrink(shrinks::add).build()) {
      List<CompletableFuture<Object>> calls = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        calls.add(pool.callAsync("gate", "never", LONG));
      }
      await().until(() -> pool.snapshot().busySlots() == 3);
      backend.booted.get(0).die();
      for (CompletableFuture<Object> call : calls) {
        assertThat(failureOf(call)).isInstanceOf(RunnerDiedException.class);
      }
      await().until(() -> pool.snapshot().ready() == 1); // below min: another boots
      assertThat(pool.snapshot().deaths()).isEqualTo(1);
      assertThat(pool.call("echo", "after")).isEqualTo("after");
      assertThat(shrinks).hasSize(1).first().isInstanceOf(PoolEvent.RunnerDied.class);
    }
  }

  @Test
  void anExceptionOnTheRunnerReachesTheCallerAsTheCause() {
    try (ElasticPool pool = ElasticPool.builder().backend(local()).build()) {
      assertThatThrownBy(() -> pool.call("fail", "q3"))
          .isInstanceOf(CallFailedException.class)
          .cause()
          .isInstanceOf(IllegalStateException.class)
          .hasMessage("no such report: q3");
    }
  }

  @Test
  void aDeadlinePassedWhileRunningCancelsTheWorkOnTheRunner() {
    try (ElasticPool pool = ElasticPool.builder().backend(local()).max(1).maxConcurrency(1).build()) {
      assertThatThrownBy(() -> pool.call("gate", "slow", Duration.ofMillis(100)))
          .isInstanceOfSatisfying(CallTimeoutException.class, e -> assertThat(e.started()).isTrue());
      // Cancelled either while running (interrupted) or before its thread entered the function
      // (then it never runs): both mean the work on the runner was cancelled.
      await().until(() -> TestFunctions.interrupted("slow").getCount() == 0
          || TestFunctions.started("slow").getCount() == 1 && pool.snapshot().busySlots() == 0);
      await().until(() -> pool.snapshot().busySlots() == 0);
    }
  }

  @Test
  void anAsyncCallFarFromItsDeadlineGetsNoTimerYetStillTimesOutAtItsDeadline() throws Exception {
    FakeTicker ticker = new FakeTicker();
    // Sweeps only when the test calls housekeep(): the sweep interval is far longer than the test.
    try (ElasticPool pool =
        ElasticPool.builder().backend(local()).max(1).maxConcurrency(1).ticker(ticker)
            .housekeepingInterval(Duration.ofHours(1)).build()) {
      var timers = ((java.util.concurrent.ScheduledThreadPoolExecutor) pool.scheduler).getQueue();
      int housekeepingOnly = timers.size();
      CompletableFuture<Object> call = pool.callAsync("gate", "far", Duration.ofHours(10));
      assertThat(TestFunctions.started("far").await(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
      assertThat(timers).as("no timer while the deadline is 10 h away").hasSize(housekeepingOnly);

      ticker.advance(Duration.ofHours(7));
      pool.housekeep();
      assertThat(timers).as("3 h left: still beyond two sweeps").hasSize(housekeepingOnly);
      assertThat(call).isNotDone();

      ticker.advance(Duration.ofHours(2));
      pool.housekeep();
      assertThat(timers).as("1 h left: the sweep armed its timer").hasSize(housekeepingOnly + 1);
      assertThat(call).isNotDone();

      ticker.advance(Duration.ofHours(1).plusNanos(1));
      pool.housekeep(); // the deadline has passed: the sweep itself expires it
      assertThat(failureOf(call)).isInstanceOfSatisfying(
          CallTimeoutException.class, e -> assertThat(e.started()).isTrue());
      // the work was cancelled on the runner
      assertThat(TestFunctions.interrupted("far").await(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
      await().until(() -> pool.snapshot().busySlots() == 0);
    }
  }

  @Test
  void anAsyncCallWithATimeoutWithinTwoSweepsGetsItsTimerAtOnce() throws Exception {
    FakeTicker ticker = new FakeTicker();
    try (ElasticPool pool =
        ElasticPool.builder().backend(local()).max(1).maxConcurrency(1).ticker(ticker)
            .housekeepingInterval(Duration.ofHours(1)).build()) {
      var timers = ((java.util.concurrent.ScheduledThreadPoolExecutor) pool.scheduler).getQueue();
      int housekeepingOnly = timers.size();
      // Boot the runner first: its boot timeout is a timer too, until the boot has ended.
      assertThat(pool.call("echo", "warm", LONG)).isEqualTo("warm");
      await().until(() -> timers.size() == housekeepingOnly);
      CompletableFuture<Object> call = pool.callAsync("gate", "near", Duration.ofMinutes(90));
      assertThat(timers).hasSize(housekeepingOnly + 1);
      TestFunctions.gate("near").countDown();
      assertThat(call.get(30, java.util.concurrent.TimeUnit.SECONDS)).isEqualTo("near");
      await().until(() -> timers.size() == housekeepingOnly); // cancelled with the call's end
    }
  }

  @Test
  void castHoldsItsSlotUntilDone() throws Exception {
    try (ElasticPool pool = ElasticPool.builder().backend(local()).max(1).maxConcurrency(1).build()) {
      pool.cast("gate", "cast");
      await().until(() -> pool.snapshot().busySlots() == 1);
      CompletableFuture<Object> next = pool.callAsync("echo", "next", LONG);
      assertThat(pool.snapshot().waiters()).isEqualTo(1);
      TestFunctions.gate("cast").countDown();
      assertThat(next.get(10, TimeUnit.SECONDS)).isEqualTo("next");
    }
  }

  @Test
  void aPlacedChildKeepsItsRunnerFromIdlingOut() throws Exception {
    FakeTicker ticker = new FakeTicker();
    try (ElasticPool pool =
        ElasticPool.builder().backend(local()).max(1).ticker(ticker)
            .idleShutdownAfter(Duration.ofSeconds(1)).housekeepingInterval(MANUAL).build()) {
      PlacedChild child = pool.placeChild("gate", "child");
      assertThat(child.runnerId()).isEqualTo("pool-1");
      // Cancel only once the child runs: a child cancelled before its thread starts is never run,
      // and would never report the interrupt this test waits for.
      assertThat(TestFunctions.started("child").await(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
      ticker.advance(Duration.ofSeconds(10));
      pool.housekeep();
      assertThat(pool.snapshot().ready()).isEqualTo(1);
      assertThat(pool.snapshot().busySlots()).isEqualTo(1);
      child.cancel();
      assertThat(failureOf(child.completion())).isInstanceOf(CancellationException.class);
      await().until(() -> TestFunctions.interrupted("child").getCount() == 0);
      await().until(() -> pool.snapshot().busySlots() == 0);
      ticker.advance(Duration.ofSeconds(2));
      pool.housekeep();
      assertThat(pool.snapshot().ready()).isZero();
    }
  }

  @Test
  void resizeGrowingBootsRunners() {
    try (ElasticPool pool = ElasticPool.builder().backend(local()).min(0).max(1).build()) {
      pool.resize(3, 4);
      await().until(() -> pool.snapshot().ready() == 3);
      assertThat(pool.snapshot().min()).isEqualTo(3);
      assertThat(pool.snapshot().max()).isEqualTo(4);
    }
  }

  @Test
  void resizeShrinkingRetiresIdleRunnersFirstAndBusyOnesWhenTheyFinish() throws Exception {
    List<PoolEvent.Shrink> shrinks = new CopyOnWriteArrayList<>();
    try (ElasticPool pool =
        ElasticPool.builder().backend(local()).min(3).max(3).maxConcurrency(1)
            .onShrink(shrinks::add).build()) {
      await().until(() -> pool.snapshot().ready() == 3);
      pool.callAsync("gate", "a", LONG);
      pool.callAsync("gate", "b", LONG);
      await().until(() -> pool.snapshot().busySlots() == 2);
      pool.resize(0, 1);
      // The idle runner and one busy runner go: the idle one at once, the busy one drains.
      PoolSnapshot snapshot = pool.snapshot();
      assertThat(snapshot.ready()).isEqualTo(1);
      assertThat(snapshot.draining()).isEqualTo(1);
      assertThat(shrinks).hasSize(1);
      CompletableFuture<Object> queued = pool.callAsync("echo", "queued", LONG);
      assertThat(pool.snapshot().waiters()).isEqualTo(1);
      TestFunctions.gate("a").countDown();
      TestFunctions.gate("b").countDown();
      assertThat(queued.get(10, TimeUnit.SECONDS)).isEqualTo("queued");
      await().until(() -> pool.snapshot().draining() == 0);
      assertThat(pool.snapshot().ready()).isEqualTo(1);
      assertThat(shrinks).hasSize(2).allSatisfy(s -> assertThat(((PoolEvent.RunnerRetired) s).reason())
          .isEqualTo(PoolEvent.RetireReason.RESIZE));
    }
  }

  @Test
  void singleUseRunnersRunOneCallEach() throws Exception {
    try (ElasticPool pool = ElasticPool.builder().backend(local()).max(2).singleUse(true).build()) {
      for (int i = 0; i < 3; i++) {
        assertThat(pool.call("echo", i)).isEqualTo(i);
      }
      assertThat(pool.snapshot().boots()).isEqualTo(3);
      await().until(() -> pool.snapshot().ready() == 0 && pool.snapshot().draining() == 0);
    }
  }

  @Test
  void inARunnerJvmMinIsForcedToZero() {
    ControlledBackend backend = new ControlledBackend();
    try (ElasticPool pool =
        ElasticPool.builder().backend(backend).min(2).max(2)
            .environment(java.util.Map.of(RunnerEnvironment.PARENT, "127.0.0.1:9")).build()) {
      pool.housekeep();
      assertThat(pool.snapshot().min()).isZero();
      assertThat(backend.bootAttempts.get()).isZero();
    }
  }

  @Test
  void hooksAndEventsReportGrowthAndShrinking() throws Exception {
    FakeTicker ticker = new FakeTicker();
    List<PoolEvent> events = new CopyOnWriteArrayList<>();
    List<PoolEvent.BootStarted> growStarts = new CopyOnWriteArrayList<>();
    List<PoolEvent.GrowResult> growEnds = new CopyOnWriteArrayList<>();
    try (ElasticPool pool =
        ElasticPool.builder().name("hooks").backend(local()).max(1).ticker(ticker)
            .idleShutdownAfter(Duration.ofSeconds(1)).housekeepingInterval(MANUAL)
            .onGrowStart(growStarts::add).onGrowEnd(growEnds::add).eventListener(events::add)
            .build()) {
      pool.call("echo", 1);
      ticker.advance(Duration.ofSeconds(1));
      pool.housekeep();
      await().until(() -> events.size() == 3);
      assertThat(growStarts).containsExactly(new PoolEvent.BootStarted("hooks", "hooks-1", 1));
      assertThat(growEnds).singleElement().isInstanceOfSatisfying(
          PoolEvent.BootSucceeded.class, e -> assertThat(e.count()).isEqualTo(1));
      assertThat(events.get(2)).isEqualTo(
          new PoolEvent.RunnerRetired("hooks", "hooks-1", 0, PoolEvent.RetireReason.IDLE));
      assertThat(pool.snapshot().boots()).isEqualTo(1);
    }
  }

  /**
   * README: "Hooks, listeners and backends are never called under the pool's lock." Every hook,
   * the listener and every backend and runner method records whether the pool's lock is held.
   */
  @Test
  void hooksListenersAndTheBackendAreNeverCalledUnderThePoolsLock() throws Exception {
    FakeTicker ticker = new FakeTicker();
    AtomicReference<ElasticPool> self = new AtomicReference<>();
    List<String> called = new CopyOnWriteArrayList<>();
    List<String> underLock = new CopyOnWriteArrayList<>();
    java.util.function.Consumer<String> check =
        what -> {
          called.add(what);
          ElasticPool pool = self.get();
          if (pool != null && pool.lock.isHeldByCurrentThread()) {
            underLock.add(what);
          }
        };
    Backend backend =
        new ForwardingBackend(local()) {
          @Override
          public @Nullable Object prepare(String function, @Nullable Object argument) {
            check.accept("prepare");
            return super.prepare(function, argument);
          }

          @Override
          public RunnerHandle boot(RunnerSpec spec, RunnerListener listener) throws Exception {
            check.accept("boot");
            RunnerHandle handle = super.boot(spec, listener);
            return new RunnerHandle() {
              @Override
              public String id() {
                return handle.id();
              }

              @Override
              public RunningCall start(String function, @Nullable Object argument, Duration timeout) {
                check.accept("start");
                return handle.start(function, argument, timeout);
              }

              @Override
              public void shutdown(Duration timeout) {
                check.accept("shutdown");
                handle.shutdown(timeout);
              }

              @Override
              public void kill() {
                check.accept("kill");
                handle.kill();
              }
            };
          }
        };
    try (ElasticPool pool =
        ElasticPool.builder().name("unlocked").backend(backend).max(1).ticker(ticker)
            .idleShutdownAfter(Duration.ofSeconds(1)).housekeepingInterval(MANUAL)
            .onGrowStart(e -> check.accept("onGrowStart"))
            .onGrowEnd(e -> check.accept("onGrowEnd"))
            .onShrink(e -> check.accept("onShrink"))
            .eventListener(e -> check.accept("listener"))
            .build()) {
      self.set(pool);
      assertThat(pool.call("echo", 1)).isEqualTo(1);
      ticker.advance(Duration.ofSeconds(1));
      pool.housekeep();
      await().until(() -> called.contains("onShrink") && called.contains("shutdown"));
    }
    assertThat(called).contains(
        "prepare", "boot", "start", "shutdown", "onGrowStart", "onGrowEnd", "onShrink", "listener");
    assertThat(underLock).isEmpty();
  }

  @Test
  void closeLetsRunningCallsFinish() throws Exception {
    ElasticPool pool = ElasticPool.builder().backend(local()).max(1).build();
    CompletableFuture<Object> running = pool.callAsync("gate", "drain", LONG);
    await().until(() -> pool.snapshot().busySlots() == 1);
    Thread closer = Thread.ofVirtual().start(pool::close);
    await().untilAsserted(
        () -> assertThatThrownBy(() -> pool.callAsync("echo", 1)).isInstanceOf(IllegalStateException.class));
    assertThat(running).isNotDone();
    TestFunctions.gate("drain").countDown();
    closer.join();
    assertThat(running.get()).isEqualTo("drain");
  }

  @Test
  void closeKillsWhatIsStillRunningAfterTheShutdownTimeout() {
    ElasticPool pool =
        ElasticPool.builder().backend(local()).max(1).maxConcurrency(1)
            .shutdownTimeout(Duration.ofMillis(100)).build();
    CompletableFuture<Object> running = pool.callAsync("gate", "forever", LONG);
    CompletableFuture<Object> waiting = pool.callAsync("echo", "late", LONG);
    await().until(() -> pool.snapshot().busySlots() == 1);
    pool.close();
    assertThat(failureOf(running)).isInstanceOf(RunnerDiedException.class);
    assertThat(failureOf(waiting)).isInstanceOf(PoolClosedException.class);
  }

  @Test
  void aCallAfterCloseIsAnIllegalStateException() {
    ElasticPool pool = ElasticPool.builder().name("done").backend(local()).build();
    pool.close();
    assertThatThrownBy(() -> pool.call("echo", 1))
        .isInstanceOf(IllegalStateException.class).hasMessage("pool done is closed");
    assertThatThrownBy(() -> pool.callAsync("echo", 1)).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> pool.cast("echo", 1)).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> pool.resize(0, 1)).isInstanceOf(IllegalStateException.class);
    pool.close(); // idempotent
  }
}
