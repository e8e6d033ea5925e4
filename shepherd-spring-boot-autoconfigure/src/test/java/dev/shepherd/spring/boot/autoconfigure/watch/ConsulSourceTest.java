package dev.shepherd.spring.boot.autoconfigure.watch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.watch.BlockingQueryServlet;
import dev.shepherd.watch.InMemoryVersionedStore;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;

/**
 * The Consul (HTTP blocking query) source, against Shepherd's Consul-compatible
 * {@link BlockingQueryServlet} served over real HTTP by an embedded Tomcat (no Consul agent can be
 * installed on the build machine).
 */
class ConsulSourceTest {

  static final InMemoryVersionedStore<String> STORE = InMemoryVersionedStore.create();

  /** A config server speaking Consul's KV blocking-query protocol. */
  @SpringBootConfiguration
  @EnableAutoConfiguration
  static class ConfigServer {
    @Bean
    ServletRegistrationBean<BlockingQueryServlet<String>> kv() {
      return new ServletRegistrationBean<>(BlockingQueryServlet.ofStrings(STORE), "/v1/kv/*");
    }
  }

  @Test
  void aFlagChangedOnTheHttpSourceReachesTheBean() {
    STORE.put("config/checkout-v2", "false");
    try (ConfigurableApplicationContext server = new SpringApplicationBuilder(ConfigServer.class)
        .properties("server.port=0", "server.address=127.0.0.1",
            "server.tomcat.basedir=target/tomcat",
            "spring.autoconfigure.exclude="
            + "org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration,"
            + "org.springframework.boot.hibernate.autoconfigure.HibernateJpaAutoConfiguration,"
            + "org.springframework.boot.data.redis.autoconfigure.DataRedisAutoConfiguration,"
            + "org.springframework.boot.flyway.autoconfigure.FlywayAutoConfiguration",
            "shepherd.idempotency.enabled=false", "server.shutdown=immediate")
        .run()) {
      String baseUri = "http://127.0.0.1:" + server.getEnvironment().getProperty("local.server.port");
      new ApplicationContextRunner()
          .withConfiguration(AutoConfigurations.of(ShepherdWatchAutoConfiguration.class))
          .withUserConfiguration(ShepherdWatchAutoConfigurationTest.App.class)
          .withPropertyValues("shepherd.watch.source=consul", "shepherd.watch.consul.base-uri=" + baseUri,
              "shepherd.watch.max-wait=10s", "shepherd.watch.initial-wait=30s",
              "shepherd.watch.keys.checkout.key=config/checkout-v2",
              "shepherd.watch.keys.checkout.property=features.checkout-v2")
          .run(context -> {
            ShepherdWatchAutoConfigurationTest.Features features = context.getBean(ShepherdWatchAutoConfigurationTest.Features.class);
            assertThat(context.getEnvironment().getProperty("features.checkout-v2")).isEqualTo("false");
            STORE.put("config/checkout-v2", "true");
            await().atMost(Duration.ofSeconds(30)).until(features::isCheckoutV2);
          });
    }
  }
}
