package dev.shepherd.watch;

import java.math.BigDecimal;
import java.time.Duration;

/** Go's duration text ("10s", "5m", "1m30s", "250ms"), as Consul's {@code ?wait=} takes it. */
final class GoDuration {

  private GoDuration() {}

  /**
   * Parses a Go duration.
   *
   * @throws IllegalArgumentException if the text is not a Go duration (the message quotes it)
   */
  static Duration parse(String text) {
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
    BigDecimal nanos = BigDecimal.ZERO;
    if (i >= s.length()) {
      throw bad(text);
    }
    while (i < s.length()) {
      int start = i;
      while (i < s.length() && (Character.isDigit(s.charAt(i)) || s.charAt(i) == '.')) {
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
      while (i < s.length() && !Character.isDigit(s.charAt(i)) && s.charAt(i) != '.') {
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

  /** Formats a non-negative duration in milliseconds, rounding up ("300000ms"). */
  static String format(Duration duration) {
    long millis = duration.toMillis();
    if (duration.minusMillis(millis).isPositive()) {
      millis++;
    }
    return millis + "ms";
  }

  private static IllegalArgumentException bad(String text) {
    return new IllegalArgumentException("not a duration: '" + text
        + "' (expected Go syntax such as 10s, 5m, 250ms)");
  }
}
