package dev.shepherd.spring.boot.autoconfigure.actuate;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.pool.RunnerFunction;
import dev.shepherd.spring.boot.autoconfigure.cache.CoalescingCacheListener;
import dev.shepherd.spring.boot.autoconfigure.pool.ShepherdPoolAutoConfiguration;
import dev.shepherd.spring.boot.autoconfigure.replica.ReplicaRouterCustomizer;
import dev.shepherd.spring.boot.autoconfigure.replica.ShepherdReplicaAutoConfiguration;
import dev.shepherd.testing.PostgresCluster;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.health.actuate.endpoint.HealthEndpoint;
import org.springframework.boot.health.autoconfigure.actuate.endpoint.HealthEndpointAutoConfiguration;
import org.springframework.boot.health.autoconfigure.registry.HealthContributorRegistryAutoConfiguration;
import org.springframework.boot.health.contributor.CompositeHealthContributor;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthContributor;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.health.contributor.Status;
import org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration;
import org.springframework.boot.micrometer.metrics.autoconfigure.MetricsAutoConfiguration;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** Meters and health: present, absent, turned off, backed off; replica health on a real primary and replica. */
class ShepherdOperationsAutoConfigurationTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();

  private static final String UNREACHABLE = "jdbc:postgresql://127.0.0.1:1/none?connectTimeout=1";

  @Configuration(proxyBeanMethods = false)
  static class App {
    @Bean
    MeterRegistry meterRegistry() {
      return new SimpleMeterRegistry();
    }

    @Bean
    RunnerFunction echo() {
      return x -> x;
    }
  }

  @Configuration(proxyBeanMethods = false)
  static class OwnPoolHealth {
    @Bean
    HealthIndicator shepherdPoolHealthContributor() {
      return () -> Health.outOfService().build();
    }
  }

  private ApplicationContextRunner runner(String replicaUrl) {
    return new ApplicationContextRunner()
        .withConfiguration(AutoConfigurations.of(DataSourceAutoConfiguration.class, MetricsAutoConfiguration.class,
            ShepherdReplicaAutoConfiguration.class, ShepherdPoolAutoConfiguration.class,
            ShepherdMetricsAutoConfiguration.class, ShepherdHealthAutoConfiguration.class))
        .withUserConfiguration(App.class)
        .withPropertyValues("spring.datasource.url=" + pg.primaryJdbcUrl(), "spring.datasource.username=" + pg.user(),
            "shepherd.replica.replicas.r1.url=" + replicaUrl, "shepherd.replica.replicas.r1.username=" + pg.user(),
            "shepherd.replica.token.signing-secret=0123456789abcdef0123456789abcdef",
            "shepherd.pool.pools.work.max=1");
  }

  /** With the replica and pool health contributors turned on. */
  private ApplicationContextRunner withHealthOn(String replicaUrl) {
    return runner(replicaUrl).withPropertyValues("management.health.shepherd-replica.enabled=true",
        "management.health.shepherd-pool.enabled=true");
  }

  private static Health component(HealthContributor composite, String name) {
    return ((HealthIndicator) ((CompositeHealthContributor) composite).getContributor(name)).health(true);
  }

  @Test
  void replicaAndPoolHealthAndTheMetersArePresent() {
    withHealthOn(pg.replicaJdbcUrl()).run(context -> {
      Health replica = component(context.getBean("shepherdReplicaHealthContributor", HealthContributor.class), "r1");
      assertThat(replica.getStatus()).isEqualTo(Status.UP);
      assertThat(replica.getDetails()).containsEntry("state", "streaming").containsKeys("replayLsn", "replayBacklogBytes", "tracker");
      Health pool = component(context.getBean("shepherdPoolHealthContributor", HealthContributor.class), "work");
      assertThat(pool.getStatus()).isEqualTo(Status.UP);
      assertThat(pool.getDetails()).containsKeys("ready", "waiters", "bootFailures");

      // One read-only transaction through the routing data source, so the router's meters exist.
      try (Connection c = context.getBean(DataSource.class).getConnection()) {
        c.setReadOnly(true);
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT pg_is_in_recovery()")) {
          rs.next();
          assertThat(rs.getBoolean(1)).isTrue();
        }
      }
      MeterRegistry registry = context.getBean(MeterRegistry.class);
      assertThat(registry.find("shepherd.replica.reads").tag("router", "primary").tag("target", "replica").counter()).isNotNull();
      assertThat(registry.find("shepherd.replica.poller.queries").tag("replica", "r1").meter()).isNotNull();
      assertThat(registry.find("shepherd.pool.runners").tag("pool", "work").meter()).isNotNull();
    });
  }

  @Test
  void aReplicaThatIsThePrimaryIsDownAsPromotedAndOneThatCannotBeReachedAsUnavailable() {
    withHealthOn(pg.primaryJdbcUrl()).run(context -> {
      Health health = component(context.getBean("shepherdReplicaHealthContributor", HealthContributor.class), "r1");
      assertThat(health.getStatus()).isEqualTo(Status.DOWN);
      assertThat(health.getDetails()).containsEntry("state", "promoted");
    });
    withHealthOn(UNREACHABLE).run(context -> {
      Health health = component(context.getBean("shepherdReplicaHealthContributor", HealthContributor.class), "r1");
      assertThat(health.getStatus()).isEqualTo(Status.DOWN);
      assertThat(health.getDetails()).containsEntry("state", "unavailable");
    });
  }

  @Test
  void byDefaultAReplicaThatIsDownLeavesTheRootHealthUp() {
    AutoConfigurations endpoint = AutoConfigurations.of(HealthContributorRegistryAutoConfiguration.class,
        HealthEndpointAutoConfiguration.class);
    runner(UNREACHABLE).withConfiguration(endpoint)
        .run(context -> assertThat(context.getBean(HealthEndpoint.class).health().getStatus()).isEqualTo(Status.UP));
    withHealthOn(UNREACHABLE).withConfiguration(endpoint)
        .run(context -> assertThat(context.getBean(HealthEndpoint.class).health().getStatus())
            .as("turned on, it counts toward the root").isEqualTo(Status.DOWN));
  }

  @Test
  void absentWithoutARegistryAndWhenTurnedOffAndBackedOff() {
    new ApplicationContextRunner()
        .withConfiguration(AutoConfigurations.of(ShepherdMetricsAutoConfiguration.class))
        .run(context -> assertThat(context).doesNotHaveBean(CoalescingCacheListener.class).doesNotHaveBean(ReplicaRouterCustomizer.class));
    runner(pg.replicaJdbcUrl())
        .run(context -> assertThat(context).doesNotHaveBean("shepherdReplicaHealthContributor").doesNotHaveBean("shepherdPoolHealthContributor"));
    runner(pg.replicaJdbcUrl()).withPropertyValues("management.health.shepherdReplica.enabled=true")
        .run(context -> assertThat(context).as("the camel-case form binds too")
            .hasBean("shepherdReplicaHealthContributor").doesNotHaveBean("shepherdPoolHealthContributor"));
    withHealthOn(pg.replicaJdbcUrl()).withUserConfiguration(OwnPoolHealth.class)
        .run(context -> assertThat(context.getBean("shepherdPoolHealthContributor", HealthIndicator.class).health().getStatus())
            .isEqualTo(Status.OUT_OF_SERVICE));
  }
}
