package dev.shepherd.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.shepherd.testing.FakeTicker;
import java.time.Duration;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@link ElasticPoolBuilder#maxWaiters(int)}: past the bound a call is refused at once. */
class MaxWaitersTest {

  private static final Duration LONG = Duration.ofSeconds(30);

  @BeforeEach
  void reset() {
    TestFunctions.reset();
  }

  private static ElasticPoolBuilder onePoolSlot() {
    return ElasticPool.builder()
        .name("bounded")
        .backend(LocalBackend.of(new TestFunctions().create()))
        .max(1)
        .maxConcurrency(1)
        .maxWaiters(2);
  }

  private static Throwable failureOf(CompletableFuture<?> future) {
    try {
      future.join();
    } catch (CompletionException | CancellationException e) {
      return e instanceof CompletionException ? e.getCause() : e;
    }
    throw new AssertionError("expected " + future + " to fail");
  }

  /** Checks that an async call was refused before it returned, with the pool, bound and count. */
  private static void assertRefused(CompletableFuture<Object> call) {
    assertThat(call).isCompletedExceptionally();
    assertThat(failureOf(call))
        .isInstanceOfSatisfying(
            TooManyWaitersException.class,
            e -> {
              assertThat(e.maxWaiters()).isEqualTo(2);
              assertThat(e.waiting()).isEqualTo(2);
            })
        .hasMessageStartingWith(
            "pool bounded: \"record\" refused without queueing: 2 calls already wait for a runner"
                + " slot, maxWaiters is 2 (");
  }

  @Test
  void pastTheBoundACallFailsAtOnceAndWaitsAgainOnceTheWaitersRan() throws Exception {
    try (ElasticPool pool = onePoolSlot().build()) {
      for (String round : new String[] {"first", "second"}) {
        CompletableFuture<Object> blocker = pool.callAsync("gate", round, LONG);
        await().until(() -> pool.snapshot().busySlots() == 1);
        CompletableFuture<Object> a = pool.callAsync("record", round + "-a", LONG);
        CompletableFuture<Object> b = pool.callAsync("record", round + "-b", LONG);
        assertThat(pool.snapshot().waiters()).isEqualTo(2);

        assertRefused(pool.callAsync("record", round + "-refused", LONG));
        assertThatThrownBy(() -> pool.call("echo", 1, Duration.ofSeconds(5)))
            .isInstanceOf(TooManyWaitersException.class)
            .hasMessageContaining("\"echo\" refused without queueing");
        assertThatThrownBy(() -> pool.placeChild("gate", round + "-child", Duration.ofSeconds(5)))
            .isInstanceOf(TooManyWaitersException.class);
        assertThat(pool.snapshot().waiters()).isEqualTo(2);

        TestFunctions.gate(round).countDown();
        assertThat(blocker.join()).isEqualTo(round);
        assertThat(a.join()).isEqualTo(round + "-a");
        assertThat(b.join()).isEqualTo(round + "-b");
        assertThat(pool.snapshot().waiters()).isZero();
      }
      assertThat(TestFunctions.ORDER)
          .containsExactly("first-a", "first-b", "second-a", "second-b");
    }
  }

  @Test
  void aCancelledOrTimedOutWaiterFreesItsPlaceThoughItsEntryIsSkippedLater() {
    FakeTicker ticker = new FakeTicker();
    try (ElasticPool pool =
        onePoolSlot().ticker(ticker).housekeepingInterval(Duration.ofMillis(5)).build()) {
      CompletableFuture<Object> blocker = pool.callAsync("gate", "first", LONG);
      await().until(() -> pool.snapshot().busySlots() == 1);
      CompletableFuture<Object> expiring = pool.callAsync("record", "expiring", Duration.ofSeconds(1));
      CompletableFuture<Object> cancelled = pool.callAsync("record", "cancelled", LONG);
      assertRefused(pool.callAsync("record", "refused-1", LONG));

      // The cancelled entry stays in the deque until skipped; the bound reads the count.
      cancelled.cancel(true);
      assertThat(pool.snapshot().waiters()).isEqualTo(1);
      CompletableFuture<Object> afterCancel = pool.callAsync("record", "after-cancel", LONG);
      assertThat(afterCancel).isNotDone();
      assertRefused(pool.callAsync("record", "refused-2", LONG));

      ticker.advance(Duration.ofSeconds(2));
      assertThat(failureOf(expiring)).isInstanceOf(CallTimeoutException.class);
      await().until(() -> pool.snapshot().waiters() == 1);
      CompletableFuture<Object> afterTimeout = pool.callAsync("record", "after-timeout", LONG);
      assertThat(afterTimeout).isNotDone();
      assertRefused(pool.callAsync("record", "refused-3", LONG));

      TestFunctions.gate("first").countDown();
      assertThat(blocker.join()).isEqualTo("first");
      assertThat(afterCancel.join()).isEqualTo("after-cancel");
      assertThat(afterTimeout.join()).isEqualTo("after-timeout");
      assertThat(TestFunctions.ORDER).containsExactly("after-cancel", "after-timeout");
    }
  }
}
