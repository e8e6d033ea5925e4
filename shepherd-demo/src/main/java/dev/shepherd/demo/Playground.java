package dev.shepherd.demo;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;

/**
 * Runs the playground's scenarios: at most one run per scenario at a time, each on its own thread,
 * interrupted when it passes its scenario's bound; keeps the latest run of each for the page and
 * {@code /api/playground}.
 *
 * <p>A scenario's slot is either free or held by one {@link Run}: {@link #start} takes it with a
 * compare-and-set (a second start gets {@link Start.Busy} naming the run that holds it), and the run's
 * thread gives it back when it ends, after publishing its result as the latest. Thread-safe.
 */
final class Playground implements AutoCloseable {

  /** The answer to a start request. */
  sealed interface Start {
    /** The run started. */
    record Started(Run run) implements Start {}

    /** A run of that scenario is still going. */
    record Busy(Run running) implements Start {}
  }

  /** One run of a scenario; {@code state} goes running, then done or failed, once. */
  static final class Run {
    final long id;
    final Scenario scenario;
    final Instant startedAt = Instant.now();
    final long startNanos = System.nanoTime();
    final Map<String, Object> parameters;
    final ScenarioReport report = new ScenarioReport();
    private volatile String state = "running";
    private volatile @Nullable String error;
    private volatile long tookMs = -1;

    Run(long id, Scenario scenario, Map<String, Object> parameters) {
      this.id = id;
      this.scenario = scenario;
      this.parameters = parameters;
    }

    String state() {
      return state;
    }

    long runningForMs() {
      return (System.nanoTime() - startNanos) / 1_000_000;
    }

    Map<String, Object> toMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("name", scenario.name());
      m.put("title", scenario.title());
      m.put("runId", id);
      m.put("state", state);
      m.put("startedAt", startedAt.toString());
      m.put("tookMs", tookMs);
      m.put("boundMs", scenario.bound().toMillis());
      m.put("parameters", parameters);
      m.put("error", error);
      if (!state.equals("running")) {
        m.putAll(report.toMap());
      }
      return m;
    }
  }

  private final Map<String, Scenario> scenarios = new LinkedHashMap<>();
  private final Map<String, Run> running = new ConcurrentHashMap<>();
  private final Map<String, Run> latest = new ConcurrentHashMap<>();
  private final AtomicLong runIds = new AtomicLong();
  private final List<Thread> threads = new ArrayList<>();

  Playground(List<Scenario> list) {
    for (Scenario s : list) {
      scenarios.put(s.name(), s);
    }
  }

  /** The scenario names, in page order. */
  List<String> names() {
    return List.copyOf(scenarios.keySet());
  }

  @Nullable Scenario scenario(String name) {
    return scenarios.get(name);
  }

  boolean isRunning(String name) {
    return running.containsKey(name);
  }

  /**
   * Starts a run of {@code name} unless one is going.
   *
   * @throws IllegalArgumentException on an unknown scenario or a bad parameter, naming it
   */
  Start start(String name, JsonNode body) {
    Scenario scenario = scenarios.get(name);
    if (scenario == null) {
      throw new IllegalArgumentException("no scenario '" + name + "'; there are " + String.join(", ", scenarios.keySet()));
    }
    Map<String, Object> parameters = scenario.parameters(body);
    Run run = new Run(runIds.incrementAndGet(), scenario, parameters);
    Run current = running.putIfAbsent(name, run);
    if (current != null) {
      return new Start.Busy(current);
    }
    Thread thread = Thread.ofVirtual().name("playground-" + name + "-" + run.id).unstarted(() -> execute(run));
    Thread watchdog = Thread.ofVirtual().name("playground-" + name + "-bound").unstarted(() -> {
      try {
        thread.join(scenario.bound());
        if (thread.isAlive()) {
          run.report.event(ScenarioReport.Side.RUN, "failure", "the run passed its bound of "
              + scenario.bound().toSeconds() + " s and was interrupted");
          thread.interrupt();
        }
      } catch (InterruptedException e) {
        thread.interrupt();
      }
    });
    synchronized (threads) {
      threads.removeIf(t -> !t.isAlive());
      threads.add(thread);
      threads.add(watchdog);
    }
    thread.start();
    watchdog.start();
    return new Start.Started(run);
  }

  private void execute(Run run) {
    try {
      run.scenario.run(run.parameters, run.report);
      run.tookMs = run.runningForMs();
      run.state = "done";
    } catch (InterruptedException e) {
      run.error = "interrupted after " + run.runningForMs() + " ms (the run's bound is "
          + run.scenario.bound().toSeconds() + " s)";
      run.state = "failed";
    } catch (Exception | AssertionError e) {
      run.error = e.getClass().getSimpleName() + ": " + e.getMessage();
      run.state = "failed";
    } finally {
      if (run.tookMs < 0) {
        run.tookMs = run.runningForMs();
      }
      latest.put(run.scenario.name(), run);
      running.remove(run.scenario.name(), run);
    }
  }

  /** The running run of {@code name}, else its latest, as JSON; empty state "never" if none. */
  Map<String, Object> status(String name) {
    Run run = running.get(name);
    if (run == null) {
      run = latest.get(name);
    }
    if (run == null) {
      Scenario scenario = scenarios.get(name);
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("name", name);
      m.put("title", scenario == null ? "" : scenario.title());
      m.put("state", "never");
      return m;
    }
    return run.toMap();
  }

  Map<String, Object> statusOfAll() {
    Map<String, Object> all = new LinkedHashMap<>();
    for (String name : scenarios.keySet()) {
      all.put(name, status(name));
    }
    return all;
  }

  @Override
  public void close() {
    List<Thread> copy;
    synchronized (threads) {
      copy = new ArrayList<>(threads);
    }
    copy.forEach(Thread::interrupt);
    for (Thread t : copy) {
      try {
        t.join(10_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
    for (Scenario s : scenarios.values()) {
      if (s instanceof AutoCloseable c) {
        try {
          c.close();
        } catch (Exception e) {
          System.err.println("shepherd demo: closing the " + s.name() + " scenario failed: " + e);
        }
      }
    }
  }
}
