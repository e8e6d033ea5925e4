package dev.shepherd.watch;

import static dev.shepherd.watch.TestAwait.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.core.Ticker;
import dev.shepherd.testing.FakeTicker;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.IntStream;
import java.util.stream.LongStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The loop is paced against an upstream that answers at once without progress, never after real
 * progress, and reports recovery in order.
 */
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
    // The first answer is a new index (0 to 5), so the second fetch follows at once; it brings
    // no new index, and from then on the loop fetches once per interval.
    await().until(() -> fetches.get() >= 2);
    for (int i = 1; i <= 5; i++) {
      ticker.advance(Duration.ofMillis(100));
      int expected = i + 2;
      await().until(() -> fetches.get() >= expected);
    }
    // Time stands still on the fake ticker: an unpaced loop would have fetched thousands of times.
    assertThat(fetches.get()).isEqualTo(7);
  }

  @Test
  void aBurstOfRealChangesIsFollowedFetchAfterFetchWithoutPacing() {
    ScriptedSource source = new ScriptedSource();
    CountingTicker counting = new CountingTicker(ticker);
    // An interval of an hour on a ticker that never moves: a single paced fetch would stall
    // the burst for good.
    watcher = Watcher.builder(source).ticker(counting).minFetchInterval(Duration.ofHours(1))
        .bufferPolicy(BufferPolicy.newest(100)).build();
    RecordingSink<String> sink = new RecordingSink<>();
    for (int i = 1; i <= 20; i++) {
      source.answer("v" + i, i); // each fetch finds the next change already there
    }
    watcher.watch("k", "c", sink);
    await().until(() -> source.fetches() == 21 && source.inFlight.get() == 1);
    await().until(() -> sink.values().size() == 20);
    assertThat(sink.values()).containsExactlyElementsOf(
        IntStream.rangeClosed(1, 20).mapToObj(i -> "v" + i).toList());
    assertThat(sink.indexes()).isSorted();
    assertThat(source.calls).extracting(ScriptedSource.Call::minIndex)
        .containsExactlyElementsOf(LongStream.rangeClosed(0, 20).boxed().toList());

    // The same index again (the wait ended without a change, or the server ignores the index):
    // the next fetch waits for the interval.
    source.answer("v20", 20);
    assertPacedThenFollowed(source, counting, 22);
    // An index that went backwards is delivered (the upstream was reset), but is no progress:
    // paced as well, so an upstream whose index keeps jumping back is not spun.
    source.answer("reset", 3);
    assertPacedThenFollowed(source, counting, 23);
    assertThat(sink.values()).endsWith("v20", "reset");
    assertThat(source.calls.get(22).minIndex()).isEqualTo(3L);
    // Progress after that is followed at once again.
    source.answer("v4", 4);
    await().until(() -> source.fetches() == 24 && source.inFlight.get() == 1);
    assertThat(source.calls.get(23).minIndex()).isEqualTo(4L);
  }

  @Test
  void aFailureAtOnceIsPacedLikeAnAnswerWithoutProgress() {
    ScriptedSource source = new ScriptedSource();
    CountingTicker counting = new CountingTicker(ticker);
    watcher = Watcher.builder(source).ticker(counting).minFetchInterval(Duration.ofHours(1))
        .backoff(failures -> Duration.ZERO).build();
    watcher.watch("k", "c", new RecordingSink<>());
    source.answer("v1", 1);
    await().until(() -> source.fetches() == 2 && source.inFlight.get() == 1);
    source.fail(new IOException("refused at once"));
    assertPacedThenFollowed(source, counting, 3);
  }

  /**
   * Asserts that the loop waits on the ticker instead of fetching (it reads the ticker again and
   * again while the fetch count stays where it is), then advances the ticker by the interval and
   * awaits the fetch. A loop that did not pace would be blocked in the next fetch, not reading
   * the ticker.
   */
  private void assertPacedThenFollowed(ScriptedSource source, CountingTicker counting,
      int nextFetch) {
    long readsBefore = counting.reads.get();
    await().until(() -> counting.reads.get() >= readsBefore + 20);
    assertThat(source.fetches()).isEqualTo(nextFetch - 1);
    ticker.advance(Duration.ofHours(1));
    await().until(() -> source.fetches() == nextFetch && source.inFlight.get() == 1);
  }

  /** Counts reads of a fake ticker: a loop that waits on it reads it every few milliseconds. */
  private static final class CountingTicker implements Ticker {
    final AtomicLong reads = new AtomicLong();
    private final FakeTicker delegate;

    CountingTicker(FakeTicker delegate) {
      this.delegate = delegate;
    }

    @Override
    public long read() {
      reads.incrementAndGet();
      return delegate.read();
    }
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
