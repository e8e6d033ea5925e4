package dev.shepherd.spring.boot.autoconfigure.internal;

import java.util.Map;
import org.springframework.boot.autoconfigure.condition.ConditionOutcome;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.context.annotation.ConditionContext;

/**
 * The check behind the conditions that turn a capability on when at least one entry is configured
 * under a map property ({@code shepherd.replica.replicas.<name>}, {@code shepherd.watch.keys.<name>}).
 */
public final class ConfiguredEntries {
  private ConfiguredEntries() {}

  /**
   * Matches when the environment binds at least one entry under {@code property}.
   *
   * @param context the condition's context, whose environment is read
   * @param property the map property, for example {@code shepherd.watch.keys}
   * @param valueType the type each entry binds to
   * @param one what an entry is, for the message when there is none (for example {@code key})
   * @param many what the entries are, for the message naming them (for example {@code keys})
   * @return a match naming the entries, or no match
   */
  public static ConditionOutcome outcome(ConditionContext context, String property, Class<?> valueType, String one,
      String many) {
    Map<String, ?> entries = Binder.get(context.getEnvironment())
        .bind(property, Bindable.mapOf(String.class, valueType))
        .orElse(Map.of());
    return entries.isEmpty()
        ? ConditionOutcome.noMatch("no " + one + " under " + property)
        : ConditionOutcome.match(many + " " + entries.keySet() + " under " + property);
  }
}
