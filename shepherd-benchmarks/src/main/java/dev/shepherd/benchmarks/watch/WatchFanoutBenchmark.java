package dev.shepherd.benchmarks.watch;

import dev.shepherd.watch.Subscription;
import dev.shepherd.watch.WatchEvent;
import dev.shepherd.watch.Watcher;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * 10,000 subscribers on one key of an in-memory upstream: from a change to the last subscriber
 * notified, and how many upstream requests are in flight, for Shepherd's {@link Watcher} hub and
 * for the peer, one Consul-style blocking loop per subscriber ({@link PerSubscriberLoops}).
 *
 * <ul>
 *   <li>{@code changeToLastNotified} (SampleTime): one invocation writes a new value and returns
 *       when all 10,000 subscribers have received it; JMH reports p50/p99 of that time.
 *   <li>{@code upstreamRequests} (SingleShotTime, AuxCounters): one invocation does the same and
 *       reports {@code inFlightBeforeChange} (requests held by the source just before the write),
 *       {@code maxInFlight} (the most held at once during the invocation) and
 *       {@code fetchesPerChange} (requests the source served for the change), counted at the
 *       source.
 * </ul>
 *
 * <p>{@code minFetchInterval} compares the hub with pacing (the default 50 ms) against without it
 * (0 ms): the write comes after the loop is back in a blocking fetch, so pacing must not show.
 *
 * <p>Each subscriber's sink only counts; the work measured is the fan-out itself. The subscribers
 * are set up once per trial and the key is written only by the benchmark thread.
 */
@State(Scope.Benchmark)
@Fork(1)
public class WatchFanoutBenchmark {

  static final String KEY = "config";

  @Param({"10000"})
  public int subscribers;

  @Param({"shepherd", "loopPerSubscriber"})
  public String impl;

  /**
   * The hub's {@code minFetchInterval}: {@code 0ms} is the loop before pacing existed,
   * {@code 50ms} the default. A change after a quiet period must reach the subscribers as fast
   * with pacing as without (the loop paces only an upstream that answers at once). Ignored by
   * {@code loopPerSubscriber}.
   */
  @Param({"0ms", "50ms"})
  public String minFetchInterval;

  private CountingSource source;
  private Watcher<Optional<String>> watcher;
  private PerSubscriberLoops loops;
  private final List<Subscription<Optional<String>>> subscriptions = new ArrayList<>();
  private volatile long target;
  private final AtomicInteger remaining = new AtomicInteger();
  private volatile CompletableFuture<Void> allNotified = new CompletableFuture<>();

  /** Counts read at the end of each invocation, counted at the source. */
  @State(Scope.Thread)
  @AuxCounters(AuxCounters.Type.EVENTS)
  public static class Counters {
    /** Upstream requests the source held just before the write. */
    public long inFlightBeforeChange;
    /** The most upstream requests held at once during the invocation. */
    public long maxInFlight;
    /** Upstream requests the source served for the change. */
    public long fetchesPerChange;

    @Setup(Level.Iteration)
    public void reset() {
      inFlightBeforeChange = 0;
      maxInFlight = 0;
      fetchesPerChange = 0;
    }
  }

  private void onIndex(long index) {
    if (index == target && remaining.decrementAndGet() == 0) {
      allNotified.complete(null);
    }
  }

  @Setup(Level.Trial)
  public void subscribe() throws Exception {
    source = new CountingSource();
    target = source.store.put(KEY, "v0");
    remaining.set(subscribers);
    if (impl.equals("shepherd")) {
      watcher = Watcher.builder(source)
          .minFetchInterval(Duration.ofMillis(Long.parseLong(minFetchInterval.replace("ms", ""))))
          .build();
      for (int i = 0; i < subscribers; i++) {
        subscriptions.add(watcher.watch(KEY, "s" + i, event -> {
          if (event instanceof WatchEvent.Update<Optional<String>> u) {
            onIndex(u.index());
          }
        }));
      }
    } else {
      loops = new PerSubscriberLoops(source, KEY, subscribers, this::onIndex);
    }
    allNotified.get(60, TimeUnit.SECONDS);
    awaitSteadyState();
  }

  /** Waits until every loop is back in a blocking fetch. */
  private void awaitSteadyState() throws InterruptedException {
    int expected = impl.equals("shepherd") ? 1 : subscribers;
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (source.store.waitingQueries() < expected) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("loops did not settle: " + source.store.waitingQueries());
      }
      Thread.sleep(1);
    }
  }

  @TearDown(Level.Trial)
  public void close() throws Exception {
    if (watcher != null) {
      watcher.close();
    }
    if (loops != null) {
      loops.close();
    }
  }

  private void changeAndAwaitAll() throws Exception {
    allNotified = new CompletableFuture<>();
    remaining.set(subscribers);
    target = source.store.index() + 1;
    source.store.put(KEY, "v" + target);
    allNotified.get(60, TimeUnit.SECONDS);
  }

  /** Outside the measured time: every loop is back in a blocking fetch before the write. */
  @Setup(Level.Invocation)
  public void settle() throws InterruptedException {
    awaitSteadyState();
  }

  @Benchmark
  @BenchmarkMode(Mode.SampleTime)
  @OutputTimeUnit(TimeUnit.MILLISECONDS)
  public void changeToLastNotified() throws Exception {
    changeAndAwaitAll();
  }

  @Benchmark
  @BenchmarkMode(Mode.SingleShotTime)
  @OutputTimeUnit(TimeUnit.MILLISECONDS)
  public void upstreamRequests(Counters counters) throws Exception {
    counters.inFlightBeforeChange = source.inFlight.get();
    source.maxInFlight.set(source.inFlight.get());
    long fetchesBefore = source.fetches.get();
    changeAndAwaitAll();
    awaitSteadyState();
    counters.maxInFlight = source.maxInFlight.get();
    counters.fetchesPerChange = source.fetches.get() - fetchesBefore;
  }
}
