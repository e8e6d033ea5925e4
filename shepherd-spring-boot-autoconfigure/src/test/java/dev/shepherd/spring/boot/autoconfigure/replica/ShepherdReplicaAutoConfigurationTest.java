package dev.shepherd.spring.boot.autoconfigure.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.replica.ConsistencyTokenCodec;
import dev.shepherd.replica.ConsistencyTokenFilter;
import dev.shepherd.replica.Lsn;
import dev.shepherd.replica.ReplicaRouter;
import dev.shepherd.replica.ReplicaRoutingDataSource;
import dev.shepherd.replica.ReplicaTracker;
import dev.shepherd.spring.boot.autoconfigure.Failures;
import dev.shepherd.testing.PostgresCluster;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.boot.test.context.runner.WebApplicationContextRunner;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Primary;

/** The replica auto-configuration: present, absent, backed off, misconfigured, closed on shutdown. */
class ShepherdReplicaAutoConfigurationTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();

  private ApplicationContextRunner runner() {
    return new ApplicationContextRunner()
        .withConfiguration(AutoConfigurations.of(DataSourceAutoConfiguration.class, ShepherdReplicaAutoConfiguration.class))
        .withPropertyValues("spring.datasource.url=" + pg.primaryJdbcUrl(), "spring.datasource.username=" + pg.user());
  }

  private ApplicationContextRunner withReplica() {
    return runner().withPropertyValues("shepherd.replica.replicas.r1.url=" + pg.replicaJdbcUrl(),
        "shepherd.replica.replicas.r1.username=" + pg.user(),
        "shepherd.replica.token.signing-secret=0123456789abcdef0123456789abcdef");
  }

  @Configuration(proxyBeanMethods = false)
  static class OwnCodec {
    @Bean
    ConsistencyTokenCodec ownCodec() {
      return ConsistencyTokenCodec.builder().signingKey("own", "fedcba9876543210fedcba9876543210".getBytes(StandardCharsets.UTF_8)).build();
    }
  }

  @Test
  void presentTheDataSourceIsRoutedAndEachReplicaHasATracker() {
    withReplica().run(context -> {
      assertThat(context.getBean(DataSource.class)).isInstanceOf(ReplicaRoutingDataSource.class);
      List<ReplicaTracker> trackers = context.getBean(ShepherdReplicas.class).trackers();
      assertThat(trackers).extracting(ReplicaTracker::name).containsExactly("r1");
      assertThat(context.getBean(ReplicaRouter.class))
          .isSameAs(context.getBean(DataSource.class).unwrap(ReplicaRoutingDataSource.class).router());
      assertThat(context).hasSingleBean(ConsistencyTokenCodec.class).doesNotHaveBean("shepherdConsistencyTokenFilter");
    });
  }

  @Configuration(proxyBeanMethods = false)
  static class QualifiedReplica {
    @Bean(destroyMethod = "close")
    @Primary
    HikariDataSource dataSource() {
      HikariDataSource primary = new HikariDataSource();
      primary.setJdbcUrl(pg.primaryJdbcUrl());
      primary.setUsername(pg.user());
      return primary;
    }

    @Bean(destroyMethod = "close")
    @ReplicaDataSource
    HikariDataSource reportingReplica() {
      HikariDataSource replica = new HikariDataSource();
      replica.setJdbcUrl(pg.replicaJdbcUrl());
      replica.setUsername(pg.user());
      return replica;
    }
  }

  @Test
  void aDataSourceBeanMarkedAsReplicaGetsATrackerAndThePrimaryIsRouted() {
    runner().withUserConfiguration(QualifiedReplica.class)
        .withPropertyValues("shepherd.replica.token.signing-secret=0123456789abcdef0123456789abcdef")
        .run(context -> {
          assertThat(context.getBean(ShepherdReplicas.class).trackers()).extracting(ReplicaTracker::name)
              .containsExactly("reportingReplica");
          assertThat(context.getBean("dataSource")).isInstanceOf(ReplicaRoutingDataSource.class);
          assertThat(context.getBean("reportingReplica")).isInstanceOf(HikariDataSource.class);
        });
  }

  private WebApplicationContextRunner webRunner() {
    return new WebApplicationContextRunner()
        .withConfiguration(AutoConfigurations.of(DataSourceAutoConfiguration.class, ShepherdReplicaAutoConfiguration.class))
        .withPropertyValues("spring.datasource.url=" + pg.primaryJdbcUrl(), "spring.datasource.username=" + pg.user());
  }

  @Test
  void inAServletApplicationTheTokenFilterIsRegistered() {
    webRunner()
        .withPropertyValues("shepherd.replica.replicas.r1.url=" + pg.replicaJdbcUrl(), "shepherd.replica.replicas.r1.username=" + pg.user(),
            "shepherd.replica.token.signing-secret=0123456789abcdef0123456789abcdef")
        .run(context -> assertThat(context.getBean("shepherdConsistencyTokenFilter", FilterRegistrationBean.class).getFilter())
            .isInstanceOf(ConsistencyTokenFilter.class));
  }

  @Test
  void outsideAWebApplicationNoSigningSecretIsNeededAndNoCodecIsMade() {
    runner().withPropertyValues("shepherd.replica.replicas.r1.url=" + pg.replicaJdbcUrl(), "shepherd.replica.replicas.r1.username=" + pg.user())
        .run(context -> {
          assertThat(context).hasNotFailed().doesNotHaveBean(ConsistencyTokenCodec.class);
          assertThat(context.getBean(DataSource.class)).isInstanceOf(ReplicaRoutingDataSource.class);
        });
  }

  @Test
  void absentWithoutReplicasOrWhenDisabled() {
    runner().run(context -> {
      assertThat(context).doesNotHaveBean(ShepherdReplicas.class).doesNotHaveBean(ConsistencyTokenCodec.class);
      assertThat(context.getBean(DataSource.class)).isInstanceOf(HikariDataSource.class);
    });
    withReplica().withPropertyValues("shepherd.replica.enabled=false")
        .run(context -> assertThat(context).doesNotHaveBean(ShepherdReplicas.class));
  }

  @Test
  void backsOffForTheApplicationsBeansAndWhenRoutingIsOff() {
    withReplica().withUserConfiguration(OwnCodec.class)
        .run(context -> assertThat(context).hasSingleBean(ConsistencyTokenCodec.class).hasBean("ownCodec"));
    withReplica().withPropertyValues("shepherd.replica.routing.enabled=false")
        .run(context -> assertThat(context.getBean(DataSource.class)).isInstanceOf(HikariDataSource.class));
  }

  @Test
  void misconfiguredStopsTheStartNamingTheProperty() {
    runner().withPropertyValues("shepherd.replica.replicas.r1.username=x",
            "shepherd.replica.token.signing-secret=0123456789abcdef0123456789abcdef")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.replica.replicas.r1.url"));
    webRunner().withPropertyValues("shepherd.replica.replicas.r1.url=" + pg.replicaJdbcUrl())
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.replica.token.signing-secret"));
    withReplica().withPropertyValues("shepherd.replica.token.signing-secret=too-short")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.replica.token.signing-secret"));
    withReplica().withPropertyValues("shepherd.replica.routing.data-source-bean-name=primaryDataSource")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.replica.routing.data-source-bean-name"));
    withReplica().withPropertyValues("shepherd.replica.replicas.r1.max-poll-interval=-1s")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.replica.replicas.r1.max-poll-interval"));
    withReplica().withPropertyValues("shepherd.replica.max-wait=-1s")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.replica.max-wait"));
  }

  @Test
  void trackersAndTheirPoolsAreClosedOnShutdown() {
    AtomicReference<ReplicaTracker> tracker = new AtomicReference<>();
    AtomicReference<HikariDataSource> pool = new AtomicReference<>();
    withReplica().run(context -> {
      tracker.set(context.getBean(ShepherdReplicas.class).trackers().get(0));
      pool.set((HikariDataSource) tracker.get().dataSource());
    });
    assertThat(pool.get().isClosed()).isTrue();
    assertThatThrownBy(() -> tracker.get().awaitReplay(Lsn.parse("0/1"), Duration.ofSeconds(1)))
        .isInstanceOf(IllegalStateException.class);
  }
}
