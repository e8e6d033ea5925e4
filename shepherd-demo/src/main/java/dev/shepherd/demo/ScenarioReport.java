package dev.shepherd.demo;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * What one playground scenario found, as the page and {@code /api/playground/{name}} show it: rows
 * that put Shepherd's figure beside the naive baseline's (measured in the same run), one chart, a
 * caption that says what the chart proves, and the run's event timeline.
 *
 * <p>Thread-safe: scenario threads add events and rows while the page reads a snapshot.
 */
final class ScenarioReport {

  /** Timeline entries kept per side; the rest are counted, so a 10,000-caller run stays small. */
  static final int EVENTS_PER_SIDE = 40;

  /** Which run an event or figure belongs to. */
  enum Side {
    SHEPHERD, BASELINE, RUN
  }

  /** One comparison row: a figure measured with Shepherd and without it. */
  record Row(String key, String label, String unit, double shepherd, double baseline) {}

  /** One line of a chart: a label and one value per x, null where the line has no point. */
  record Series(String label, String side, List<@Nullable Double> values) {}

  /** A time series or per-item chart with labelled axes and units. */
  record Chart(String xLabel, String xUnit, String yLabel, String yUnit, List<Double> xs, List<Series> series) {}

  /** Something that happened, at a time since the run started. */
  record Event(double atMs, String side, String kind, String text) {}

  private final long startNanos = System.nanoTime();
  private final List<Row> rows = new ArrayList<>();
  private final List<Event> events = new ArrayList<>();
  private final Map<Side, Integer> dropped = new LinkedHashMap<>();
  private final Map<Side, Integer> kept = new LinkedHashMap<>();
  private final List<String> notes = new ArrayList<>();
  private Chart chart = new Chart("", "", "", "", List.of(), List.of());
  private String caption = "";
  private String baselineName = "without Shepherd";

  /** Milliseconds since the run started. */
  double sinceStartMs() {
    return msSince(startNanos);
  }

  long startNanos() {
    return startNanos;
  }

  static double msSince(long nanos) {
    return Math.round((System.nanoTime() - nanos) / 10_000.0) / 100.0;
  }

  synchronized void event(Side side, String kind, String text) {
    event(sinceStartMs(), side, kind, text);
  }

  synchronized void event(double atMs, Side side, String kind, String text) {
    int count = kept.merge(side, 1, Integer::sum);
    if (count > EVENTS_PER_SIDE) {
      dropped.merge(side, 1, Integer::sum);
      return;
    }
    events.add(new Event(atMs, side.name().toLowerCase(java.util.Locale.ROOT), kind, text));
  }

  synchronized void row(String key, String label, String unit, double shepherd, double baseline) {
    rows.add(new Row(key, label, unit, shepherd, baseline));
  }

  /** A row of counts. */
  void row(String key, String label, String unit, long shepherd, long baseline) {
    row(key, label, unit, (double) shepherd, (double) baseline);
  }

  synchronized void chart(Chart chart) {
    this.chart = chart;
  }

  synchronized void caption(String caption) {
    this.caption = caption;
  }

  synchronized void baselineName(String name) {
    this.baselineName = name;
  }

  synchronized void note(String note) {
    notes.add(note);
  }

  /** Renders the report as the JSON object of its scenario's result. */
  synchronized Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("baselineName", baselineName);
    List<Map<String, Object>> rowMaps = new ArrayList<>();
    for (Row r : rows) {
      Map<String, Object> row = new LinkedHashMap<>();
      row.put("key", r.key());
      row.put("label", r.label());
      row.put("unit", r.unit());
      row.put("shepherd", r.shepherd());
      row.put("baseline", r.baseline());
      rowMaps.add(row);
    }
    m.put("rows", rowMaps);
    m.put("chart", chart);
    m.put("caption", caption);
    List<Event> sorted = new ArrayList<>(events);
    sorted.sort(java.util.Comparator.comparingDouble(Event::atMs));
    m.put("timeline", sorted);
    Map<String, Integer> omitted = new LinkedHashMap<>();
    dropped.forEach((side, n) -> omitted.put(side.name().toLowerCase(java.util.Locale.ROOT), n));
    m.put("timelineOmitted", omitted);
    m.put("notes", List.copyOf(notes));
    return m;
  }

  /**
   * Builds the x values {@code 0, step, 2*step, ... <= endMs} and, for each list of event times
   * (milliseconds since its side's start), how many had happened by each x.
   */
  static Chart cumulative(String xLabel, String xUnit, String yLabel, String yUnit, double endMs,
      Map<String, List<Double>> timesBySeries, Map<String, String> sideOfSeries) {
    int points = 300;
    double step = Math.max(1, Math.ceil(endMs / points));
    List<Double> xs = new ArrayList<>();
    for (double x = 0; x <= endMs + step; x += step) {
      xs.add(x);
    }
    List<Series> series = new ArrayList<>();
    for (Map.Entry<String, List<Double>> e : timesBySeries.entrySet()) {
      List<Double> times = new ArrayList<>(e.getValue());
      times.sort(null);
      List<@Nullable Double> values = new ArrayList<>(xs.size());
      int i = 0;
      for (double x : xs) {
        while (i < times.size() && times.get(i) <= x) {
          i++;
        }
        values.add((double) i);
      }
      series.add(new Series(e.getKey(), sideOfSeries.getOrDefault(e.getKey(), "shepherd"), values));
    }
    return new Chart(xLabel, xUnit, yLabel, yUnit, xs, series);
  }
}
