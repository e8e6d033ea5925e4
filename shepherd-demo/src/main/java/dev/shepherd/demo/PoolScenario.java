package dev.shepherd.demo;

import dev.shepherd.demo.ScenarioReport.Side;
import dev.shepherd.pool.ElasticPool;
import dev.shepherd.pool.PoolEvent;
import dev.shepherd.pool.PoolSnapshot;
import dev.shepherd.pool.ProcessBackend;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/**
 * A burst of reports on an {@link ElasticPool} that starts with no runner: it boots child JVMs on
 * demand (at most 2, 2 reports each), one runner is killed with SIGKILL mid-burst (its callers fail
 * at once with {@code RunnerDiedException}, the pool boots a replacement for the reports still
 * waiting), and once the burst is over the runners retire after 1 s idle. The baseline starts one
 * JVM per report, the way a service without a pool would shell out, and loses one to the same kill.
 *
 * <p>Bounded: at most {@value #MAX_REPORTS} reports of at most 2 s each, every wait at most 40 s; the
 * pool is closed and every baseline JVM destroyed when the run ends.
 */
final class PoolScenario extends AbstractScenario {

  static final int MAX_REPORTS = 12;
  static final long UP_TO = 2_000_000L;
  static final int SAMPLE_MS = 50;

  PoolScenario() {
    super(
        "pool", "A burst of reports on runners booted from zero, one killed", Duration.ofMinutes(2),
        Param.whole("reports", 6, 1, MAX_REPORTS),
        Param.whole("holdMs", 800, 100, 2_000),
        Param.choice("kill", "yes", "yes", "no"));
  }

  /** What one side did: report outcomes, samples of JVMs and running reports, the kill's time. */
  private static final class Side0 {
    final List<Double> jvms = new CopyOnWriteArrayList<>();
    final List<Double> busy = new CopyOnWriteArrayList<>();
    final AtomicInteger done = new AtomicInteger();
    final AtomicInteger failed = new AtomicInteger();
    volatile double killAtMs = -1;
    volatile double lastFailureMs = -1;
    volatile double lastMs;
    volatile int peak;
  }

