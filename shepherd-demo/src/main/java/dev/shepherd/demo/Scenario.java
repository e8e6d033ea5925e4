package dev.shepherd.demo;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One playground scenario: a capability doing its job under a bounded burst, measured beside the
 * naive code it replaces. {@link Playground} runs at most one of each at a time.
 */
interface Scenario {

  /** The name in URLs and on the command line, e.g. {@code cache}. */
  String name();

  /** A one-line title for the page and the terminal. */
  String title();

  /** The hard bound of one run: the runner is interrupted after it. */
  Duration bound();

  /**
   * Reads and checks the run's parameters, filling in defaults.
   *
   * @param body the JSON object posted by the page or the terminal (may be empty)
   * @return the parameters the run uses, as shown with its result
   * @throws IllegalArgumentException naming the parameter and its bounds when one is out of range
   */
  Map<String, Object> parameters(JsonNode body);

  /**
   * Runs the scenario, filling in the report as it goes.
   *
   * @param parameters what {@link #parameters} returned
   * @param report where rows, the chart, the caption and events go
   * @throws Exception if the run fails; the page shows the message
   */
  void run(Map<String, Object> parameters, ScenarioReport report) throws Exception;

  /**
   * Reads every parameter of {@code specs} from {@code body}, in order, filling in defaults.
   *
   * @param body the posted JSON object (may be empty)
   * @param specs the scenario's parameters
   * @return each parameter's name and value, in the order of {@code specs}
   * @throws IllegalArgumentException naming the first parameter that is out of range
   */
  static Map<String, Object> read(JsonNode body, List<Param> specs) {
    Map<String, Object> read = new LinkedHashMap<>();
    for (Param spec : specs) {
      read.put(spec.name(), spec.read(body.path(spec.name())));
    }
    return read;
  }

  /** One bounded parameter of a scenario: its name, default and allowed values. */
  sealed interface Param {

    /** The name in the posted JSON and on the command line. */
    String name();

    /** Reads the value from its JSON node (missing or null: the default), checking its bounds. */
    Object read(JsonNode node);

    /** A whole number between {@code min} and {@code max}, {@code fallback} when absent. */
    static Param whole(String name, int fallback, int min, int max) {
      return new Whole(name, fallback, min, max);
    }

    /** One of {@code allowed}, {@code fallback} when absent. */
    static Param choice(String name, String fallback, String... allowed) {
      return new Choice(name, fallback, List.of(allowed));
    }
  }

  /** A whole-number parameter. */
  record Whole(String name, int fallback, int min, int max) implements Param {
    @Override
    public Object read(JsonNode node) {
      long value;
      if (node.isMissingNode() || node.isNull()) {
        value = fallback;
      } else if ((node.isIntegralNumber() && node.canConvertToInt()) || (node.isTextual() && node.asText().matches("-?\\d{1,10}"))) {
        value = node.asLong();
      } else {
        throw new IllegalArgumentException(name + " must be a whole number between " + min + " and " + max
            + ", was " + node);
      }
      if (value < min || value > max) {
        throw new IllegalArgumentException(name + " must be between " + min + " and " + max + ", was " + value);
      }
      return (int) value;
    }
  }

  /** A parameter that takes one of a few words. */
  record Choice(String name, String fallback, List<String> allowed) implements Param {
    @Override
    public Object read(JsonNode node) {
      String value = node.isMissingNode() || node.isNull() ? fallback : node.asText();
      if (allowed.contains(value)) {
        return value;
      }
      throw new IllegalArgumentException(name + " must be one of " + String.join(", ", allowed)
          + ", was '" + (value.length() > 40 ? value.substring(0, 40) + "..." : value) + "'");
    }
  }

  static int integer(Map<String, Object> parameters, String name) {
    if (!(parameters.get(name) instanceof Integer value)) {
      throw new IllegalStateException("parameter " + name + " was not read as a whole number");
    }
    return value;
  }

  static String text(Map<String, Object> parameters, String name) {
    if (!(parameters.get(name) instanceof String value)) {
      throw new IllegalStateException("parameter " + name + " was not read as a choice");
    }
    return value;
  }

  static Duration millis(Map<String, Object> parameters, String name) {
    return Duration.ofMillis(integer(parameters, name));
  }
}
