package dev.shepherd.spring.boot.autoconfigure.actuate;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.micrometer.ShepherdMetrics;
import dev.shepherd.pool.ElasticPool;
import dev.shepherd.pool.FunctionRegistry;
import dev.shepherd.pool.LocalBackend;
import dev.shepherd.pool.RunnerFunction;
import dev.shepherd.spring.boot.autoconfigure.cache.ShepherdCacheAutoConfiguration;
import dev.shepherd.spring.boot.autoconfigure.idempotency.ShepherdIdempotencyAutoConfiguration;
import dev.shepherd.spring.boot.autoconfigure.pool.ShepherdPoolAutoConfiguration;
import dev.shepherd.spring.boot.autoconfigure.replica.ShepherdReplicaAutoConfiguration;
import dev.shepherd.spring.boot.autoconfigure.watch.ShepherdWatchAutoConfiguration;
import dev.shepherd.testing.EtcdServer;
import dev.shepherd.testing.LogCapture;
import dev.shepherd.testing.PostgresCluster;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.springframework.beans.factory.support.DefaultListableBeanFactory;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration;
import org.springframework.boot.micrometer.metrics.autoconfigure.MetricsAutoConfiguration;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.boot.test.context.runner.WebApplicationContextRunner;
import org.springframework.cache.CacheManager;
import org.springframework.cache.annotation.EnableCaching;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Shepherd's meters leave the application's registry with the components they read: every one when
 * the context closes, a pool's when its bean is destroyed, so a registry that outlives the context
 * (supplied from outside here, as with devtools restarts or tests sharing one) reports the next
 * context's components, not the closed ones.
 */
class ShepherdMeterLifecycleTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();
  @RegisterExtension static final EtcdServer etcd = EtcdServer.create();

  /**
   * A registry that outlives the contexts, as one of a parent context or the global registry's
   * children would. Spring Boot closes a context's registries when it closes (after which they hand
   * out no-op meters), so this one ignores that.
   */
  static final class OutlivingRegistry extends SimpleMeterRegistry {
    @Override
    public void close() {}
  }

  /** The registry every context of a test shares. */
  private final MeterRegistry shared = new OutlivingRegistry();

  @Configuration(proxyBeanMethods = false)
  static class App {
    @Bean
    RunnerFunction echo() {
      return x -> x;
    }
  }

  @Configuration(proxyBeanMethods = false)
  @EnableCaching
  static class Caching {}

  private List<String> shepherdMeters() {
    return shared.getMeters().stream().map(Meter::getId).map(Meter.Id::getName).filter(n -> n.startsWith("shepherd.")).toList();
  }

  private ApplicationContextRunner poolOnly() {
    return new ApplicationContextRunner()
        .withConfiguration(AutoConfigurations.of(MetricsAutoConfiguration.class, ShepherdPoolAutoConfiguration.class,
            ShepherdMetricsAutoConfiguration.class))
        .withUserConfiguration(App.class)
        .withBean(MeterRegistry.class, () -> shared)
        .withPropertyValues("shepherd.pool.pools.work.max=1", "shepherd.pool.pools.other.max=1");
  }

  @Test
  void closingTheContextRemovesEveryShepherdMeterFromARegistryThatOutlivesIt() {
    new WebApplicationContextRunner()
        .withConfiguration(AutoConfigurations.of(DataSourceAutoConfiguration.class, MetricsAutoConfiguration.class,
            ShepherdCacheAutoConfiguration.class, ShepherdReplicaAutoConfiguration.class,
            ShepherdIdempotencyAutoConfiguration.class, ShepherdWatchAutoConfiguration.class,
            ShepherdPoolAutoConfiguration.class, ShepherdMetricsAutoConfiguration.class))
        .withUserConfiguration(App.class, Caching.class)
        .withBean(MeterRegistry.class, () -> shared)
        .withPropertyValues("spring.datasource.url=" + pg.primaryJdbcUrl(), "spring.datasource.username=" + pg.user(),
            "shepherd.replica.replicas.r1.url=" + pg.replicaJdbcUrl(), "shepherd.replica.replicas.r1.username=" + pg.user(),
            "shepherd.replica.token.signing-secret=0123456789abcdef0123456789abcdef",
            "shepherd.idempotency.store=memory",
            "shepherd.watch.source=etcd", "shepherd.watch.etcd.endpoints=" + etcd.endpoint(),
            "shepherd.watch.keys.flag.key=config/flag", "shepherd.watch.initial-wait=30s",
            "shepherd.cache.caches.prices.maximum-size=10",
            "shepherd.pool.pools.work.max=1")
        .run(context -> {
          assertThat(context).hasNotFailed();
          assertThat(context.getBean(CacheManager.class).getCache("prices")).isNotNull();
          assertThat(shepherdMeters()).as("each capability's meters are there while the context runs")
              .contains("shepherd.cache.size", "shepherd.replica.poller.queries", "shepherd.replica.reads",
                  "shepherd.idempotency.claims", "shepherd.watch.keys", "shepherd.pool.runners");
        });
    assertThat(shepherdMeters()).as("none left once the context closed").isEmpty();
  }

  @Test
  void aContextStartedAgainOnTheSameRegistryReportsItsOwnPool() {
    poolOnly().withPropertyValues("shepherd.pool.pools.work.max=1").run(context -> {
      assertThat(context).hasNotFailed();
      assertThat(shared.get("shepherd.pool.runners.max").tag("pool", "work").gauge().value()).isEqualTo(1);
    });
    poolOnly().withPropertyValues("shepherd.pool.pools.work.max=3").run(context -> {
      assertThat(context).hasNotFailed();
      assertThat(shared.get("shepherd.pool.runners.max").tag("pool", "work").gauge().value())
          .as("the new pool's setting, not the closed one's").isEqualTo(3);
    });
    assertThat(shepherdMeters()).isEmpty();
  }

  @Test
  void aPoolBeanDestroyedBeforeTheContextClosesTakesItsMetersWithIt() {
    poolOnly().run(context -> {
      assertThat(context).hasNotFailed();
      assertThat(shared.find("shepherd.pool.runners").tag("pool", "work").meters()).isNotEmpty();
      ((DefaultListableBeanFactory) context.getBeanFactory()).destroySingleton("work");
      assertThat(shared.find("shepherd.pool.runners").tag("pool", "work").meters()).as("the destroyed pool's").isEmpty();
      assertThat(shared.find("shepherd.pool.runners").tag("pool", "other").meters()).as("the other pool's").isNotEmpty();
    });
    assertThat(shepherdMeters()).isEmpty();
  }

  @Test
  void aPoolTheApplicationBoundItselfIsLeftToItWithAWarning() throws Exception {
    FunctionRegistry functions = FunctionRegistry.builder().register("echo", x -> x).build();
    try (ElasticPool own = ElasticPool.builder().name("work").backend(LocalBackend.of(functions)).max(7).build();
        ShepherdMetrics.Binding ownMeters = ShepherdMetrics.binding(shared).pool(own);
        LogCapture log = LogCapture.of(ShepherdMeterBindings.class)) {
      poolOnly().run(context -> {
        assertThat(context).hasNotFailed();
        assertThat(shared.get("shepherd.pool.runners.max").tag("pool", "work").gauge().value()).as("the application's pool").isEqualTo(7);
        assertThat(shared.find("shepherd.pool.runners").tag("pool", "other").meters()).isNotEmpty();
      });
      assertThat(log.messages()).anySatisfy(m -> assertThat(m).contains("the pool work").contains("shepherd.pool"));
      assertThat(shepherdMeters()).as("only the application's own binding is left").hasSize(ownMeters.meterIds().size());
    }
    assertThat(shepherdMeters()).isEmpty();
  }
}
