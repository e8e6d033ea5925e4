package dev.shepherd.demo;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.DoubleSupplier;

/**
 * The figures the dashboard shows, grouped by capability: each is a live reading of a counter or
 * gauge. The dashboard charts a counter as its rate per second and a gauge as it is.
 *
 * <p>{@link #sample()} runs once a second and keeps the last {@value #HISTORY} readings of every
 * figure (a counter's as its increase over that second), so a freshly opened dashboard draws its
 * charts over the last five minutes at once.
 *
 * <p>Thread-safe: figures are registered at start-up and read by every {@code /api/stats} request.
 */
final class Figures {

  /** Seconds of history kept per figure. */
  static final int HISTORY = 300;

  /** How a figure is charted. */
  enum Kind {
    COUNTER, GAUGE
  }

  /** One figure: a stable key (the DOM id is {@code fig-<key>}), a label, a unit and its reading. */
  record Figure(String group, String key, String label, String unit, Kind kind, DoubleSupplier value) {}

  private final List<Figure> figures = new CopyOnWriteArrayList<>();
  private final Map<String, String> groupTitles = new LinkedHashMap<>();
  private final Map<String, double[]> history = new java.util.HashMap<>();
  private final Map<String, Double> lastTotal = new java.util.HashMap<>();
  private int samples;

  /** Records one reading of every figure; call once a second. */
  synchronized void sample() {
    int slot = samples % HISTORY;
    for (Figure f : figures) {
      double v = read(f);
      if (f.kind() == Kind.COUNTER) {
        Double previous = lastTotal.put(f.key(), v);
        v = previous == null || !Double.isFinite(v) ? 0 : Math.max(0, v - previous);
      }
      history.computeIfAbsent(f.key(), k -> new double[HISTORY])[slot] = Double.isFinite(v) ? v : 0;
    }
    samples++;
  }

  private static double read(Figure f) {
    try {
      return f.value().getAsDouble();
    } catch (RuntimeException e) {
      return Double.NaN;
    }
  }

  private synchronized double[] history(String key) {
    double[] ring = history.get(key);
    int count = Math.min(samples, HISTORY);
    if (ring == null) {
      return new double[0];
    }
    double[] ordered = new double[count];
    for (int i = 0; i < ordered.length; i++) {
      ordered[i] = ring[(samples - count + i) % HISTORY];
    }
    return ordered;
  }

  synchronized void group(String id, String title) {
    groupTitles.put(id, title);
  }

  void counter(String group, String key, String label, DoubleSupplier value) {
    figures.add(new Figure(group, key, label, "", Kind.COUNTER, value));
  }

  void gauge(String group, String key, String label, String unit, DoubleSupplier value) {
    figures.add(new Figure(group, key, label, unit, Kind.GAUGE, value));
  }

  /** Renders every figure as the JSON document of {@code /api/stats}. */
  String toJson(long uptimeSeconds) {
    Map<String, String> titles;
    synchronized (this) {
      titles = new LinkedHashMap<>(groupTitles);
    }
    List<Map<String, Object>> groups = new ArrayList<>();
    for (Map.Entry<String, String> group : titles.entrySet()) {
      List<Map<String, Object>> members = new ArrayList<>();
      for (Figure f : figures) {
        if (f.group().equals(group.getKey())) {
          double v = read(f);
          Map<String, Object> figure = new LinkedHashMap<>();
          figure.put("key", f.key());
          figure.put("label", f.label());
          figure.put("unit", f.unit());
          figure.put("kind", f.kind().name().toLowerCase(java.util.Locale.ROOT));
          figure.put("value", Double.isFinite(v) ? v : null);
          figure.put("history", history(f.key()));
          members.add(figure);
        }
      }
      Map<String, Object> entry = new LinkedHashMap<>();
      entry.put("id", group.getKey());
      entry.put("title", group.getValue());
      entry.put("figures", members);
      groups.add(entry);
    }
    Map<String, Object> document = new LinkedHashMap<>();
    document.put("uptimeSeconds", uptimeSeconds);
    document.put("groups", groups);
    try {
      return Json.MAPPER.writeValueAsString(document);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException("cannot render the dashboard figures", e);
    }
  }
}
