package dev.shepherd.watch;

import static dev.shepherd.watch.TestAwait.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.testing.FakeTicker;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The loop is paced against an upstream that answers at once, and reports recovery in order. */
class PacingAndOrderTest {

  private final FakeTicker ticker = new FakeTicker();
  private Watcher<String> watcher;

  @AfterEach
  void close() {
    if (watcher != null) {
      watcher.close();
    }
  }

  @Test
  void anUpstreamThatAnswersAtOnceIsPacedInsteadOfSpun() {
    AtomicInteger fetches = new AtomicInteger();
    // Answers at once, always the same index: a server that ignores the blocking index.
    WatchSource<String> eager = (key, minIndex, maxWait) -> {
      fetches.incrementAndGet();
      return Versioned.of("v", 5);
    };
    watcher = Watcher.builder(eager).ticker(ticker).minFetchInterval(Duration.ofMillis(100)).build();
    assertThat(watcher.config().minFetchInterval()).isEqualTo(Duration.ofMillis(100));
    watcher.watch("k", "c", event -> {});
    await().until(() -> fetches.get() >= 1);
    for (int i = 1; i <= 5; i++) {
      ticker.advance(Duration.ofMillis(100));
      int expected = i + 1;
      await().until(() -> fetches.get() >= expected);
    }
    // Time stands still on the fake ticker: an unpaced loop would have fetched thousands of times.
    assertThat(fetches.get()).isEqualTo(6);
  }

  @Test
  void aFetchThatBlockedLongerThanTheIntervalIsFollowedAtOnce() {
    ScriptedSource source = new ScriptedSource();
    watcher = Watcher.builder(source).ticker(ticker).minFetchInterval(Duration.ofMillis(100)).build();
    RecordingSink<String> sink = new RecordingSink<>();
    watcher.watch("k", "c", sink);
    await().until(() -> source.fetches() == 1);
    source.answer("v1", 1);
    ticker.advance(Duration.ofMillis(100)); // the first answer came at once: the next one waits
    await().until(() -> source.fetches() == 2 && source.inFlight.get() == 1);
    ticker.advance(Duration.ofMillis(200)); // this fetch blocks 200 ms, then a change arrives
    source.answer("v2", 2);
    await().until(() -> sink.values().contains("v2"));
    await().until(() -> source.fetches() == 3); // at once: no pacing after a blocking fetch
    assertThat(source.calls.get(2).minIndex()).isEqualTo(2L);
  }

  @Test
  void recoveredComesBeforeTheUpdateOfTheFetchThatRecoveredWithStalenessFromThatFetch() {
    ScriptedSource source = new ScriptedSource();
    watcher = Watcher.builder(source).ticker(ticker).minFetchInterval(Duration.ZERO)
        .backoff(failures -> Duration.ZERO).failingThreshold(Duration.ofSeconds(10)).build();
    RecordingSink<String> sink = new RecordingSink<>();
    watcher.watch("k", "c", sink);
    await().until(() -> source.fetches() == 1);
    source.answer("v1", 1);
    await().until(() -> source.fetches() == 2);
    source.fail(new IOException("down"));
    await().until(() -> source.fetches() == 3);
    ticker.advance(Duration.ofSeconds(60)); // a minute-long outage
    source.fail(new IOException("still down"));
    await().until(() -> sink.events.stream().anyMatch(e -> e instanceof WatchEvent.Failing));
    await().until(() -> source.fetches() == 4);
    source.answer("v2", 2);
    await().until(() -> sink.events.size() == 4);
    assertThat(sink.events).map(e -> e.getClass().getSimpleName())
        .containsExactly("Update", "Failing", "Recovered", "Update");
    WatchEvent.Update<String> recovered = sink.updates().get(1);
    assertThat(recovered.value()).isEqualTo("v2");
    // Measured from the fetch that brought it, not from the last success before the outage.
    assertThat(recovered.sinceLastSuccess()).isLessThan(Duration.ofSeconds(60));
  }
}
