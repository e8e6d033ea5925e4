package dev.shepherd.watch;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.core.Backoff;
import dev.shepherd.core.Ticker;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

/** Requirement 5: the bounded buffer keeps the newest updates and accounts for every replaced one. */
class BufferPolicyPropertyTest {

  @Property(tries = 300)
  void aBufferKeepsTheNewestUpdatesInOrderAndCountsEveryReplacedOne(
      @ForAll @IntRange(min = 1, max = 8) int capacity,
      @ForAll @IntRange(min = 1, max = 60) int offers) {
    List<Runnable> tasks = new ArrayList<>();
    Watcher.Config config = new Watcher.Config(Duration.ofNanos(1), Duration.ofNanos(1),
        Backoff.fixed(Duration.ZERO), Duration.ZERO, Duration.ZERO, BufferPolicy.newest(capacity),
        tasks::add, Ticker.system(), "test");
    KeyLoop<String> loop = new KeyLoop<>("k", (k, i, w) -> new Versioned<>("x", 1), config,
        new ConcurrentHashMap<>());
    RecordingSink<String> sink = new RecordingSink<>();
    WatchSubscription<String> subscription = new WatchSubscription<>("c", sink, capacity, config);
    subscription.attach(loop);
    for (int i = 1; i <= offers; i++) {
      subscription.offerValue(new Versioned<>("v" + i, i), i);
    }
    assertThat(tasks).hasSize(1); // one drain task, however many offers
    tasks.get(0).run();

    int kept = Math.min(capacity, offers);
    List<String> expected = new ArrayList<>();
    for (int i = offers - kept + 1; i <= offers; i++) {
      expected.add("v" + i);
    }
    assertThat(sink.values()).containsExactlyElementsOf(expected);
    long replaced = sink.updates().stream().mapToLong(WatchEvent.Update::replaced).sum();
    assertThat(replaced + sink.updates().size()).isEqualTo(offers);
    assertThat(sink.updates().get(0).replaced()).isEqualTo(offers - kept);
  }
}
