package dev.shepherd.spring.boot.autoconfigure;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.InMemoryIdempotencyStore;
import dev.shepherd.idempotency.JdbcIdempotencyStore;
import dev.shepherd.pool.ElasticPool;
import dev.shepherd.pool.RunnerFunction;
import dev.shepherd.replica.ConsistencyTokenCodec;
import dev.shepherd.replica.ReplicaRouter;
import dev.shepherd.spring.boot.autoconfigure.cache.CoalescingCacheListener;
import dev.shepherd.spring.boot.autoconfigure.cache.CoalescingCacheManager;
import dev.shepherd.spring.boot.autoconfigure.replica.ShepherdReplicas;
import dev.shepherd.spring.boot.autoconfigure.watch.ShepherdWatches;
import dev.shepherd.testing.EtcdServer;
import dev.shepherd.testing.PostgresCluster;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration;
import org.springframework.boot.micrometer.metrics.autoconfigure.MetricsAutoConfiguration;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.assertj.AssertableApplicationContext;
import org.springframework.boot.test.context.assertj.AssertableWebApplicationContext;
import org.springframework.boot.test.context.runner.AbstractApplicationContextRunner;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.boot.test.context.runner.WebApplicationContextRunner;
import org.springframework.cache.annotation.EnableCaching;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Every Shepherd auto-configuration (as the imports file lists them) in one application, with each
 * optional library hidden from the application's class loader in turn: the context starts, the
 * beans of that library are absent and every other capability is still there, or, where the
 * application asked for what the library does, the start stops naming the property and the
 * dependency to add. {@link FilteredClassLoader} hides a library from Spring's class conditions and
 * from Shepherd's own class checks (which ask the application's class loader); the classes of the
 * auto-configurations themselves still link against the test's class path.
 */
class OptionalDependenciesTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();
  @RegisterExtension static final EtcdServer etcd = EtcdServer.create();

  @Configuration(proxyBeanMethods = false)
  @EnableCaching
  static class App {
    @Bean
    RunnerFunction echo() {
      return x -> x;
    }
  }

  @Configuration(proxyBeanMethods = false)
  static class Registry {
    @Bean
    MeterRegistry meterRegistry() {
      return new SimpleMeterRegistry();
    }
  }

  /** Shepherd's auto-configurations, read from the file Spring Boot reads them from. */
  private static AutoConfigurations shepherd() {
    List<Class<?>> classes = new ArrayList<>();
    try (InputStream in = OptionalDependenciesTest.class.getClassLoader()
        .getResourceAsStream("META-INF/spring/org.springframework.boot.autoconfigure.AutoConfiguration.imports")) {
      assertThat(in).isNotNull();
      for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
        if (!line.isBlank() && !line.startsWith("#")) {
          classes.add(Class.forName(line.strip()));
        }
      }
    } catch (IOException | ClassNotFoundException e) {
      throw new AssertionError(e);
    }
    assertThat(classes).hasSize(7);
    return AutoConfigurations.of(classes.toArray(Class<?>[]::new));
  }

  /** Every capability asked for: replicas, pool, cache, watch on etcd, idempotency, health and meters. */
  private static <R extends AbstractApplicationContextRunner<R, ?, ?>> R everything(R runner, FilteredClassLoader loader,
      boolean registry) {
    R configured = runner.withClassLoader(loader)
        .withConfiguration(AutoConfigurations.of(DataSourceAutoConfiguration.class, MetricsAutoConfiguration.class))
        .withConfiguration(shepherd())
        .withUserConfiguration(App.class)
        .withPropertyValues("spring.datasource.url=" + pg.primaryJdbcUrl(), "spring.datasource.username=" + pg.user(),
            "shepherd.replica.replicas.r1.url=" + pg.replicaJdbcUrl(), "shepherd.replica.replicas.r1.username=" + pg.user(),
            "shepherd.replica.token.signing-secret=0123456789abcdef0123456789abcdef",
            "shepherd.idempotency.jdbc.create-schema=true",
            "shepherd.watch.source=etcd", "shepherd.watch.etcd.endpoints=" + etcd.endpoint(),
            "shepherd.watch.keys.flag.key=config/flag", "shepherd.watch.initial-wait=30s",
            "shepherd.cache.caches.prices.maximum-size=10",
            "shepherd.pool.pools.work.max=1",
            "management.health.shepherd-replica.enabled=true", "management.health.shepherd-pool.enabled=true",
            "management.health.shepherd-watch.enabled=true");
    return registry ? configured.withUserConfiguration(Registry.class) : configured;
  }

  private static WebApplicationContextRunner web(FilteredClassLoader loader) {
    return everything(new WebApplicationContextRunner(), loader, true);
  }

  /** Nothing hidden but a package no one uses: the baseline the other cases differ from. */
  private static FilteredClassLoader nothingHidden() {
    return new FilteredClassLoader("no.such.library");
  }

  private static void hasTheCoreCapabilities(AssertableApplicationContext context) {
    assertThat(context).hasNotFailed().hasSingleBean(CoalescingCacheManager.class).hasSingleBean(ShepherdReplicas.class)
        .hasSingleBean(ReplicaRouter.class).hasSingleBean(ConsistencyTokenCodec.class).hasSingleBean(ShepherdWatches.class)
        .hasBean("work").getBean("work").isInstanceOf(ElasticPool.class);
  }

  private static void hasTheCoreCapabilities(AssertableWebApplicationContext context) {
    assertThat(context).hasNotFailed().hasSingleBean(CoalescingCacheManager.class).hasSingleBean(ShepherdReplicas.class)
        .hasSingleBean(ReplicaRouter.class).hasSingleBean(ShepherdWatches.class).hasSingleBean(IdempotencyTracker.class)
        .hasBean("shepherdIdempotencyFilter").hasBean("shepherdConsistencyTokenFilter")
        .hasBean("work").getBean("work").isInstanceOf(ElasticPool.class);
  }

  private static void hasMetersAndHealth(AssertableWebApplicationContext context) {
    assertThat(context).hasSingleBean(CoalescingCacheListener.class).hasBean("shepherdMeterBindings")
        .hasBean("shepherdIdempotencyHealthContributor").hasBean("shepherdReplicaHealthContributor")
        .hasBean("shepherdPoolHealthContributor").hasBean("shepherdWatchHealthContributor");
  }

  @Test
  void withEveryLibraryEveryCapabilityItsMetersAndItsHealthAreThere() {
    web(nothingHidden()).run(context -> {
      hasTheCoreCapabilities(context);
      hasMetersAndHealth(context);
      assertThat(context.getBean(IdempotencyStore.class)).isInstanceOf(JdbcIdempotencyStore.class);
    });
  }

  @Test
  void withoutMicrometerThereAreNoMetersAndEverythingElse() {
    everything(new WebApplicationContextRunner(), new FilteredClassLoader("io.micrometer"), false).run(context -> {
      hasTheCoreCapabilities(context);
      assertThat(context).doesNotHaveBean(CoalescingCacheListener.class).doesNotHaveBean("shepherdMeterBindings")
          .doesNotHaveBean("shepherdPoolMetrics").hasBean("shepherdIdempotencyHealthContributor");
    });
  }

  @Test
  void withoutShepherdMicrometerThereAreNoShepherdMetersOnTheRegistry() {
    web(new FilteredClassLoader("dev.shepherd.micrometer")).run(context -> {
      hasTheCoreCapabilities(context);
      assertThat(context).hasSingleBean(MeterRegistry.class).doesNotHaveBean("shepherdMeterBindings")
          .doesNotHaveBean(CoalescingCacheListener.class);
    });
  }

  @Test
  void withoutActuatorThereIsNoHealthAndEverythingElse() {
    web(new FilteredClassLoader("org.springframework.boot.health")).run(context -> {
      hasTheCoreCapabilities(context);
      assertThat(context).hasBean("shepherdMeterBindings").doesNotHaveBean("shepherdIdempotencyHealthContributor")
          .doesNotHaveBean("shepherdReplicaHealthContributor").doesNotHaveBean("shepherdPoolHealthContributor")
          .doesNotHaveBean("shepherdWatchHealthContributor");
    });
  }

  @Test
  void withoutLettuceTheIdempotencyStoreIsPostgresAndAskingForRedisNamesTheDependency() {
    web(new FilteredClassLoader("io.lettuce")).run(context -> {
      hasTheCoreCapabilities(context);
      hasMetersAndHealth(context);
      assertThat(context.getBean(IdempotencyStore.class)).isInstanceOf(JdbcIdempotencyStore.class);
    });
    web(new FilteredClassLoader("io.lettuce")).withPropertyValues("shepherd.idempotency.store=redis").run(context ->
        assertThat(Failures.of(context)).contains("shepherd.idempotency.store").contains("io.lettuce:lettuce-core"));
  }

  @Test
  void withoutJetcdAnEtcdWatchNamesTheDependencyAndAConsulWatchStarts() {
    web(new FilteredClassLoader("io.etcd")).run(context ->
        assertThat(Failures.of(context)).contains("shepherd.watch.source").contains("io.etcd:jetcd-core"));
    // A Consul agent nobody runs: the watch starts and reports the key failing, as with Consul down.
    web(new FilteredClassLoader("io.etcd"))
        .withPropertyValues("shepherd.watch.source=consul", "shepherd.watch.consul.base-uri=http://127.0.0.1:1",
            "shepherd.watch.initial-wait=10ms")
        .run(context -> {
          hasTheCoreCapabilities(context);
          hasMetersAndHealth(context);
        });
  }

  @Test
  void withoutTheServletApiThereAreNoFiltersAndEverythingElse() {
    everything(new ApplicationContextRunner(), new FilteredClassLoader("jakarta.servlet"), true).run(context -> {
      hasTheCoreCapabilities(context);
      assertThat(context).doesNotHaveBean(IdempotencyTracker.class).doesNotHaveBean("shepherdIdempotencyFilter")
          .doesNotHaveBean("shepherdConsistencyTokenFilter").hasBean("shepherdMeterBindings")
          .hasBean("shepherdReplicaHealthContributor");
    });
  }

  @Test
  void withoutPgjdbcAnApplicationOnAnotherDatabaseStartsAndConfiguredReplicasNameTheDriver() {
    web(new FilteredClassLoader("org.postgresql"))
        .withPropertyValues("spring.datasource.url=jdbc:h2:mem:optional;DB_CLOSE_DELAY=-1", "spring.datasource.username=sa",
            "shepherd.replica.enabled=false")
        .run(context -> {
          assertThat(context).hasNotFailed().doesNotHaveBean(ShepherdReplicas.class).hasSingleBean(ShepherdWatches.class)
              .hasSingleBean(CoalescingCacheManager.class).hasBean("work").hasBean("shepherdIdempotencyFilter");
          assertThat(context.getBean(IdempotencyStore.class)).as("H2 is not PostgreSQL").isInstanceOf(InMemoryIdempotencyStore.class);
        });
    web(new FilteredClassLoader("org.postgresql")).run(context ->
        assertThat(Failures.of(context)).contains("shepherd.replica.enabled").contains("org.postgresql:postgresql"));
  }
}