  @Override
  public void run(Map<String, Object> parameters, ScenarioReport report) throws Exception {
    int reports = Scenario.integer(parameters, "reports");
    int holdMs = Scenario.integer(parameters, "holdMs");
    boolean kill = Scenario.text(parameters, "kill").equals("yes");
    report.baselineName("one JVM per report");
    String marker = "-Dshepherd.playground.runner=" + Long.toHexString(System.nanoTime());

    Side0 shepherd = new Side0();
    long[] boots = new long[1];
    long start = System.nanoTime();
    List<String> options = new ArrayList<>(ProcessBackend.Builder.defaultJvmOptions());
    options.add(marker);
    ElasticPool pool = ElasticPool.builder()
        .name("playground")
        .backend(ProcessBackend.builder().functions(DemoFunctions.class).jvmOptions(options).build())
        .min(0).max(2).maxConcurrency(2)
        .idleShutdownAfter(Duration.ofSeconds(1))
        .housekeepingInterval(Duration.ofMillis(100))
        .callTimeout(Duration.ofSeconds(40))
        .eventListener(e -> report.event(Side.SHEPHERD, kind(e), describe(e)))
        .build();
    AtomicBoolean sampling = new AtomicBoolean(true);
    try {
      report.event(Side.SHEPHERD, "start", reports + " reports submitted to a pool with no runner (max "
          + pool.config().max() + " runners x " + pool.config().maxConcurrency() + " reports)");
      shepherd.jvms.add(0.0); // the pool starts with no runner: the first sample, before any call
      shepherd.busy.add(0.0);
      Thread sampler = Thread.ofVirtual().start(() -> {
        while (sampling.get() && !Thread.currentThread().isInterrupted()) {
          PoolSnapshot s = pool.snapshot();
          int alive = s.ready() + s.draining() + s.booting();
          shepherd.jvms.add((double) alive);
          shepherd.busy.add((double) s.busySlots());
          shepherd.peak = Math.max(shepherd.peak, alive);
          sleep(SAMPLE_MS);
        }
      });
      List<CompletableFuture<?>> calls = new ArrayList<>();
      for (int i = 0; i < reports; i++) {
        int n = i + 1;
        calls.add(pool.callAsync("report", Map.of("upTo", UP_TO, "holdMs", (long) holdMs), Duration.ofSeconds(40))
            .whenComplete((result, error) -> {
              double at = ScenarioReport.msSince(start);
              if (error == null) {
                shepherd.done.incrementAndGet();
                report.event(Side.SHEPHERD, "report", "report " + n + " done");
              } else {
                shepherd.failed.incrementAndGet();
                shepherd.lastFailureMs = at;
                report.event(Side.SHEPHERD, "failure", "report " + n + " failed: " + error.getClass().getSimpleName());
              }
              shepherd.lastMs = Math.max(shepherd.lastMs, at);
            }));
      }
      if (kill) {
        // Kill only once no runner is booting and every runner has a report, so whichever runner JVM
        // is found below is one with callers to fail.
        await("every runner busy, none booting", () -> {
          PoolSnapshot s = pool.snapshot();
          return s.booting() == 0 && !s.runners().isEmpty()
              && s.runners().stream().allMatch(r -> r.busySlots() > 0);
        });
        sleep(holdMs / 3);
        Optional<ProcessHandle> runner = ProcessHandle.current().children()
            .filter(p -> p.info().commandLine().orElse("").contains(marker)).findFirst();
        if (runner.isEmpty()) {
          throw new IllegalStateException("no runner JVM of this run found among the service's child processes");
        }
        shepherd.killAtMs = ScenarioReport.msSince(start);
        runner.get().destroyForcibly();
        report.event(Side.SHEPHERD, "kill", "runner JVM pid " + runner.get().pid() + " killed (SIGKILL) mid-burst");
      }
      CompletableFuture.allOf(calls.toArray(CompletableFuture[]::new)).exceptionally(e -> null).get(60, TimeUnit.SECONDS);
      report.event(Side.SHEPHERD, "done", "burst over: " + shepherd.done.get() + " done, " + shepherd.failed.get() + " failed");
      await("the runners retire when idle", () -> {
        PoolSnapshot s = pool.snapshot();
        return s.ready() + s.draining() + s.booting() == 0;
      });
      sleep(2 * SAMPLE_MS);
      sampling.set(false);
      sampler.join();
      boots[0] = pool.snapshot().boots();
    } finally {
      sampling.set(false);
      pool.close();
    }

    Side0 baseline = baseline(reports, holdMs, kill ? shepherd.killAtMs : -1, report);

    report.row("boots", "JVMs booted", "", boots[0], reports);
    report.row("peak", "most JVMs at once", "", shepherd.peak, baseline.peak);
    report.row("done", "reports done", "", shepherd.done.get(), baseline.done.get());
    report.row("failed", "reports failed by the kill", "", shepherd.failed.get(), baseline.failed.get());
    report.row("failFastMs", "time from the kill to the last failed caller", "ms",
        shepherd.killAtMs < 0 ? 0 : shepherd.lastFailureMs - shepherd.killAtMs,
        baseline.killAtMs < 0 ? 0 : baseline.lastFailureMs - baseline.killAtMs);
    report.row("burstMs", "time to the last report", "ms", shepherd.lastMs, baseline.lastMs);

    int points = Math.max(shepherd.jvms.size(), baseline.jvms.size());
    List<Double> xs = new ArrayList<>();
    for (int i = 0; i < points; i++) {
      xs.add(i * SAMPLE_MS / 1000.0);
    }
    report.chart(new ScenarioReport.Chart("time since the burst started", "s", "JVMs and reports", "count", xs, List.of(
        new ScenarioReport.Series("Shepherd runner JVMs", "shepherd", padded(shepherd.jvms, points)),
        new ScenarioReport.Series("Shepherd reports running", "shepherd", padded(shepherd.busy, points)),
        new ScenarioReport.Series("one JVM per report: JVMs alive", "baseline", padded(baseline.jvms, points)))));
    report.caption(reports + " reports ran on " + boots[0] + " runner JVMs booted from zero (never more than " + shepherd.peak
        + " at once) and all retired when idle; " + (kill ? "the kill failed " + shepherd.failed.get()
        + " report(s) at once and a replacement served the rest. " : "") + "One JVM per report booted " + reports + ".");
  }

