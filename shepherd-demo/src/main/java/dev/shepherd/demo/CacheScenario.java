package dev.shepherd.demo;

import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.cache.Fetched;
import dev.shepherd.cache.Load;
import dev.shepherd.demo.ScenarioReport.Side;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The stampede: N callers ask for one cold product at the same instant. Shepherd's
 * {@link CoalescingCache} runs one catalog call and hands its outcome, value or failure, to every
 * caller; the baseline is the usual {@code ConcurrentHashMap.computeIfAbsent} cache, which also
 * runs one call while the catalog is healthy, but with a failing catalog each waiting caller runs
 * the failing call again, one after the other (a convoy).
 *
 * <p>Bounded: at most {@value #MAX_CALLERS} callers, the catalog takes {@value #LATENCY_MS} ms, and
 * the baseline's convoy is cut at {@value #BASELINE_BOUND_MS} ms: from then on its catalog fails
 * at once (still counted), so the run ends in seconds whatever N is.
 */
final class CacheScenario extends AbstractScenario {

  static final int MAX_CALLERS = 10_000;
  static final int LATENCY_MS = 200;
  static final int BASELINE_BOUND_MS = 3_000;

  CacheScenario() {
    super(
        "cache", "Stampede: N callers on a cold product", Duration.ofSeconds(60),
        Param.whole("callers", 1_000, 1, MAX_CALLERS),
        Param.choice("catalog", "failing", "failing", "healthy"));
  }

  /**
   * The scenario's own catalog: counts calls, takes {@link #LATENCY_MS}, fails when told to; past
   * {@code boundNanos} (Long.MAX_VALUE: never) it fails at once.
   */
  private static final class TestCatalog {
    final AtomicInteger calls = new AtomicInteger();
    final AtomicInteger callsAfterBound = new AtomicInteger();
    final boolean failing;
    final long boundNanos;
    final ScenarioReport report;
    final Side side;

    TestCatalog(boolean failing, long boundNanos, ScenarioReport report, Side side) {
      this.failing = failing;
      this.boundNanos = boundNanos;
      this.report = report;
      this.side = side;
    }

    Catalog.Product lookup(String id) throws InterruptedException {
      int n = calls.incrementAndGet();
      if (boundNanos != Long.MAX_VALUE && System.nanoTime() - boundNanos > 0) {
        callsAfterBound.incrementAndGet();
        throw new IllegalStateException("catalog unavailable (cut short: past the scenario's bound)");
      }
      report.event(side, "load", "catalog call #" + n + " starts");
      Thread.sleep(LATENCY_MS);
      if (failing) {
        report.event(side, "failure", "catalog call #" + n + " fails after " + LATENCY_MS + " ms");
        throw new IllegalStateException("catalog unavailable (HTTP 503)");
      }
      report.event(side, "load", "catalog call #" + n + " answers after " + LATENCY_MS + " ms");
      return new Catalog.Product(id, "Product " + id, 999);
    }
  }

  /** One side's outcome: when each caller was answered, and how many got an error. */
  private record Outcome(List<Double> answeredAtMs, int errors, int calls, int callsAfterBound, double lastMs) {}

  @Override
  public void run(Map<String, Object> parameters, ScenarioReport report) throws Exception {
    int callers = Scenario.integer(parameters, "callers");
    boolean failing = Scenario.text(parameters, "catalog").equals("failing");
    String key = "cold-" + System.nanoTime();
    report.baselineName("ConcurrentHashMap.computeIfAbsent");

    CoalescingCache<String, Catalog.Product> cache = CoalescingCache.<String, Catalog.Product>builder()
        .maximumSize(100).timeToLive(Duration.ofMinutes(1)).build();
    TestCatalog shepherdCatalog = new TestCatalog(failing, Long.MAX_VALUE, report, Side.SHEPHERD);
    report.event(Side.SHEPHERD, "start", callers + " callers ask CoalescingCache.fetch for one cold key at once");
    Outcome shepherd = stampede(callers, report, Side.SHEPHERD, shepherdCatalog, () -> {
      Fetched<Catalog.Product> f = cache.fetch(key, k -> Load.commit(shepherdCatalog.lookup(k)), Duration.ofSeconds(20));
      return f.value();
    });

    ConcurrentHashMap<String, Catalog.Product> map = new ConcurrentHashMap<>();
    long bound = System.nanoTime() + Duration.ofMillis(BASELINE_BOUND_MS).toNanos();
    TestCatalog baselineCatalog = new TestCatalog(failing, bound, report, Side.BASELINE);
    report.event(Side.BASELINE, "start", callers + " callers ask ConcurrentHashMap.computeIfAbsent for one cold key at once");
    Outcome baseline = stampede(callers, report, Side.BASELINE, baselineCatalog, () -> map.computeIfAbsent(key, k -> {
      try {
        return baselineCatalog.lookup(k);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted", e);
      }
    }));
    if (baseline.callsAfterBound() > 0) {
      report.event(Side.BASELINE, "bound", "convoy cut at the " + BASELINE_BOUND_MS + " ms bound: the other "
          + baseline.callsAfterBound() + " callers' catalog calls failed at once instead of taking "
          + LATENCY_MS + " ms each (" + (baseline.callsAfterBound() * (long) LATENCY_MS / 1000) + " s more)");
    }

    report.row("catalogCalls", "catalog calls", "", shepherd.calls(), baseline.calls());
    report.row("answered", "callers answered", "", shepherd.answeredAtMs().size(), baseline.answeredAtMs().size());
    report.row("errors", "callers answered with the catalog's error", "", shepherd.errors(), baseline.errors());
    report.row("lastAnswerMs", "time to the last answer", "ms", shepherd.lastMs(), baseline.lastMs());
    Map<String, List<Double>> series = new LinkedHashMap<>();
    series.put("Shepherd CoalescingCache", shepherd.answeredAtMs());
    series.put("ConcurrentHashMap.computeIfAbsent", baseline.answeredAtMs());
    report.chart(ScenarioReport.cumulative("time since the callers started", "ms", "callers answered", "callers",
        Math.max(shepherd.lastMs(), baseline.lastMs()), series,
        Map.of("ConcurrentHashMap.computeIfAbsent", "baseline")));
    report.caption(failing
        ? "With the catalog failing, " + callers + " callers made " + shepherd.calls() + " catalog call through Shepherd, all answered in "
            + Math.round(shepherd.lastMs()) + " ms; computeIfAbsent retried the failing call once per caller, "
            + baseline.calls() + " calls in a convoy" + (baseline.callsAfterBound() > 0
                ? " (cut at the " + BASELINE_BOUND_MS / 1000 + " s bound; uncut it would have taken about "
                    + (baseline.calls() * (long) LATENCY_MS / 1000) + " s)." : ".")
        : callers + " callers on a cold key made " + shepherd.calls() + " catalog call through Shepherd (computeIfAbsent: "
            + baseline.calls() + "): while the catalog is healthy both make one call; the difference is in failures.");
  }

  @FunctionalInterface
  private interface Call {
    Catalog.Product call() throws Exception;
  }

  private static Outcome stampede(int callers, ScenarioReport report, Side side, TestCatalog catalog, Call call)
      throws InterruptedException {
    CountDownLatch go = new CountDownLatch(1);
    CountDownLatch done = new CountDownLatch(callers);
    List<Double> answered = java.util.Collections.synchronizedList(new ArrayList<>(callers));
    AtomicInteger errors = new AtomicInteger();
    long[] start = new long[1];
    List<Thread> threads = new ArrayList<>(callers);
    for (int i = 0; i < callers; i++) {
      threads.add(Thread.ofVirtual().start(() -> {
        try {
          go.await();
          call.call();
        } catch (InterruptedException e) {
          return;
        } catch (Exception e) {
          errors.incrementAndGet();
        } finally {
          answered.add(ScenarioReport.msSince(start[0]));
          done.countDown();
        }
      }));
    }
    start[0] = System.nanoTime();
    go.countDown();
    try {
      if (!done.await(40, java.util.concurrent.TimeUnit.SECONDS)) {
        throw new IllegalStateException(side + ": " + done.getCount() + " callers still waiting after 40 s");
      }
    } finally {
      threads.forEach(Thread::interrupt);
    }
    double last = answered.stream().mapToDouble(Double::doubleValue).max().orElse(0);
    report.event(report.sinceStartMs(), side, "done", "last of " + callers + " callers answered, "
        + Math.round(last) + " ms after they started; " + errors.get() + " got the catalog's error");
    return new Outcome(List.copyOf(answered), errors.get(), catalog.calls.get(), catalog.callsAfterBound.get(), last);
  }
}
