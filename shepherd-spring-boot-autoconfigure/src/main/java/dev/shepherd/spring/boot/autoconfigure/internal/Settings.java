package dev.shepherd.spring.boot.autoconfigure.internal;

import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;

/**
 * Hands settings to Shepherd's builders so that a value a builder rejects stops the start with an
 * error that names the property ({@code Invalid value ... for configuration property
 * 'shepherd.pool.pools.p.max'}) and keeps the builder's reason.
 */
public final class Settings {
  private Settings() {}

  /**
   * Runs {@code apply}, which hands {@code value} to a builder.
   *
   * @param property the full name of the property, for the error
   * @param value the value, for the error
   * @param apply hands the value to the builder
   * @throws InvalidConfigurationPropertyValueException if the builder rejects the value with an
   *     {@link IllegalArgumentException}
   */
  public static void set(String property, @Nullable Object value, Runnable apply) {
    try {
      apply.run();
    } catch (IllegalArgumentException e) {
      throw new InvalidConfigurationPropertyValueException(property, value, e.getMessage());
    }
  }

  /**
   * Hands {@code value} to {@code apply} when it is set; an unset value leaves the builder's
   * default.
   *
   * @param <T> the type of the value
   * @param property the full name of the property, for the error
   * @param value the value, or null when unset
   * @param apply hands the value to the builder
   * @throws InvalidConfigurationPropertyValueException if the builder rejects the value with an
   *     {@link IllegalArgumentException}
   */
  public static <T> void setIfPresent(String property, @Nullable T value, Consumer<T> apply) {
    if (value != null) {
      set(property, value, () -> apply.accept(value));
    }
  }
}
