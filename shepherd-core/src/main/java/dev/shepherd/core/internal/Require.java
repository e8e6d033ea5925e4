package dev.shepherd.core.internal;

import java.time.Duration;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * Argument and state checks whose messages name the value and the limit, used by every Shepherd
 * builder and entry point so that bad input is reported the same way everywhere:
 *
 * <pre>{@code
 * Require.positive(timeout, "timeout");   // IllegalArgumentException: timeout must be positive, was PT0S
 * Require.atLeast(max, min, "max");       // IllegalArgumentException: max must be at least 4, was 2
 * }</pre>
 *
 * <p>A null argument is a {@link NullPointerException} whose message names the parameter.
 */
public final class Require {

  private Require() {}

  /**
   * Checks that a value is not null.
   *
   * @param value the value
   * @param name the parameter's name, used in the message
   * @param <T> the value's type
   * @return the value
   * @throws NullPointerException if {@code value} is null: "{@code name} must not be null"
   */
  public static <T> T nonNull(@Nullable T value, String name) {
    if (value == null) {
      throw new NullPointerException(name + " must not be null");
    }
    return value;
  }

  /**
   * Checks that a duration is greater than zero.
   *
   * @param value the duration
   * @param name the parameter's name
   * @return the duration
   * @throws NullPointerException if {@code value} is null
   * @throws IllegalArgumentException if it is zero or negative
   */
  public static Duration positive(@Nullable Duration value, String name) {
    Duration checked = nonNull(value, name);
    if (checked.isZero() || checked.isNegative()) {
      throw new IllegalArgumentException(name + " must be positive, was " + checked);
    }
    return checked;
  }

  /**
   * Checks that a duration is zero or greater.
   *
   * @param value the duration
   * @param name the parameter's name
   * @return the duration
   * @throws NullPointerException if {@code value} is null
   * @throws IllegalArgumentException if it is negative
   */
  public static Duration nonNegative(@Nullable Duration value, String name) {
    Duration checked = nonNull(value, name);
    if (checked.isNegative()) {
      throw new IllegalArgumentException(name + " must not be negative, was " + checked);
    }
    return checked;
  }

  /**
   * Checks that an int is at least a minimum.
   *
   * @param value the value
   * @param min the smallest allowed value
   * @param name the parameter's name
   * @return the value
   * @throws IllegalArgumentException if {@code value < min}
   */
  public static int atLeast(int value, int min, String name) {
    if (value < min) {
      throw new IllegalArgumentException(name + " must be at least " + min + ", was " + value);
    }
    return value;
  }

  /**
   * Checks that a long is at least a minimum.
   *
   * @param value the value
   * @param min the smallest allowed value
   * @param name the parameter's name
   * @return the value
   * @throws IllegalArgumentException if {@code value < min}
   */
  public static long atLeast(long value, long min, String name) {
    if (value < min) {
      throw new IllegalArgumentException(name + " must be at least " + min + ", was " + value);
    }
    return value;
  }

  /**
   * Checks that an int lies in a closed range.
   *
   * @param value the value
   * @param min the smallest allowed value
   * @param max the largest allowed value
   * @param name the parameter's name
   * @return the value
   * @throws IllegalArgumentException if {@code value} is outside {@code [min, max]}
   */
  public static int inRange(int value, int min, int max, String name) {
    if (value < min || value > max) {
      throw new IllegalArgumentException(
          name + " must be between " + min + " and " + max + ", was " + value);
    }
    return value;
  }

  /**
   * Checks that a double lies in a closed range (NaN is rejected).
   *
   * @param value the value
   * @param min the smallest allowed value
   * @param max the largest allowed value
   * @param name the parameter's name
   * @return the value
   * @throws IllegalArgumentException if {@code value} is NaN or outside {@code [min, max]}
   */
  public static double inRange(double value, double min, double max, String name) {
    if (!(value >= min && value <= max)) {
      throw new IllegalArgumentException(
          name + " must be between " + min + " and " + max + ", was " + value);
    }
    return value;
  }

  /**
   * Checks that a string is neither null nor empty.
   *
   * @param value the string
   * @param name the parameter's name
   * @return the string
   * @throws NullPointerException if {@code value} is null
   * @throws IllegalArgumentException if it is empty
   */
  public static String notEmpty(@Nullable String value, String name) {
    String checked = nonNull(value, name);
    if (checked.isEmpty()) {
      throw new IllegalArgumentException(name + " must not be empty");
    }
    return checked;
  }

  /**
   * Checks a condition on an argument.
   *
   * @param condition the condition that must hold
   * @param message the whole message, naming the value and the limit
   * @throws IllegalArgumentException if {@code condition} is false
   */
  public static void argument(boolean condition, String message) {
    if (!condition) {
      throw new IllegalArgumentException(Objects.requireNonNull(message));
    }
  }

  /**
   * Checks a condition on the state of the receiver.
   *
   * @param condition the condition that must hold
   * @param message the whole message, naming the state
   * @throws IllegalStateException if {@code condition} is false
   */
  public static void state(boolean condition, String message) {
    if (!condition) {
      throw new IllegalStateException(Objects.requireNonNull(message));
    }
  }
}
