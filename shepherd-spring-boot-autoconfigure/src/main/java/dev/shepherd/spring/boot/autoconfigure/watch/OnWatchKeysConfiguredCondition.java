package dev.shepherd.spring.boot.autoconfigure.watch;

import java.util.Map;
import org.springframework.boot.autoconfigure.condition.ConditionOutcome;
import org.springframework.boot.autoconfigure.condition.SpringBootCondition;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.context.annotation.ConditionContext;
import org.springframework.core.type.AnnotatedTypeMetadata;

/** Matches when at least one key is configured under {@code shepherd.watch.keys}. */
final class OnWatchKeysConfiguredCondition extends SpringBootCondition {

  @Override
  public ConditionOutcome getMatchOutcome(ConditionContext context, AnnotatedTypeMetadata metadata) {
    Map<String, ShepherdWatchProperties.Key> keys = Binder.get(context.getEnvironment())
        .bind("shepherd.watch.keys", Bindable.mapOf(String.class, ShepherdWatchProperties.Key.class))
        .orElse(Map.of());
    return keys.isEmpty()
        ? ConditionOutcome.noMatch("no key under shepherd.watch.keys")
        : ConditionOutcome.match("keys " + keys.keySet() + " under shepherd.watch.keys");
  }
}
