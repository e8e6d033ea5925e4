package dev.shepherd.spring.boot.autoconfigure.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shepherd.pool.ElasticPool;
import dev.shepherd.pool.FunctionRegistry;
import dev.shepherd.pool.LocalBackend;
import dev.shepherd.pool.RunnerFunction;
import dev.shepherd.spring.boot.autoconfigure.Failures;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.stereotype.Component;

/** Pools from properties, their functions from the application's beans. */
class ShepherdPoolAutoConfigurationTest {

  @Configuration(proxyBeanMethods = false)
  static class Functions {
    @Bean
    RunnerFunction square() {
      return x -> (Long) x * (Long) x;
    }

    @Bean
    RunnerFunction negate() {
      return x -> -(Long) x;
    }
  }

  @Configuration(proxyBeanMethods = false)
  static class OwnPool {
    @Bean(destroyMethod = "close")
    ElasticPool squares() {
      return ElasticPool.builder().name("own").backend(LocalBackend.of(FunctionRegistry.builder().build())).build();
    }
  }

  /** A service that happens to carry the pool's name, as a component-scanned {@code Squares} class would. */
  @Component("squares")
  static class SquaresService {}

  @Configuration(proxyBeanMethods = false)
  static class SquaresBean {
    @Bean
    StringBuilder squares() {
      return new StringBuilder();
    }
  }

  private final ApplicationContextRunner runner = new ApplicationContextRunner()
      .withConfiguration(AutoConfigurations.of(ShepherdPoolAutoConfiguration.class))
      .withUserConfiguration(Functions.class)
      .withPropertyValues("shepherd.pool.pools.squares.max=2", "shepherd.pool.pools.squares.max-concurrency=4",
          "shepherd.pool.pools.squares.functions=square");

  @Test
  void aPoolFromPropertiesCallsTheApplicationsFunctionBeans() {
    runner.run(context -> {
      ElasticPool pool = context.getBean("squares", ElasticPool.class);
      assertThat(pool.call("square", 3L, Duration.ofSeconds(30))).isEqualTo(9L);
      assertThat(pool.snapshot().max()).isEqualTo(2);
      assertThat(pool.snapshot().maxConcurrency()).isEqualTo(4);
      assertThatThrownBy(() -> pool.call("negate", 3L, Duration.ofSeconds(30)))
          .as("only the functions listed").isInstanceOf(IllegalArgumentException.class);
    });
  }

  @Test
  void withoutAFunctionListEveryFunctionBeanIsRegistered() {
    runner.withPropertyValues("shepherd.pool.pools.all.max=1").run(context ->
        assertThat(context.getBean("all", ElasticPool.class).call("negate", 3L, Duration.ofSeconds(30))).isEqualTo(-3L));
  }

  @Test
  void absentWithoutPools() {
    new ApplicationContextRunner().withConfiguration(AutoConfigurations.of(ShepherdPoolAutoConfiguration.class))
        .run(context -> assertThat(context).doesNotHaveBean(ElasticPool.class));
  }

  @Test
  void absentWhenDisabled() {
    runner.withPropertyValues("shepherd.pool.enabled=false")
        .run(context -> assertThat(context).hasNotFailed().doesNotHaveBean(ElasticPool.class));
  }

  @Test
  void backsOffForABeanOfTheSameName() {
    runner.withUserConfiguration(OwnPool.class)
        .run(context -> assertThat(context.getBean("squares", ElasticPool.class).snapshot().name()).isEqualTo("own"));
  }

  @Test
  void aBeanOfAnotherTypeUnderThePoolsNameStopsTheStartNamingThePropertyAndTheBean() {
    runner.withUserConfiguration(SquaresService.class).run(context -> assertThat(Failures.of(context))
        .contains("shepherd.pool.pools.squares", "already has a bean of that name", SquaresService.class.getName()));
    runner.withUserConfiguration(SquaresBean.class).run(context -> assertThat(Failures.of(context))
        .contains("shepherd.pool.pools.squares", "already has a bean of that name", StringBuilder.class.getName()));
  }

  @Test
  void poolsAreClosedOnShutdown() {
    AtomicReference<ElasticPool> pool = new AtomicReference<>();
    runner.run(context -> pool.set(context.getBean("squares", ElasticPool.class)));
    assertThatThrownBy(() -> pool.get().call("square", 3L, Duration.ofSeconds(5))).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void misconfiguredStopsTheStartNamingTheProperty() {
    runner.withPropertyValues("shepherd.pool.pools.squares.functions=cube")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.pool.pools.squares.functions").contains("cube"));
    runner.withPropertyValues("shepherd.pool.pools.squares.max=0")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.pool.pools.squares.max"));
    runner.withPropertyValues("shepherd.pool.pools.squares.min=3")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.pool.pools.squares.min", "at most max (2)"));
    runner.withPropertyValues("shepherd.pool.pools.squares.backend=process")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.pool.pools.squares.functions-factory"));
  }
}
