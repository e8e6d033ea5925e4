package dev.shepherd.demo;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The pool scenario's baseline: one JVM started for one report, which prints the result and exits,
 * the way a service without a pool of runners would shell out.
 */
public final class OneShotReport {

  private OneShotReport() {}

  /**
   * Runs one report.
   *
   * @param args {@code upTo holdMs}
   */
  public static void main(String[] args) {
    Map<String, Object> argument = new LinkedHashMap<>();
    argument.put("upTo", Long.parseLong(args[0]));
    argument.put("holdMs", Long.parseLong(args[1]));
    System.out.println(DemoFunctions.report(argument));
  }
}