  private static Side0 baseline(int reports, int holdMs, double killAfterMs, ScenarioReport report) throws Exception {
    Side0 side = new Side0();
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    String classpath = System.getProperty("java.class.path");
    long start = System.nanoTime();
    List<Process> processes = new ArrayList<>();
    report.event(Side.BASELINE, "start", reports + " JVMs started, one per report");
    try {
      for (int i = 0; i < reports; i++) {
        processes.add(new ProcessBuilder(java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto", "-cp", classpath,
            OneShotReport.class.getName(), Long.toString(UP_TO), Integer.toString(holdMs))
            .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start());
      }
      List<CompletableFuture<Void>> exits = new ArrayList<>();
      for (int i = 0; i < processes.size(); i++) {
        int n = i + 1;
        exits.add(processes.get(i).onExit().thenAccept(p -> {
          double at = ScenarioReport.msSince(start);
          if (p.exitValue() == 0) {
            side.done.incrementAndGet();
            report.event(Side.BASELINE, "report", "report " + n + " done, its JVM exits");
          } else {
            side.failed.incrementAndGet();
            side.lastFailureMs = at;
            report.event(Side.BASELINE, "failure", "report " + n + " failed: its JVM ended with " + p.exitValue());
          }
          side.lastMs = Math.max(side.lastMs, at);
        }));
      }
      CompletableFuture<Void> allExited = CompletableFuture.allOf(exits.toArray(CompletableFuture[]::new));
      boolean killed = killAfterMs < 0;
      while (!allExited.isDone()) {
        long alive = processes.stream().filter(Process::isAlive).count();
        side.jvms.add((double) alive);
        side.busy.add((double) alive);
        side.peak = (int) Math.max(side.peak, alive);
        if (!killed && ScenarioReport.msSince(start) >= killAfterMs) {
          killed = true;
          Optional<Process> victim = processes.stream().filter(Process::isAlive).findFirst();
          if (victim.isPresent()) {
            side.killAtMs = ScenarioReport.msSince(start);
            victim.get().destroyForcibly();
            report.event(Side.BASELINE, "kill", "report JVM pid " + victim.get().pid() + " killed (SIGKILL) at the same moment");
          }
        }
        if (ScenarioReport.msSince(start) > 40_000) {
          throw new IllegalStateException("the one-JVM-per-report baseline did not finish within 40 s");
        }
        Thread.sleep(SAMPLE_MS);
      }
      side.jvms.add(0.0);
      side.busy.add(0.0);
      report.event(Side.BASELINE, "done", "burst over: " + side.done.get() + " done, " + side.failed.get() + " failed");
    } finally {
      processes.forEach(Process::destroyForcibly);
    }
    return side;
  }

  private static List<@Nullable Double> padded(List<Double> values, int size) {
    List<@Nullable Double> out = new ArrayList<>(values);
    while (out.size() < size) {
      out.add(null);
    }
    return out;
  }

  private static String kind(PoolEvent e) {
    return switch (e) {
      case PoolEvent.BootStarted b -> "boot";
      case PoolEvent.BootSucceeded b -> "boot";
      case PoolEvent.BootFailed b -> "failure";
      case PoolEvent.RunnerDied d -> "failure";
      case PoolEvent.RunnerRetired r -> "retire";
    };
  }

  private static String describe(PoolEvent e) {
    return switch (e) {
      case PoolEvent.BootStarted b -> "runner " + b.runnerId() + " boots (" + b.count() + " runner(s))";
      case PoolEvent.BootSucceeded b -> "runner " + b.runnerId() + " up in " + b.took().toMillis() + " ms";
      case PoolEvent.BootFailed b -> "runner " + b.runnerId() + " failed to boot: " + b.cause().getMessage();
      case PoolEvent.RunnerDied d -> "runner " + d.runnerId() + " died; its calls failed at once";
      case PoolEvent.RunnerRetired r -> "runner " + r.runnerId() + " retired (" + r.reason().name().toLowerCase(java.util.Locale.ROOT)
          + "), " + r.count() + " left";
    };
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void await(String what, java.util.function.BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(40).toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() - deadline > 0) {
        throw new IllegalStateException("not within 40 s: " + what);
      }
      Thread.sleep(10);
    }
  }
}
