package dev.shepherd.core.internal;

import java.math.BigDecimal;
import java.time.Duration;

/**
 * Go's duration text ({@code 10s}, {@code 5m}, {@code 1m30s}, {@code 250ms}, {@code 1.5h}), the
 * form Consul's {@code ?wait=} and Shepherd's command-line flags take. Not API: shared by
 * Shepherd's modules only.
 *
 * <p>Grammar (as Go's {@code time.ParseDuration}): an optional sign, then one or more decimal
 * numbers each followed by a unit ({@code ns}, {@code us}/{@code µs}, {@code ms}, {@code s},
 * {@code m}, {@code h}); a bare {@code 0} is zero. The text is at most {@link #MAX_LENGTH}
 * characters, so a hostile query string cannot make the parser work on megabytes. Results beyond
 * {@code Long.MAX_VALUE} nanoseconds saturate.
 */
public final class GoDuration {

  /** The longest text accepted, in characters. */
  public static final int MAX_LENGTH = 64;

  private GoDuration() {}

  /**
   * Parses a Go duration.
   *
   * @param text the text, such as {@code 10s}
   * @return the duration, possibly negative
   * @throws NullPointerException if {@code text} is null
   * @throws IllegalArgumentException if the text is not a Go duration or is longer than
   *     {@link #MAX_LENGTH} (the message quotes it, cut to that length)
   */
  public static Duration parse(String text) {
    if (text.length() > MAX_LENGTH) {
      throw bad(text);
    }
    String s = text.trim();
    if (s.isEmpty()) {
      throw bad(text);
    }
    boolean negative = false;
    int i = 0;
    if (s.charAt(0) == '-' || s.charAt(0) == '+') {
      negative = s.charAt(0) == '-';
      i = 1;
    }
    if (s.substring(i).equals("0")) {
      return Duration.ZERO;
    }
    if (i >= s.length()) {
      throw bad(text);
    }
    BigDecimal nanos = BigDecimal.ZERO;
    while (i < s.length()) {
      int start = i;
      while (i < s.length() && (isDigit(s.charAt(i)) || s.charAt(i) == '.')) {
        i++;
      }
      if (start == i) {
        throw bad(text);
      }
      BigDecimal number;
      try {
        number = new BigDecimal(s.substring(start, i));
      } catch (NumberFormatException e) {
        throw bad(text);
      }
      int unitStart = i;
      while (i < s.length() && !isDigit(s.charAt(i)) && s.charAt(i) != '.') {
        i++;
      }
      long unit = switch (s.substring(unitStart, i)) {
        case "ns" -> 1L;
        case "us", "\u00b5s", "\u03bcs" -> 1_000L;
        case "ms" -> 1_000_000L;
        case "s" -> 1_000_000_000L;
        case "m" -> 60_000_000_000L;
        case "h" -> 3_600_000_000_000L;
        default -> throw bad(text);
      };
      nanos = nanos.add(number.multiply(BigDecimal.valueOf(unit)));
    }
    if (nanos.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) > 0) {
      nanos = BigDecimal.valueOf(Long.MAX_VALUE);
    }
    long n = nanos.longValue();
    return Duration.ofNanos(negative ? -n : n);
  }

  /**
   * Parses a Go duration that must not be negative, naming the parameter in the error.
   *
   * @param text the text
   * @param name the parameter's name, for the message
   * @return the duration, zero or more
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException naming {@code name} if the text is not a Go duration or is
   *     negative
   */
  public static Duration parseNonNegative(String text, String name) {
    Duration d;
    try {
      d = parse(text);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(name + ": " + e.getMessage(), e);
    }
    if (d.isNegative()) {
      throw new IllegalArgumentException(name + " must not be negative, was '" + text + "'");
    }
    return d;
  }

  /**
   * Formats a non-negative duration in whole milliseconds, rounding up ({@code 300000ms}): Go
   * parses it, and no precision a server uses is lost.
   *
   * @param duration the duration, zero or more
   * @return the text
   */
  public static String format(Duration duration) {
    long millis = duration.toMillis();
    if (duration.minusMillis(millis).isPositive()) {
      millis++;
    }
    return millis + "ms";
  }

  private static boolean isDigit(char c) {
    return c >= '0' && c <= '9';
  }

  private static IllegalArgumentException bad(String text) {
    String shown = text.length() > MAX_LENGTH ? text.substring(0, MAX_LENGTH) + "..." : text;
    return new IllegalArgumentException("not a duration: '" + shown
        + "' (expected Go syntax such as 10s, 5m, 250ms)");
  }
}
