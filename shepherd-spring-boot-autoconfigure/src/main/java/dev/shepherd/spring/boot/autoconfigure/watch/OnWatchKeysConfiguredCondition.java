package dev.shepherd.spring.boot.autoconfigure.watch;

import dev.shepherd.spring.boot.autoconfigure.internal.ConfiguredEntries;
import org.springframework.boot.autoconfigure.condition.ConditionOutcome;
import org.springframework.boot.autoconfigure.condition.SpringBootCondition;
import org.springframework.context.annotation.ConditionContext;
import org.springframework.core.type.AnnotatedTypeMetadata;

/** Matches when at least one key is configured under {@code shepherd.watch.keys}. */
final class OnWatchKeysConfiguredCondition extends SpringBootCondition {

  @Override
  public ConditionOutcome getMatchOutcome(ConditionContext context, AnnotatedTypeMetadata metadata) {
    return ConfiguredEntries.outcome(context, "shepherd.watch.keys", ShepherdWatchProperties.Key.class, "key", "keys");
  }
}
