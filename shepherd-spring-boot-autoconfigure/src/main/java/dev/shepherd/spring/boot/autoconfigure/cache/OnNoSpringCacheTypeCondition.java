package dev.shepherd.spring.boot.autoconfigure.cache;

import org.springframework.boot.autoconfigure.condition.ConditionMessage;
import org.springframework.boot.autoconfigure.condition.ConditionOutcome;
import org.springframework.boot.autoconfigure.condition.SpringBootCondition;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.context.annotation.ConditionContext;
import org.springframework.core.type.AnnotatedTypeMetadata;

/**
 * Matches while {@code spring.cache.type} is unset. Spring Boot's cache auto-configuration reads
 * that property to pick one of its own cache managers ({@code none} for caching off); none of its
 * values names Shepherd's, so any value means the application chose one of Boot's, and Shepherd's
 * steps aside for it. An empty value counts as unset, as it does for Boot.
 */
final class OnNoSpringCacheTypeCondition extends SpringBootCondition {

  @Override
  public ConditionOutcome getMatchOutcome(ConditionContext context, AnnotatedTypeMetadata metadata) {
    ConditionMessage.Builder message = ConditionMessage.forCondition("spring.cache.type");
    String type = Binder.get(context.getEnvironment()).bind("spring.cache.type", String.class).orElse("");
    return type.isBlank()
        ? ConditionOutcome.match(message.because("unset"))
        : ConditionOutcome.noMatch(message.because("set to " + type + ", one of Spring Boot's cache managers"));
  }
}
