package dev.shepherd.demo;

import dev.shepherd.core.Backoff;
import dev.shepherd.demo.ScenarioReport.Side;
import dev.shepherd.watch.BlockingQueryServlet;
import dev.shepherd.watch.InMemoryVersionedStore;
import dev.shepherd.watch.Versioned;
import dev.shepherd.watch.WatchSource;
import dev.shepherd.watch.Watcher;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * A config change reaching M subscribers, then an outage of the config source and its recovery.
 * Shepherd's side: M server-sent event streams opened over HTTP on
 * {@code /playground/watch/config/{key}}, all fed by one {@link Watcher} loop; the baseline: M
 * subscribers that each run their own blocking-query loop against the same source and retry every
 * {@value #NAIVE_RETRY_MS} ms when it fails. Both sides run at once against one in-memory store,
 * each through its own counting view of the source, which also fails while the outage lasts.
 *
 * <p>Bounded: at most {@value #MAX_SUBSCRIBERS} subscribers per side, an outage of at most
 * {@value #MAX_OUTAGE_MS} ms, each phase waits at most 10 s.
 */
final class WatchScenario extends AbstractScenario.Http implements AutoCloseable {

  static final int MAX_SUBSCRIBERS = 200;
  static final int MAX_OUTAGE_MS = 3_000;
  static final int NAIVE_RETRY_MS = 100;
  static final int BUCKET_MS = 100;
  static final int BUCKETS = 600;

  /** The outage switch both views share; a fetch blocked when it starts fails at once. */
  private static final class Outage {
    volatile boolean down;
    volatile CompletableFuture<Void> begins = new CompletableFuture<>();

    void start() {
      down = true;
      begins.complete(null);
    }

    void end() {
      begins = new CompletableFuture<>();
      down = false;
    }
  }

  /** A counting view of the store: every fetch is one upstream query; fails during an outage. */
  private static final class CountingSource implements WatchSource<Optional<String>> {
    private final InMemoryVersionedStore<String> store;
    private final Outage outage;
    final AtomicLongArray perBucket = new AtomicLongArray(BUCKETS);
    final java.util.concurrent.atomic.AtomicLong total = new java.util.concurrent.atomic.AtomicLong();
    volatile long originNanos = System.nanoTime();

    CountingSource(InMemoryVersionedStore<String> store, Outage outage) {
      this.store = store;
      this.outage = outage;
    }

    @Override
    public Versioned<Optional<String>> fetch(String key, long minIndex, Duration maxWait) throws Exception {
      int bucket = (int) Math.min(BUCKETS - 1, Math.max(0, (System.nanoTime() - originNanos) / 1_000_000 / BUCKET_MS));
      perBucket.incrementAndGet(bucket);
      total.incrementAndGet();
      CompletableFuture<Void> begins = outage.begins;
      if (outage.down) {
        Thread.sleep(20);
        throw new IOException("config source unreachable (playground outage)");
      }
      CompletableFuture<Versioned<Optional<String>>> changed = store.whenChanged(key, minIndex);
      try {
        CompletableFuture.anyOf(changed, begins).get(maxWait.toNanos(), TimeUnit.NANOSECONDS);
        if (changed.isDone()) {
          return changed.join();
        }
        throw new IOException("config source unreachable (playground outage)");
      } catch (TimeoutException e) {
        return store.get(key);
      } catch (ExecutionException e) {
        throw new IllegalStateException("store futures never fail", e);
      } finally {
        changed.cancel(false);
      }
    }
  }

  private final InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
  private final Outage outage = new Outage();
  private final CountingSource shepherdView = new CountingSource(store, outage);
  private final CountingSource naiveView = new CountingSource(store, outage);
  private final Watcher<Optional<String>> watcher = Watcher.builder((WatchSource<Optional<String>>) shepherdView)
      .name("playground")
      .maxWait(Duration.ofSeconds(30))
      .recoveryWait(Duration.ofMillis(200))
      .failingThreshold(Duration.ofMillis(200))
      .backoff(Backoff.exponential().initial(Duration.ofMillis(100)).max(Duration.ofMillis(800)).build())
      .build();

  WatchScenario(Supplier<URI> base) {
    super(
        "watch", "A config change to M subscribers, then an outage", Duration.ofSeconds(60), base,
        Param.whole("subscribers", 50, 1, MAX_SUBSCRIBERS),
        Param.whole("outageMs", 1_500, 300, MAX_OUTAGE_MS));
  }

  /** The servlet of {@code /playground/watch/config/*}: blocking queries and event streams of this scenario's store. */
  ConfigServlet servlet() {
    // Room for a run's streams and the previous run's, which the server notices closed only at
    // their next heartbeats (runs follow one another at once from the terminal).
    return new ConfigServlet(BlockingQueryServlet.ofStrings(store), watcher, 2 * MAX_SUBSCRIBERS);
  }

  /** One subscriber's view: the newest index seen, and whether it heard of the outage and the recovery. */
  private static final class Subscriber {
    volatile long index;
    volatile double changeSeenMs = -1;
    volatile boolean failing;
    volatile double failingMs = -1;
    volatile boolean recovered;
    volatile double recoveredMs = -1;
  }

  /** When the change was made, in ms since the subscribers connected; read by every subscriber thread. */
  private static final class ChangeClock {
    volatile double at = Double.MAX_VALUE;
  }

  @Override
  public void run(Map<String, Object> parameters, ScenarioReport report) throws Exception {
    int m = Scenario.integer(parameters, "subscribers");
    int outageMs = Scenario.integer(parameters, "outageMs");
    report.baselineName("one blocking-query loop per subscriber");
    String key = "flags-" + Long.toHexString(System.nanoTime());
    long initialIndex = store.put(key, "{\"checkout-v2\":false}");
    long origin = System.nanoTime();
    shepherdView.originNanos = origin;
    naiveView.originNanos = origin;
    for (int i = 0; i < BUCKETS; i++) {
      shepherdView.perBucket.set(i, 0);
      naiveView.perBucket.set(i, 0);
    }
    List<Subscriber> streams = new ArrayList<>();
    List<Subscriber> loops = new ArrayList<>();
    List<InputStream> bodies = java.util.Collections.synchronizedList(new ArrayList<>());
    List<Thread> threads = new ArrayList<>();
    ChangeClock changeAt = new ChangeClock();
    try {
      URI uri = base.get().resolve("/playground/watch/config/" + key);
      for (int i = 0; i < m; i++) {
        Subscriber s = new Subscriber();
        streams.add(s);
        HttpResponse<InputStream> response = http.send(HttpRequest.newBuilder(uri).header("Accept", "text/event-stream").build(),
            HttpResponse.BodyHandlers.ofInputStream());
        bodies.add(response.body());
        threads.add(Thread.ofVirtual().start(() -> readStream(response.body(), s, origin, changeAt)));
      }
      for (int i = 0; i < m; i++) {
        Subscriber s = new Subscriber();
        loops.add(s);
        threads.add(Thread.ofVirtual().start(() -> naiveLoop(key, s, origin, changeAt)));
      }
      report.event(Side.SHEPHERD, "start", m + " event streams open on GET /playground/watch/config/" + key);
      report.event(Side.BASELINE, "start", m + " subscribers each run their own blocking-query loop");
      await("every subscriber has the first value", () -> all(streams, s -> s.index >= initialIndex)
          && all(loops, s -> s.index >= initialIndex));

      long shepherdBeforeChange = shepherdView.total.get();
      long naiveBeforeChange = naiveView.total.get();
      double beforeChange = ScenarioReport.msSince(origin);
      changeAt.at = beforeChange;
      long changed = store.put(key, "{\"checkout-v2\":true}");
      report.event(Side.RUN, "change", "PUT: the config changes (index " + changed + ")");
      await("every subscriber has the change", () -> all(streams, s -> s.index >= changed) && all(loops, s -> s.index >= changed));
      double allHadIt = ScenarioReport.msSince(origin);
      double shepherdLast = streams.stream().mapToDouble(s -> s.changeSeenMs).max().orElse(0) - beforeChange;
      double naiveLast = loops.stream().mapToDouble(s -> s.changeSeenMs).max().orElse(0) - beforeChange;
      report.event(Side.SHEPHERD, "delivered", "all " + m + " streams have the change, " + Math.round(shepherdLast) + " ms after the PUT");
      report.event(Side.BASELINE, "delivered", "all " + m + " loops have the change, " + Math.round(naiveLast) + " ms after the PUT");
      Thread.sleep(300);
      long shepherdChangeQueries = shepherdView.total.get() - shepherdBeforeChange;
      long naiveChangeQueries = naiveView.total.get() - naiveBeforeChange;

      double outageStart = ScenarioReport.msSince(origin);
      long shepherdBeforeOutage = shepherdView.total.get();
      long naiveBeforeOutage = naiveView.total.get();
      outage.start();
      report.event(Side.RUN, "outage", "the config source goes down for " + outageMs + " ms");
      Thread.sleep(outageMs);
      long shepherdOutageQueries = shepherdView.total.get() - shepherdBeforeOutage;
      long naiveOutageQueries = naiveView.total.get() - naiveBeforeOutage;
      double outageEnd = ScenarioReport.msSince(origin);
      outage.end();
      report.event(Side.RUN, "recovery", "the config source is back");
      await("every stream hears of the recovery", () -> all(streams, s -> s.recovered) && all(loops, s -> s.recoveredMs >= 0));
      // Read after the recovery: a stream gets 'failing' before 'recovered', so none is still on its way.
      long toldFailing = streams.stream().filter(s -> s.failing).count();
      double originOffsetMs = (origin - report.startNanos()) / 1e6;
      double lastFailingMs = streams.stream().mapToDouble(s -> s.failingMs).max().orElse(outageEnd);
      report.event(originOffsetMs + lastFailingMs, Side.SHEPHERD, "failing", toldFailing + " of " + m
          + " streams got 'event: failing', the last " + Math.round(lastFailingMs - outageStart) + " ms into the outage");
      double shepherdRecovered = streams.stream().mapToDouble(s -> s.recoveredMs).max().orElse(0) - outageEnd;
      double naiveRecovered = loops.stream().mapToDouble(s -> s.recoveredMs).max().orElse(0) - outageEnd;
      report.event(Side.SHEPHERD, "recovered", "all " + m + " streams got 'event: recovered', the last "
          + Math.round(shepherdRecovered) + " ms after the source came back");
      report.event(Side.BASELINE, "recovered", "all " + m + " loops answered again, the last " + Math.round(naiveRecovered)
          + " ms after the source came back");
      double end = ScenarioReport.msSince(origin) + 200;
      Thread.sleep(200);

      report.row("subscribers", "subscribers", "", m, m);
      report.row("delivered", "subscribers that got the change", "", count(streams, s -> s.index >= changed), count(loops, s -> s.index >= changed));
      report.row("changeQueries", "upstream queries from the change until all had it, +300 ms", "", shepherdChangeQueries, naiveChangeQueries);
      report.row("changeMs", "time for the change to reach every subscriber", "ms", shepherdLast, naiveLast);
      report.row("outageQueries", "upstream queries during the " + outageMs + " ms outage", "", shepherdOutageQueries, naiveOutageQueries);
      report.row("toldFailing", "subscribers told the source is failing", "", toldFailing, 0);
      report.row("recoveryMs", "time from the source's return to every subscriber recovered", "ms", shepherdRecovered, naiveRecovered);
      report.note("allHadTheChangeAtMs=" + Math.round(allHadIt));

      List<Double> xs = new ArrayList<>();
      List<@Nullable Double> shepherdSeries = new ArrayList<>();
      List<@Nullable Double> naiveSeries = new ArrayList<>();
      for (int b = 0; b * BUCKET_MS < end && b < BUCKETS; b++) {
        xs.add(b * BUCKET_MS / 1000.0);
        shepherdSeries.add((double) shepherdView.perBucket.get(b));
        naiveSeries.add((double) naiveView.perBucket.get(b));
      }
      report.chart(new ScenarioReport.Chart("time since the subscribers connected", "s", "queries",
          "per " + BUCKET_MS + " ms", xs, List.of(
              new ScenarioReport.Series("Shepherd Watcher (one loop for all streams)", "shepherd", shepherdSeries),
              new ScenarioReport.Series("one loop per subscriber", "baseline", naiveSeries))));
      report.caption("One change reached " + m + " streams with " + shepherdChangeQueries + " upstream queries through Shepherd ("
          + naiveChangeQueries + " with a loop each); during the outage Shepherd backed off to " + shepherdOutageQueries
          + " queries (naive retries: " + naiveOutageQueries + ") and told every stream it was failing, then recovered.");
    } finally {
      outage.end();
      threads.forEach(Thread::interrupt);
      synchronized (bodies) {
        for (InputStream body : bodies) {
          try {
            body.close();
          } catch (IOException ignored) {
            // the stream is gone either way
          }
        }
      }
      store.delete(key);
    }
  }

  private static void readStream(InputStream body, Subscriber s, long origin, ChangeClock changeAt) {
    try (BufferedReader reader = new BufferedReader(new InputStreamReader(body, StandardCharsets.UTF_8))) {
      for (String line = reader.readLine(); line != null; line = reader.readLine()) {
        if (line.startsWith("id: ")) {
          long index = Long.parseLong(line.substring(4).strip());
          if (ScenarioReport.msSince(origin) >= changeAt.at && s.changeSeenMs < 0) {
            s.changeSeenMs = ScenarioReport.msSince(origin);
          }
          s.index = index;
        } else if (line.equals("event: failing")) {
          s.failingMs = ScenarioReport.msSince(origin);
          s.failing = true;
        } else if (line.equals("event: recovered")) {
          s.recoveredMs = ScenarioReport.msSince(origin);
          s.recovered = true;
        }
      }
    } catch (IOException | RuntimeException e) {
      // closed at the end of the run
    }
  }

  private void naiveLoop(String key, Subscriber s, long origin, ChangeClock changeAt) {
    long index = 0;
    boolean failed = false;
    while (!Thread.currentThread().isInterrupted()) {
      try {
        // After a failure a plain client reads the current value at once (index 0) to learn the source is back.
        Versioned<Optional<String>> v = naiveView.fetch(key, failed ? 0 : index, Duration.ofSeconds(30));
        if (failed) {
          failed = false;
          s.recoveredMs = ScenarioReport.msSince(origin);
        }
        if (v.index() != index) {
          index = v.index();
          if (ScenarioReport.msSince(origin) >= changeAt.at && s.changeSeenMs < 0) {
            s.changeSeenMs = ScenarioReport.msSince(origin);
          }
          s.index = index;
        }
      } catch (InterruptedException e) {
        return;
      } catch (Exception e) {
        failed = true;
        try {
          Thread.sleep(NAIVE_RETRY_MS);
        } catch (InterruptedException stop) {
          return;
        }
      }
    }
  }

  private interface Check {
    boolean test(Subscriber s);
  }

  private static boolean all(List<Subscriber> list, Check check) {
    for (Subscriber s : list) {
      if (!check.test(s)) {
        return false;
      }
    }
    return true;
  }

  private static long count(List<Subscriber> list, Check check) {
    return list.stream().filter(check::test).count();
  }

  private static void await(String what, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() - deadline > 0) {
        throw new IllegalStateException("not within 10 s: " + what);
      }
      Thread.sleep(5);
    }
  }

  @Override
  public void close() {
    watcher.close();
  }
}
