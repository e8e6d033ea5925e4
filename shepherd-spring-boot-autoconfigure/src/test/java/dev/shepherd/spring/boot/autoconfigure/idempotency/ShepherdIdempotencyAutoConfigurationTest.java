package dev.shepherd.spring.boot.autoconfigure.idempotency;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.spring.boot.autoconfigure.Failures;
import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.InMemoryIdempotencyStore;
import dev.shepherd.idempotency.JdbcIdempotencyStore;
import dev.shepherd.idempotency.Tracked;
import dev.shepherd.idempotency.flyway.ShepherdIdempotencyMigration;
import dev.shepherd.idempotency.redis.RedisIdempotencyStore;
import dev.shepherd.testing.LogCapture;
import dev.shepherd.testing.PostgresCluster;
import dev.shepherd.testing.RedisServer;
import io.lettuce.core.RedisClient;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.flyway.autoconfigure.FlywayAutoConfiguration;
import org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.boot.test.context.runner.WebApplicationContextRunner;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.mock.web.MockHttpServletRequest;
import org.springframework.security.authentication.AnonymousAuthenticationToken;
import org.springframework.security.authentication.UsernamePasswordAuthenticationToken;
import org.springframework.security.core.authority.AuthorityUtils;
import org.springframework.security.core.context.SecurityContextHolder;

