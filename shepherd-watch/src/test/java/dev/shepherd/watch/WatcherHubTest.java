package dev.shepherd.watch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static dev.shepherd.watch.TestAwait.await;

import dev.shepherd.testing.FakeTicker;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The hub: requirements 3 to 6. */
class WatcherHubTest {

  private final ScriptedSource source = new ScriptedSource();
  private final FakeTicker ticker = new FakeTicker();
  private Watcher<String> watcher = Watcher.builder(source)
      .backoff(failures -> Duration.ZERO)
      .ticker(ticker)
      .minFetchInterval(Duration.ZERO) // pacing runs on the fake ticker; PacingAndOrderTest covers it
      .build();

  @AfterEach
  void closeWatcher() {
    watcher.close();
  }

  private void awaitFetches(int n) {
    await().until(() -> source.fetches() >= n && source.inFlight.get() >= 1);
  }

  @Test
  void subscriptionsOnDifferentKeysShareOneSinkAndEventsCarryTheirCorrelationId() {
    InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
    store.put("a", "1");
    store.put("b", "2");
    RecordingSink<Optional<String>> shared = new RecordingSink<>();
    try (Watcher<Optional<String>> w = Watcher.builder(store).build()) {
      w.watch("a", "for-a", shared);
      w.watch("b", "for-b", shared);
      await().until(() -> shared.events.size() == 2);
      assertThat(shared.updates()).extracting(u -> u.correlationId() + "=" + u.value().orElseThrow())
          .containsExactlyInAnyOrder("for-a=1", "for-b=2");
      assertThat(shared.updates()).extracting(WatchEvent::key).containsExactlyInAnyOrder("a", "b");
    }
  }

