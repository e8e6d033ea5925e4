package dev.shepherd.spring.boot.autoconfigure.actuate;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.InMemoryIdempotencyStore;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.health.contributor.Status;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/**
 * The idempotency store's health contributor is switched like the others, by
 * {@code management.health.shepherd-idempotency.enabled}; the camel-case name it was first
 * documented under, and the defaults switch, still work.
 */
class IdempotencyHealthSwitchTest {

  private static final String CONTRIBUTOR = "shepherdIdempotencyHealthContributor";

  private final ApplicationContextRunner runner = new ApplicationContextRunner()
      .withConfiguration(AutoConfigurations.of(ShepherdHealthAutoConfiguration.class))
      .withBean(IdempotencyStore.class, InMemoryIdempotencyStore::create);

  @Test
  void onByDefaultAndUpForAStoreThatAnswers() {
    runner.run(context -> assertThat(context.getBean(CONTRIBUTOR, HealthIndicator.class).health().getStatus())
        .isEqualTo(Status.UP));
  }

  @Test
  void offWithTheKebabCaseSwitchLikeTheOtherShepherdIndicators() {
    runner.withPropertyValues("management.health.shepherd-idempotency.enabled=false")
        .run(context -> assertThat(context).hasNotFailed().doesNotHaveBean(CONTRIBUTOR));
    runner.withPropertyValues("management.health.shepherd-idempotency.enabled=true")
        .run(context -> assertThat(context).hasBean(CONTRIBUTOR));
  }

  @Test
  void offWithTheCamelCaseSwitchItWasFirstDocumentedUnder() {
    runner.withPropertyValues("management.health.shepherdIdempotency.enabled=false")
        .run(context -> assertThat(context).hasNotFailed().doesNotHaveBean(CONTRIBUTOR));
  }

  @Test
  void theDefaultsSwitchTurnsItOffAndItsOwnSwitchWins() {
    runner.withPropertyValues("management.health.defaults.enabled=false")
        .run(context -> assertThat(context).doesNotHaveBean(CONTRIBUTOR));
    runner.withPropertyValues("management.health.defaults.enabled=false", "management.health.shepherd-idempotency.enabled=true")
        .run(context -> assertThat(context).hasBean(CONTRIBUTOR));
  }
}
