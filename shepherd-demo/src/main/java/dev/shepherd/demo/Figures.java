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

  private synchronized void appendHistory(StringBuilder json, String key) {
    double[] ring = history.get(key);
    json.append('[');
    int count = Math.min(samples, HISTORY);
    for (int i = 0; i < count && ring != null; i++) {
      if (i > 0) {
        json.append(',');
      }
      json.append(number(ring[(samples - count + i) % HISTORY]));
    }
    json.append(']');
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
    StringBuilder json = new StringBuilder(4_096);
    json.append("{\"uptimeSeconds\":").append(uptimeSeconds).append(",\"groups\":[");
    boolean firstGroup = true;
    for (Map.Entry<String, String> group : titles.entrySet()) {
      List<Figure> members = new ArrayList<>();
      for (Figure f : figures) {
        if (f.group().equals(group.getKey())) {
          members.add(f);
        }
      }
      if (!firstGroup) {
        json.append(',');
      }
      firstGroup = false;
      json.append("{\"id\":").append(quote(group.getKey()))
          .append(",\"title\":").append(quote(group.getValue()))
          .append(",\"figures\":[");
      for (int i = 0; i < members.size(); i++) {
        Figure f = members.get(i);
        double v = read(f);
        if (i > 0) {
          json.append(',');
        }
        json.append("{\"key\":").append(quote(f.key()))
            .append(",\"label\":").append(quote(f.label()))
            .append(",\"unit\":").append(quote(f.unit()))
            .append(",\"kind\":").append(quote(f.kind().name().toLowerCase(java.util.Locale.ROOT)))
            .append(",\"value\":").append(Double.isFinite(v) ? number(v) : "null")
            .append(",\"history\":");
        appendHistory(json, f.key());
        json.append('}');
      }
      json.append("]}");
    }
    return json.append("]}").toString();
  }

  private static String number(double v) {
    return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : String.format(java.util.Locale.ROOT, "%.3f", v);
  }

  static String quote(String s) {
    StringBuilder out = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        default -> {
          if (c < 0x20) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    return out.append('"').toString();
  }
}
