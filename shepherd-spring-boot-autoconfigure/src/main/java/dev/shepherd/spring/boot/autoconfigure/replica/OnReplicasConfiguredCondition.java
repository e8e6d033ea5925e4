package dev.shepherd.spring.boot.autoconfigure.replica;

import dev.shepherd.spring.boot.autoconfigure.internal.ConfiguredEntries;
import org.springframework.boot.autoconfigure.condition.ConditionOutcome;
import org.springframework.boot.autoconfigure.condition.SpringBootCondition;
import org.springframework.context.annotation.ConditionContext;
import org.springframework.context.annotation.ConfigurationCondition;
import org.springframework.core.type.AnnotatedTypeMetadata;

/**
 * Matches when at least one replica is configured under {@code shepherd.replica.replicas}, or the
 * application has a bean marked {@link ReplicaDataSource}.
 */
final class OnReplicasConfiguredCondition extends SpringBootCondition implements ConfigurationCondition {

  /** Evaluated once the application's bean definitions are registered, so its annotated beans are seen. */
  @Override
  public ConfigurationPhase getConfigurationPhase() {
    return ConfigurationPhase.REGISTER_BEAN;
  }

  @Override
  public ConditionOutcome getMatchOutcome(ConditionContext context, AnnotatedTypeMetadata metadata) {
    if (context.getBeanFactory() != null
        && context.getBeanFactory().getBeanNamesForAnnotation(ReplicaDataSource.class).length > 0) {
      return ConditionOutcome.match("@ReplicaDataSource beans");
    }
    return ConfiguredEntries.outcome(context, "shepherd.replica.replicas", ShepherdReplicaProperties.Replica.class,
        "replica", "replicas");
  }
}
