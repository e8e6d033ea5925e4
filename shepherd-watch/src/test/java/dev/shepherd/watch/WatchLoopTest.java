package dev.shepherd.watch;

import static org.assertj.core.api.Assertions.assertThat;
import static dev.shepherd.watch.TestAwait.await;

import dev.shepherd.core.Backoff;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The loop exactly as Consul's Notify (seed 002): requirements 1 and 2. */
class WatchLoopTest {

  private final ScriptedSource source = new ScriptedSource();
  private final List<Integer> backoffCalls = new CopyOnWriteArrayList<>();
  private final RecordingSink<String> sink = new RecordingSink<>();
  private Watcher<String> watcher = Watcher.builder(source)
      .backoff(failures -> {
        backoffCalls.add(failures);
        return Duration.ZERO;
      })
      .build();

  @AfterEach
  void closeWatcher() {
    watcher.close();
  }

  private void awaitFetches(int n) {
    await().until(() -> source.fetches() >= n && source.inFlight.get() == 1);
  }

  @Test
  void firstFetchUsesIndexZeroAndDeliversTheCurrentValue() {
    watcher.watch("k", "c", sink);
    awaitFetches(1);
    assertThat(source.calls.get(0).minIndex()).isZero();
    source.answer("v1", 7);
    await().until(() -> sink.values().equals(List.of("v1")));
    assertThat(sink.indexes()).containsExactly(7L);
    awaitFetches(2);
    assertThat(source.calls.get(1).minIndex()).isEqualTo(7L);
  }

  @Test
  void deliversOnlyWhenTheIndexGrows() {
    watcher.watch("k", "c", sink);
    awaitFetches(1);
    source.answer("v1", 5);
    awaitFetches(2);
    source.answer("v1", 5); // wait timed out, nothing changed
    awaitFetches(3);
    source.answer("v2", 6);
    awaitFetches(4);
    source.answer("v2", 6);
    awaitFetches(5);
    assertThat(sink.values()).containsExactly("v1", "v2");
    assertThat(source.calls.stream().map(ScriptedSource.Call::minIndex))
        .containsExactly(0L, 5L, 5L, 6L, 6L);
  }

  @Test
  void passesTheConfiguredMaxWaitToEveryFetch() {
    watcher.close();
    watcher = Watcher.builder(source).maxWait(Duration.ofSeconds(42)).build();
    watcher.watch("k", "c", sink);
    awaitFetches(1);
    assertThat(source.calls.get(0).maxWait()).isEqualTo(Duration.ofSeconds(42));
  }

  @Test
  void afterAFailureTheNextFetchStillBlocksButOnlyForTheRecoveryWait() {
    watcher.close();
    watcher = Watcher.builder(source).backoff(f -> Duration.ZERO)
        .maxWait(Duration.ofMinutes(5)).recoveryWait(Duration.ofSeconds(2)).build();
    watcher.watch("k", "c", sink);
    awaitFetches(1);
    source.answer("v1", 4);
    awaitFetches(2);
    source.fail(new IOException("down"));
    awaitFetches(3);
    source.answer("v1", 4);
    awaitFetches(4);
    assertThat(source.calls).extracting(ScriptedSource.Call::maxWait).containsExactly(
        Duration.ofMinutes(5), Duration.ofMinutes(5), Duration.ofSeconds(2), Duration.ofMinutes(5));
    assertThat(source.calls.get(2).minIndex()).isEqualTo(4L);
  }

  @Test
  void keepsTheIndexAtLeastOneSoEveryLaterFetchBlocks() {
    watcher.watch("k", "c", sink);
    awaitFetches(1);
    source.fail(new IOException("down")); // a failure before any success keeps index 0
    awaitFetches(2);
    source.answer("v1", 1);
    awaitFetches(3);
    source.answer("v1", 1);
    awaitFetches(4);
    assertThat(source.calls.stream().map(ScriptedSource.Call::minIndex))
        .containsExactly(0L, 0L, 1L, 1L);
    assertThat(sink.values()).containsExactly("v1");
  }