  @Test
  void allSubscriptionsOfAKeyShareOneUpstreamLoop() {
    List<RecordingSink<String>> sinks = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      RecordingSink<String> sink = new RecordingSink<>();
      sinks.add(sink);
      watcher.watch("k", "c" + i, sink);
    }
    awaitFetches(1);
    source.answer("v1", 3);
    awaitFetches(2);
    for (RecordingSink<String> sink : sinks) {
      await().until(() -> sink.values().equals(List.of("v1")));
    }
    assertThat(source.maxInFlight.get()).isEqualTo(1);
    assertThat(source.fetches()).isEqualTo(2);
    assertThat(watcher.subscriberCount("k")).isEqualTo(100);
  }

  @Test
  void theLoopStopsWhenTheLastSubscriptionClosesAndRestartsWithTheNextOne() {
    Subscription<String> first = watcher.watch("k", "1", new RecordingSink<>());
    Subscription<String> second = watcher.watch("k", "2", new RecordingSink<>());
    awaitFetches(1);
    first.close();
    assertThat(watcher.watchedKeys()).containsExactly("k");
    second.close();
    await().until(() -> source.released.equals(List.of("k")));
    assertThat(watcher.watchedKeys()).isEmpty();
    RecordingSink<String> sink = new RecordingSink<>();
    watcher.watch("k", "3", sink);
    await().until(() -> source.fetches() == 2);
    assertThat(source.calls.get(1).minIndex()).isZero();
  }

  @Test
  void aLateSubscriberGetsTheLatestValueAtOnceWithoutAnUpstreamQuery() {
    RecordingSink<String> early = new RecordingSink<>();
    watcher.watch("k", "early", early);
    awaitFetches(1);
    source.answer("v1", 3);
    awaitFetches(2);
    RecordingSink<String> late = new RecordingSink<>();
    Subscription<String> sub = watcher.watch("k", "late", late);
    await().until(() -> late.values().equals(List.of("v1")));
    assertThat(source.fetches()).isEqualTo(2);
    assertThat(sub.latest()).contains(new Versioned<>("v1", 3));
  }

  @Test
  void aSlowConsumerNeverSlowsTheLoopOrOthersAndIsToldHowManyUpdatesWereReplaced()
      throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    RecordingSink<String> slowSeen = new RecordingSink<>();
    watcher.watch("k", "slow", e -> {
      slowSeen.accept(e);
      try {
        release.await();
      } catch (InterruptedException ex) {
        Thread.currentThread().interrupt();
      }
    });
    RecordingSink<String> fast = new RecordingSink<>();
    watcher.watch("k", "fast", fast);
    for (int i = 1; i <= 10; i++) {
      awaitFetches(i);
      source.answer("v" + i, i);
      int expected = i;
      await().until(() -> fast.values().size() == expected);
    }
    // The slow sink is stuck on v1; v2..v9 were replaced by v10 in its one-slot buffer.
    assertThat(slowSeen.values()).containsExactly("v1");
    release.countDown();
    await().until(() -> slowSeen.values().size() == 2);
    assertThat(slowSeen.updates().get(1).value()).isEqualTo("v10");
    assertThat(slowSeen.updates().get(1).replaced()).isEqualTo(8L);
    assertThat(fast.updates()).allMatch(u -> u.replaced() == 0L);
  }

  @Test
  void aBufferOfNKeepsTheNewestNUpdates() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    RecordingSink<String> seen = new RecordingSink<>();
    RecordingSink<String> fast = new RecordingSink<>();
    watcher.watch("k", "fast", fast);
    watcher.watch("k", "slow", e -> {
      seen.accept(e);
      try {
        release.await();
      } catch (InterruptedException ex) {
        Thread.currentThread().interrupt();
      }
    }, BufferPolicy.newest(3));
    for (int i = 1; i <= 10; i++) {
      awaitFetches(i);
      source.answer("v" + i, i);
      int expected = i;
      await().until(() -> fast.values().size() == expected);
    }
    release.countDown();
    await().until(() -> seen.values().size() == 4);
    assertThat(seen.values()).containsExactly("v1", "v8", "v9", "v10");
    assertThat(seen.updates().get(1).replaced()).isEqualTo(6L);
    assertThat(seen.updates().get(2).replaced()).isZero();
  }

  @Test
  void everyEventCarriesTheTimeSinceTheLastSuccessfulFetch() {
    RecordingSink<String> first = new RecordingSink<>();
    watcher.watch("k", "1", first);
    awaitFetches(1);
    source.answer("v1", 3);
    await().until(() -> first.values().size() == 1);
    assertThat(first.updates().get(0).sinceLastSuccess()).isZero();
    ticker.advance(Duration.ofSeconds(40));
    RecordingSink<String> late = new RecordingSink<>();
    Subscription<String> sub = watcher.watch("k", "2", late);
    await().until(() -> late.values().size() == 1);
    assertThat(late.updates().get(0).sinceLastSuccess()).isEqualTo(Duration.ofSeconds(40));
    assertThat(sub.sinceLastSuccess()).isEqualTo(Duration.ofSeconds(40));
  }

  @Test
  void aSubscriptionExposesTheLastErrorAndFailureCountAndSignalsALongFailure() {
    RecordingSink<String> sink = new RecordingSink<>();
    Subscription<String> sub = watcher.watch("k", "c", sink);
    awaitFetches(1);
    source.answer("v1", 3);
    awaitFetches(2);
    IOException down = new IOException("connection refused");
    source.fail(down);
    awaitFetches(3);
    assertThat(sub.lastError()).contains(down);
    assertThat(sub.consecutiveFailures()).isEqualTo(1);
    assertThat(sub.isFailing()).isFalse();
    ticker.advance(Duration.ofSeconds(31)); // default threshold 30 s
    source.fail(down);
    awaitFetches(4);
    await().until(sub::isFailing);
    await().until(() -> sink.events.size() == 2);
    WatchEvent.Failing<String> failing = (WatchEvent.Failing<String>) sink.events.get(1);
    assertThat(failing.failures()).isEqualTo(2);
    assertThat(failing.lastError()).isSameAs(down);
    assertThat(failing.sinceLastSuccess()).isEqualTo(Duration.ofSeconds(31));
    source.answer("v1", 3);
    await().until(() -> sink.events.size() == 3);
    assertThat(sink.events.get(2)).isInstanceOf(WatchEvent.Recovered.class);
    assertThat(sub.isFailing()).isFalse();
    assertThat(sub.consecutiveFailures()).isZero();
    assertThat(sub.lastError()).isEmpty();
  }

  @Test
  void theFailingSignalFiresDuringALongBackoffWait() {
    watcher.close();
    watcher = Watcher.builder(source).ticker(ticker).minFetchInterval(Duration.ZERO)
        .backoff(failures -> Duration.ofMinutes(10))
        .failingThreshold(Duration.ofSeconds(5))
        .build();
    RecordingSink<String> sink = new RecordingSink<>();
    Subscription<String> sub = watcher.watch("k", "c", sink);
    awaitFetches(1);
    source.fail(new IOException("down"));
    await().until(() -> sub.consecutiveFailures() == 1);
    ticker.advance(Duration.ofSeconds(6));
    await().until(sub::isFailing);
    await().until(() -> sink.events.size() == 1);
    assertThat(sink.events.get(0)).isInstanceOf(WatchEvent.Failing.class);
    assertThat(source.fetches()).isEqualTo(1);
  }

  @Test
  void aSubscriberJoiningWhileFailingIsToldAtOnce() {
    watcher.close();
    watcher = Watcher.builder(source).ticker(ticker).minFetchInterval(Duration.ZERO).backoff(f -> Duration.ZERO)
        .failingThreshold(Duration.ZERO).build();
    watcher.watch("k", "first", new RecordingSink<>());
    awaitFetches(1);
    source.fail(new IOException("down"));
    awaitFetches(2);
    RecordingSink<String> late = new RecordingSink<>();
    watcher.watch("k", "late", late);
    await().until(() -> late.events.size() == 1);
    assertThat(late.events.get(0)).isInstanceOf(WatchEvent.Failing.class);
  }

  @Test
  void aThrowingSinkIsIsolatedAndTheLoopAndOthersGoOn() {
    RecordingSink<String> good = new RecordingSink<>();
    List<String> thrown = new java.util.concurrent.CopyOnWriteArrayList<>();
    Subscription<String> bad = watcher.watch("k", "bad", e -> {
      thrown.add(((WatchEvent.Update<String>) e).value());
      throw new IllegalStateException("sink bug");
    });
    watcher.watch("k", "good", good);
    for (int i = 1; i <= 3; i++) {
      awaitFetches(i);
      source.answer("v" + i, i);
      int expected = i;
      await().until(() -> good.values().size() == expected && thrown.size() == expected);
    }
    assertThat(bad.isClosed()).isFalse();
    assertThat(good.values()).containsExactly("v1", "v2", "v3");
  }

  @Test
  void closeFromInsideTheSinkReturnsAndStopsDelivery() throws Exception {
    CountDownLatch closed = new CountDownLatch(1);
    java.util.concurrent.atomic.AtomicReference<Subscription<String>> self =
        new java.util.concurrent.atomic.AtomicReference<>();
    RecordingSink<String> seen = new RecordingSink<>();
    self.set(watcher.watch("k", "c", e -> {
      seen.accept(e);
      self.get().close();
      closed.countDown();
    }));
    awaitFetches(1);
    source.answer("v1", 1);
    assertThat(closed.await(10, TimeUnit.SECONDS)).isTrue();
    await().until(() -> source.released.equals(List.of("k")));
    assertThat(seen.values()).containsExactly("v1");
  }

  @Test
  void closingTheWatcherClosesEverySubscriptionAndRefusesNewOnes() {
    Subscription<String> a = watcher.watch("a", "a", new RecordingSink<>());
    Subscription<String> b = watcher.watch("b", "b", new RecordingSink<>());
    awaitFetches(2);
    watcher.close();
    assertThat(a.isClosed()).isTrue();
    assertThat(b.isClosed()).isTrue();
    await().until(() -> source.released.size() == 2);
    assertThatThrownBy(() -> watcher.watch("c", "c", new RecordingSink<>()))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
  }
}
