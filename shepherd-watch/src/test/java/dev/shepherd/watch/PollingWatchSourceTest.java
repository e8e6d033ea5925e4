package dev.shepherd.watch;

import static dev.shepherd.watch.TestAwait.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.core.Ticker;
import dev.shepherd.testing.FakeTicker;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** Requirement 1, last sentence: a source that cannot block is polled at its max age. */
class PollingWatchSourceTest {

  private final FakeTicker ticker = new FakeTicker();
  private final AtomicReference<String> upstream = new AtomicReference<>("v1");

  private PollingWatchSource<String> source(double random) {
    return PollingWatchSource.<String>builder(key -> upstream.get())
        .maxAge(Duration.ofSeconds(16))
        .ticker(ticker)
        .random(() -> random)
        .build();
  }

  @Test
  void itsConfigResolvesTheStaggerFromTheMaximumAge() {
    PollingWatchSource.Config config = source(0).config();
    assertThat(config.maxAge()).isEqualTo(Duration.ofSeconds(16));
    assertThat(config.maxStagger()).isEqualTo(Duration.ofSeconds(1));
  }

  @Test
  void theFirstFetchReadsAtOnceWithAPositiveIndex() throws Exception {
    Versioned<String> first = source(0).fetch("k", 0, Duration.ofMinutes(5));
    assertThat(first.value()).isEqualTo("v1");
    assertThat(first.index()).isPositive();
  }

  @Test
  void theNextReadWaitsForMaxAgePlusStaggerAndKeepsTheIndexWhenUnchanged() throws Exception {
    PollingWatchSource<String> source = source(0.5); // stagger = 0.5 * 16 s / 16 = 0.5 s
    Versioned<String> first = source.fetch("k", 0, Duration.ofMinutes(5));
    AtomicReference<Versioned<String>> second = new AtomicReference<>();
    Thread t = Thread.ofVirtual().start(() -> {
      try {
        second.set(source.fetch("k", first.index(), Duration.ofMinutes(5)));
      } catch (Exception e) {
        throw new AssertionError(e);
      }
    });
    ticker.advance(Duration.ofSeconds(16));
    Thread.sleep(30); // not to pass: gives a wrong poller the chance to read early and fail
    assertThat(source.readCount()).isEqualTo(1);
    ticker.advance(Duration.ofMillis(500));
    t.join();
    assertThat(source.readCount()).isEqualTo(2);
    assertThat(second.get()).isEqualTo(first);
  }

  /*
   * Regression: the fetch read the ticker to compute how long to wait, and the sleep read it
   * again to start measuring. A test that advanced the fake ticker between the two readings (it
   * advances as soon as it sees the watcher's previous read, which is when the watcher goes on to
   * its next fetch) lost that advance, and the fetch waited for one that never came:
   * underAWatcherOnlyChangesAreDelivered then timed out now and then. This ticker puts the
   * advance into that gap every time.
   */
  @Test
  void anAdvanceBetweenComputingTheWaitAndParkingStillEndsTheWait() throws Exception {
    AtomicBoolean armed = new AtomicBoolean();
    Ticker advancesRightAfterItsNextRead = () -> {
      long now = ticker.read();
      if (armed.compareAndSet(true, false)) {
        ticker.advance(Duration.ofSeconds(16));
      }
      return now;
    };
    PollingWatchSource<String> source = PollingWatchSource.<String>builder(key -> upstream.get())
        .maxAge(Duration.ofSeconds(16))
        .ticker(advancesRightAfterItsNextRead)
        .random(() -> 0)
        .build();
    Versioned<String> first = source.fetch("k", 0, Duration.ofMinutes(5));
    armed.set(true);
    AtomicReference<Versioned<String>> second = new AtomicReference<>();
    Thread t = Thread.ofVirtual().start(() -> {
      try {
        second.set(source.fetch("k", first.index(), Duration.ofMinutes(5)));
      } catch (Exception e) {
        throw new AssertionError(e);
      }
    });
    await().until(() -> second.get() != null); // the ticker is 16 s past the first read
    t.join();
    assertThat(source.readCount()).isEqualTo(2);
    assertThat(second.get()).isEqualTo(first);
  }

  @Test
  void aChangedValueGetsAGreaterIndex() throws Exception {
    PollingWatchSource<String> source = source(0);
    Versioned<String> first = source.fetch("k", 0, Duration.ofMinutes(5));
    upstream.set("v2");
    ticker.advance(Duration.ofSeconds(16));
    Versioned<String> second = source.fetch("k", first.index(), Duration.ofMinutes(5));
    assertThat(second.value()).isEqualTo("v2");
    assertThat(second.index()).isGreaterThan(first.index());
  }

  @Test
  void aMaxWaitShorterThanTheAgeAnswersTheUnchangedValueWithoutReading() throws Exception {
    PollingWatchSource<String> source = PollingWatchSource.<String>builder(k -> upstream.get())
        .maxAge(Duration.ofHours(1)).build();
    Versioned<String> first = source.fetch("k", 0, Duration.ofMinutes(5));
    assertThat(source.fetch("k", first.index(), Duration.ofMillis(10))).isEqualTo(first);
    assertThat(source.readCount()).isEqualTo(1);
  }

  @Test
  void underAWatcherOnlyChangesAreDelivered() throws Exception {
    PollingWatchSource<String> source = source(0);
    RecordingSink<String> sink = new RecordingSink<>();
    try (Watcher<String> watcher = Watcher.builder(source).ticker(ticker).minFetchInterval(Duration.ZERO).build()) {
      watcher.watch("k", "c", sink);
      await().until(() -> sink.values().size() == 1);
      for (int i = 0; i < 3; i++) { // three polls, no change
        long reads = source.readCount();
        ticker.advance(Duration.ofSeconds(16));
        await().until(() -> source.readCount() == reads + 1);
      }
      upstream.set("v2");
      ticker.advance(Duration.ofSeconds(16));
      await().until(() -> sink.values().size() == 2);
      assertThat(sink.values()).containsExactly("v1", "v2");
    }
  }
}