/** The idempotency auto-configuration: store choice, schema handling, back-off, misconfiguration, principal. */
class ShepherdIdempotencyAutoConfigurationTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.primaryOnly();
  @RegisterExtension static final RedisServer redis = RedisServer.create();

  private final WebApplicationContextRunner runner = new WebApplicationContextRunner()
      .withConfiguration(AutoConfigurations.of(ShepherdIdempotencyAutoConfiguration.class));

  private WebApplicationContextRunner withPostgres() {
    return runner.withConfiguration(AutoConfigurations.of(DataSourceAutoConfiguration.class))
        .withPropertyValues("spring.datasource.url=" + pg.primaryJdbcUrl(), "spring.datasource.username=" + pg.user());
  }

  @Configuration(proxyBeanMethods = false)
  static class LettuceClient {
    @Bean(destroyMethod = "shutdown")
    RedisClient redisClient() {
      return RedisClient.create(redis.uri());
    }
  }

  @Configuration(proxyBeanMethods = false)
  static class OwnStore {
    @Bean
    IdempotencyStore ownStore() {
      return InMemoryIdempotencyStore.create();
    }
  }

  @Configuration(proxyBeanMethods = false)
  static class OwnTracker {
    @Bean(destroyMethod = "close")
    IdempotencyTracker ownTracker() {
      return IdempotencyTracker.builder().store(InMemoryIdempotencyStore.create()).build();
    }
  }

  @AfterEach
  void clearSecurity() {
    SecurityContextHolder.clearContext();
  }

  @Test
  void withNothingTheStoreIsInMemoryAndTheFilterIsRegistered() {
    runner.run(context -> {
      assertThat(context).hasSingleBean(IdempotencyTracker.class);
      assertThat(context.getBean(IdempotencyStore.class)).isInstanceOf(InMemoryIdempotencyStore.class);
      FilterRegistrationBean<?> filter = context.getBean("shepherdIdempotencyFilter", FilterRegistrationBean.class);
      assertThat(filter.getUrlPatterns()).containsExactly("/*");
      assertThat(filter.getFilter()).isInstanceOf(dev.shepherd.idempotency.servlet.IdempotencyFilter.class);
    });
  }

  @Test
  void absentOutsideAWebApplicationAndWhenDisabled() {
    new ApplicationContextRunner().withConfiguration(AutoConfigurations.of(ShepherdIdempotencyAutoConfiguration.class))
        .run(context -> assertThat(context).doesNotHaveBean(IdempotencyTracker.class));
    runner.withPropertyValues("shepherd.idempotency.enabled=false")
        .run(context -> assertThat(context).doesNotHaveBean(IdempotencyTracker.class).doesNotHaveBean("shepherdIdempotencyFilter"));
  }

  @Test
  void aLettuceClientMakesItRedis() {
    runner.withUserConfiguration(LettuceClient.class).run(context -> {
      assertThat(context.getBean(IdempotencyStore.class)).isInstanceOf(RedisIdempotencyStore.class);
      IdempotencyTracker tracker = context.getBean(IdempotencyTracker.class);
      assertThat(tracker.track("redis-key-1", "fp")).isInstanceOf(Tracked.Claimed.class);
      assertThat(tracker.track("redis-key-1", "fp")).isInstanceOf(Tracked.InProgress.class);
    });
  }

  @Test
  void aDataSourceMakesItJdbcAndAMissingTableStopsTheStartNamingTheProperty() {
    withPostgres().withPropertyValues("shepherd.idempotency.jdbc.table-name=idem_missing").run(context -> assertThat(Failures.of(context))
        .contains("shepherd.idempotency.jdbc.table-name")
        .contains("spring.flyway.locations")
        .contains("create-schema"));
  }

  @Test
  void aDataSourceThatIsNotPostgreSqlLeavesAutoModeInMemoryWithAWarningSayingWhy() {
    List<String> warnings;
    try (LogCapture log = LogCapture.of(ShepherdIdempotencyAutoConfiguration.class)) {
      warnings = log.messages();
      runner.withConfiguration(AutoConfigurations.of(DataSourceAutoConfiguration.class))
          .withPropertyValues("spring.datasource.url=jdbc:h2:mem:idempotency-auto;DB_CLOSE_DELAY=-1")
          .run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(context.getBean(IdempotencyStore.class)).isInstanceOf(InMemoryIdempotencyStore.class);
          });
    }
    assertThat(warnings).anySatisfy(w -> assertThat(w).contains("in memory", "the DataSource is H2", "needs PostgreSQL"));
  }

  @Test
  void anExplicitJdbcStoreOnADataSourceThatIsNotPostgreSqlStopsTheStartNamingTheDatabase() {
    runner.withConfiguration(AutoConfigurations.of(DataSourceAutoConfiguration.class))
        .withPropertyValues("spring.datasource.url=jdbc:h2:mem:idempotency-jdbc;DB_CLOSE_DELAY=-1",
            "shepherd.idempotency.store=jdbc")
        .run(context -> assertThat(context).getFailure().rootCause()
            .hasMessageContaining("shepherd.idempotency.store")
            .hasMessageContaining("the JDBC store needs PostgreSQL, and the DataSource is H2"));
  }

  @Test
  void createSchemaTrueCreatesTheTable() {
    withPostgres().withPropertyValues("shepherd.idempotency.jdbc.table-name=idem_created", "shepherd.idempotency.jdbc.create-schema=true")
        .run(context -> {
          assertThat(context.getBean(IdempotencyStore.class)).isInstanceOf(JdbcIdempotencyStore.class);
          assertThat(context.getBean(IdempotencyTracker.class).track("jdbc-key-1", "fp")).isInstanceOf(Tracked.Claimed.class);
        });
  }

  @Test
  void theShippedFlywayMigrationCreatesTheTable() {
    withPostgres().withConfiguration(AutoConfigurations.of(FlywayAutoConfiguration.class))
        .withPropertyValues("spring.flyway.locations=classpath:dev/shepherd/idempotency/flyway")
        .run(context -> {
          assertThat(context).hasNotFailed();
          assertThat(context.getBean(IdempotencyTracker.class).track("flyway-key-1", "fp")).isInstanceOf(Tracked.Claimed.class);
        });
  }

  @Test
  void theFlywayAndLiquibaseFilesShipTheSameSchemaAsTheStore() throws Exception {
    assertThat(new ShepherdIdempotencyMigration().sql())
        .isEqualTo(JdbcIdempotencyStore.schemaSql(JdbcIdempotencyStore.DEFAULT_TABLE));
    assertThat(resource("dev/shepherd/idempotency/liquibase/changelog.yaml"))
        .contains("path: " + JdbcIdempotencyStore.SCHEMA_RESOURCE);
    assertThat(resource(JdbcIdempotencyStore.SCHEMA_RESOURCE)).contains("CREATE TABLE IF NOT EXISTS shepherd_idempotency");
  }

  private static String resource(String name) throws Exception {
    try (InputStream in = ShepherdIdempotencyAutoConfigurationTest.class.getClassLoader().getResourceAsStream(name)) {
      assertThat(in).as(name).isNotNull();
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  @Test
  void backsOffForTheApplicationsStoreAndTracker() {
    runner.withUserConfiguration(OwnStore.class, LettuceClient.class)
        .run(context -> assertThat(context).hasSingleBean(IdempotencyStore.class).hasBean("ownStore"));
    runner.withUserConfiguration(OwnTracker.class).run(context -> assertThat(context)
        .hasSingleBean(IdempotencyTracker.class).hasBean("ownTracker").doesNotHaveBean(IdempotencyStore.class));
  }

  @Test
  void theApplicationsTrackerMeansNoStoreAndNoTableCheck() {
    withPostgres().withUserConfiguration(OwnTracker.class).withPropertyValues("shepherd.idempotency.jdbc.table-name=idem_unused")
        .run(context -> {
          assertThat(context).hasNotFailed().doesNotHaveBean(IdempotencyStore.class);
          assertThat(context.getBean("shepherdIdempotencyFilter", FilterRegistrationBean.class).getFilter())
              .isInstanceOf(dev.shepherd.idempotency.servlet.IdempotencyFilter.class);
        });
  }

  @Test
  void misconfiguredStoresAndDurationsStopTheStartNamingTheProperty() {
    runner.withPropertyValues("shepherd.idempotency.store=jdbc").run(context -> assertThat(Failures.of(context)).contains("shepherd.idempotency.store"));
    runner.withPropertyValues("shepherd.idempotency.store=redis").run(context -> assertThat(Failures.of(context)).contains("shepherd.idempotency.store"));
    runner.withPropertyValues("shepherd.idempotency.lease=0s").run(context -> assertThat(Failures.of(context)).contains("shepherd.idempotency.lease"));
  }

  @Test
  void badStoreSettingsStopTheStartNamingTheProperty() {
    runner.withUserConfiguration(LettuceClient.class).withPropertyValues("shepherd.idempotency.redis.command-timeout=0s")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.idempotency.redis.command-timeout"));
    runner.withUserConfiguration(LettuceClient.class).withPropertyValues("shepherd.idempotency.redis.key-prefix=")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.idempotency.redis.key-prefix"));
    withPostgres().withPropertyValues("shepherd.idempotency.jdbc.table-name=Idempotency-Records")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.idempotency.jdbc.table-name", "lower-case"));
  }

  @Test
  void thePrincipalComesFromSpringSecuritysAuthentication() {
    SpringSecurityPrincipalResolver resolver = new SpringSecurityPrincipalResolver();
    MockHttpServletRequest request = new MockHttpServletRequest("POST", "/orders");
    assertThat(resolver.resolve(request)).isEmpty();
    SecurityContextHolder.getContext().setAuthentication(new AnonymousAuthenticationToken("key", "anonymousUser",
        AuthorityUtils.createAuthorityList("ROLE_ANONYMOUS")));
    assertThat(resolver.resolve(request)).as("anonymous is the shared scope").isEmpty();
    SecurityContextHolder.getContext().setAuthentication(UsernamePasswordAuthenticationToken.authenticated("ada", null,
        AuthorityUtils.createAuthorityList("ROLE_USER")));
    assertThat(resolver.resolve(request)).isEqualTo("ada");
  }
}
