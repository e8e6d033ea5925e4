package dev.shepherd.benchmarks.watch;

import dev.shepherd.watch.Subscription;
import dev.shepherd.watch.WatchEvent;
import dev.shepherd.watch.WatchSink;
import dev.shepherd.watch.Watcher;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongConsumer;

/**
 * Memory retained per idle subscriber: heap used after a full GC with 10,000 subscribers on one
 * key, each having received the current value and now idle, minus the heap used before they
 * subscribed, divided by 10,000. The subscribers' correlation ids and the shared sink are created
 * before the first reading: they are the caller's data, not the library's cost.
 *
 * <ul>
 *   <li>{@code shepherd}: 10,000 {@link Watcher#watch} subscriptions sharing one upstream loop.
 *   <li>{@code loopPerSubscriber}: the peer, 10,000 Consul-style loops, each a virtual thread
 *       parked in a blocking fetch (its stack, its waiter in the store).
 * </ul>
 *
 * <p>Each figure is the median of seven rounds after one warm-up round. Run: {@code java -cp
 * shepherd-benchmarks/target/benchmarks.jar dev.shepherd.benchmarks.watch.WatchSubscriberMemory
 * [output.json]}. Needs {@code System.gc()} to be a full collection (do not run with
 * {@code -XX:+DisableExplicitGC}).
 */
public final class WatchSubscriberMemory {

  private static final int SUBSCRIBERS = 10_000;
  private static final int ROUNDS = 7;

  private WatchSubscriberMemory() {}

  /**
   * Runs the measurement and writes a JSON file.
   *
   * @param args optional output path
   * @throws Exception if the measurement fails
   */
  public static void main(String[] args) throws Exception {
    double shepherd = median(WatchSubscriberMemory::shepherdRound);
    double peer = median(WatchSubscriberMemory::peerRound);
    String json = String.format(Locale.ROOT,
        "{%n  \"benchmark\": \"dev.shepherd.benchmarks.watch.WatchSubscriberMemory\",%n"
            + "  \"when\": \"%s\",%n  \"jvm\": \"%s\",%n  \"subscribers\": %d,%n"
            + "  \"rounds\": %d,%n  \"bytesPerIdleSubscriberShepherd\": %.1f,%n"
            + "  \"bytesPerIdleSubscriberLoopPerSubscriber\": %.1f%n}%n",
        Instant.now(), System.getProperty("java.vm.version"), SUBSCRIBERS, ROUNDS, shepherd, peer);
    System.out.print(json);
    if (args.length > 0) {
      Files.writeString(Path.of(args[0]), json);
    }
  }

  interface Round {
    double run() throws Exception;
  }

  private static double median(Round round) throws Exception {
    double[] samples = new double[ROUNDS];
    round.run();
    for (int i = 0; i < ROUNDS; i++) {
      samples[i] = round.run();
    }
    Arrays.sort(samples);
    return samples[ROUNDS / 2];
  }

  private static long usedAfterGc() {
    long used = Long.MAX_VALUE;
    for (int i = 0; i < 4; i++) {
      System.gc();
      used = Math.min(used, ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
    }
    return used;
  }

  private static String[] correlationIds() {
    String[] ids = new String[SUBSCRIBERS];
    for (int i = 0; i < SUBSCRIBERS; i++) {
      ids[i] = "subscriber-" + i;
    }
    return ids;
  }

  private static void awaitCount(AtomicInteger count, int expected) throws InterruptedException {
    long deadline = System.nanoTime() + 60_000_000_000L;
    while (count.get() < expected) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("only " + count.get() + " of " + expected + " notified");
      }
      Thread.sleep(1);
    }
  }

  private static double shepherdRound() throws Exception {
    CountingSource source = new CountingSource();
    source.store.put("config", "v1");
    String[] ids = correlationIds();
    AtomicInteger notified = new AtomicInteger();
    WatchSink<Optional<String>> sink = event -> {
      if (event instanceof WatchEvent.Update<Optional<String>>) {
        notified.incrementAndGet();
      }
    };
    try (Watcher<Optional<String>> watcher = Watcher.builder(source).build()) {
      // One subscription first, so the loop itself is not counted as per-subscriber cost.
      Subscription<Optional<String>> first = watcher.watch("config", "first", sink);
      awaitCount(notified, 1);
      long before = usedAfterGc();
      List<Subscription<Optional<String>>> subs = new ArrayList<>(SUBSCRIBERS);
      for (int i = 0; i < SUBSCRIBERS; i++) {
        subs.add(watcher.watch("config", ids[i], sink));
      }
      awaitCount(notified, SUBSCRIBERS + 1);
      long after = usedAfterGc();
      double perSubscriber = (after - before) / (double) SUBSCRIBERS;
      if (subs.size() != SUBSCRIBERS || first.isClosed() || ids.length != SUBSCRIBERS) {
        throw new AssertionError("keep references alive");
      }
      return perSubscriber;
    }
  }

  private static double peerRound() throws Exception {
    CountingSource source = new CountingSource();
    source.store.put("config", "v1");
    String[] ids = correlationIds();
    AtomicInteger notified = new AtomicInteger();
    LongConsumer onIndex = index -> notified.incrementAndGet();
    long before = usedAfterGc();
    try (PerSubscriberLoops loops = new PerSubscriberLoops(source, "config", SUBSCRIBERS, onIndex)) {
      awaitCount(notified, SUBSCRIBERS);
      while (source.store.waitingQueries() < SUBSCRIBERS) {
        Thread.sleep(1);
      }
      long after = usedAfterGc();
      if (ids.length != SUBSCRIBERS || loops == null) {
        throw new AssertionError("keep references alive");
      }
      return (after - before) / (double) SUBSCRIBERS;
    }
  }
}