  @Test
  void anIndexThatGoesBackwardsRestartsFromZeroAndDelivers() {
    watcher.watch("k", "c", sink);
    awaitFetches(1);
    source.answer("before-reset", 900);
    awaitFetches(2);
    source.answer("after-reset", 3);
    await().until(() -> sink.values().size() == 2);
    assertThat(sink.values()).containsExactly("before-reset", "after-reset");
    assertThat(sink.indexes()).containsExactly(900L, 3L);
    awaitFetches(3);
    assertThat(source.calls.get(2).minIndex()).isEqualTo(3L);
  }

  @Test
  void anErrorIsAFailureThatBacksOffAndASuccessResetsTheCount() {
    watcher.watch("k", "c", sink);
    awaitFetches(1);
    source.fail(new IOException("1"));
    awaitFetches(2);
    source.fail(new IOException("2"));
    awaitFetches(3);
    source.answer("v", 4);
    awaitFetches(4);
    source.fail(new IOException("3"));
    awaitFetches(5);
    assertThat(backoffCalls).containsExactly(1, 2, 1);
  }

  @Test
  void aZeroIndexIsAFailure() {
    Subscription<String> sub = watcher.watch("k", "c", sink);
    awaitFetches(1);
    source.answer("bad", 0);
    awaitFetches(2);
    assertThat(backoffCalls).containsExactly(1);
    assertThat(sub.lastError()).containsInstanceOf(ZeroIndexException.class);
    assertThat(sub.consecutiveFailures()).isEqualTo(1);
    assertThat(sink.events).isEmpty();
    assertThat(source.calls.get(1).minIndex()).isZero();
  }

  @Test
  void theDefaultBackoffIsConsuls() {
    Backoff consul = Backoff.consul(() -> 0.0);
    assertThat(consul.delay(3)).isZero();
    assertThat(consul.delay(4)).isEqualTo(Duration.ofSeconds(1));
    assertThat(Watcher.builder(source).build().toString()).contains("graceFailures=3");
  }

  @Test
  void closeCancelsABlockingFetchPromptly() {
    Subscription<String> sub = watcher.watch("k", "c", sink);
    awaitFetches(1);
    sub.close();
    await().until(() -> source.interrupted.get() == 1 && source.released.equals(List.of("k")));
    assertThat(watcher.watchedKeys()).isEmpty();
    assertThat(source.inFlight.get()).isZero();
  }

  @Test
  void closeCancelsABackoffWaitPromptly() {
    watcher.close();
    watcher = Watcher.builder(source).backoff(Backoff.fixed(Duration.ofHours(1))).build();
    Subscription<String> sub = watcher.watch("k", "c", sink);
    awaitFetches(1);
    source.fail(new IOException("down"));
    await().until(() -> sub.consecutiveFailures() == 1); // now waiting an hour
    sub.close();
    await().until(() -> source.released.equals(List.of("k")));
    assertThat(source.fetches()).isEqualTo(1);
  }

  @Test
  void noEventIsDeliveredAfterCloseReturns() throws Exception {
    InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
    try (Watcher<java.util.Optional<String>> w = Watcher.builder(store).build()) {
      for (int round = 0; round < 200; round++) {
        java.util.concurrent.atomic.AtomicBoolean closed =
            new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.atomic.AtomicInteger late =
            new java.util.concurrent.atomic.AtomicInteger();
        Subscription<java.util.Optional<String>> sub = w.watch("k", "c", e -> {
          if (closed.get()) {
            late.incrementAndGet();
          }
        });
        Thread writer = Thread.ofVirtual().start(() -> {
          for (int i = 0; i < 50; i++) {
            store.put("k", "v" + i);
          }
        });
        sub.close();
        closed.set(true);
        writer.join();
        assertThat(late.get()).as("events after close, round " + round).isZero();
      }
    }
  }
}
