package dev.shepherd.spring.boot.autoconfigure.watch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.spring.boot.autoconfigure.Failures;
import dev.shepherd.testing.EtcdServer;
import dev.shepherd.watch.InMemoryVersionedStore;
import dev.shepherd.watch.Subscription;
import dev.shepherd.watch.Watcher;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.ApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.event.EventListener;
import org.springframework.core.env.ConfigurableEnvironment;

/** Watched keys against a real etcd: events, a feature flag reaching a bean without a restart, and the usual four cases. */
class ShepherdWatchAutoConfigurationTest {

  @RegisterExtension static final EtcdServer etcd = EtcdServer.create();

  /** The application's feature flags, bound from {@code features.*}. */
  @ConfigurationProperties("features")
  public static class Features {
    private volatile boolean checkoutV2;

    public boolean isCheckoutV2() {
      return checkoutV2;
    }

    public void setCheckoutV2(boolean checkoutV2) {
      this.checkoutV2 = checkoutV2;
    }
  }

  /** Collects the watch events the application context publishes. */
  public static class Events {
    final List<ShepherdWatchEvent> received = new CopyOnWriteArrayList<>();

    @EventListener
    public void on(ShepherdWatchEvent event) {
      received.add(event);
    }
  }

  @Configuration(proxyBeanMethods = false)
  @EnableConfigurationProperties(Features.class)
  static class App {
    @Bean
    Events events() {
      return new Events();
    }
  }

  @Configuration(proxyBeanMethods = false)
  static class OwnWatches {
    @Bean
    ShepherdWatches ownWatches(ApplicationContext context, ConfigurableEnvironment environment) {
      InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
      return new ShepherdWatches(new Binder().bindOrCreate("shepherd.watch", ShepherdWatchProperties.class), Watcher.builder(store).build(), List.of(), context, environment);
    }
  }

  private ApplicationContextRunner runner() {
    return new ApplicationContextRunner()
        .withConfiguration(AutoConfigurations.of(ShepherdWatchAutoConfiguration.class))
        .withUserConfiguration(App.class)
        .withPropertyValues("shepherd.watch.source=etcd", "shepherd.watch.etcd.endpoints=" + etcd.endpoint(),
            "shepherd.watch.keys.checkout.key=config/checkout-v2",
            "shepherd.watch.keys.checkout.property=features.checkout-v2",
            "shepherd.watch.initial-wait=30s");
  }

  @Test
  void aFeatureFlagInEtcdReachesABeanWithoutARestartAndEveryChangeIsAnEvent() {
    etcd.put("config/checkout-v2", "false");
    runner().run(context -> {
      Features features = context.getBean(Features.class);
      assertThat(context.getEnvironment().getProperty("features.checkout-v2")).isEqualTo("false");
      assertThat(features.isCheckoutV2()).isFalse();

      etcd.put("config/checkout-v2", "true");
      await().atMost(Duration.ofSeconds(30)).until(features::isCheckoutV2);
      assertThat(context.getEnvironment().getProperty("features.checkout-v2")).isEqualTo("true");

      Events events = context.getBean(Events.class);
      await().atMost(Duration.ofSeconds(30)).until(() -> events.received.stream()
          .anyMatch(e -> e.name().equals("checkout") && e.value().equals(Optional.of("true"))));
      assertThat(events.received.get(0).value()).contains("false");
    });
  }

  @Test
  void subscriptionsAreClosedOnShutdown() {
    etcd.put("config/checkout-v2", "false");
    AtomicReference<Subscription<Optional<String>>> subscription = new AtomicReference<>();
    runner().run(context -> subscription.set(context.getBean(ShepherdWatches.class).subscriptions().get("checkout")));
    assertThat(subscription.get().isClosed()).isTrue();
  }

  @Test
  void absentWithoutKeys() {
    new ApplicationContextRunner().withConfiguration(AutoConfigurations.of(ShepherdWatchAutoConfiguration.class))
        .run(context -> assertThat(context).doesNotHaveBean(ShepherdWatches.class));
  }

  @Test
  void absentWhenDisabled() {
    runner().withPropertyValues("shepherd.watch.enabled=false")
        .run(context -> assertThat(context).hasNotFailed().doesNotHaveBean(ShepherdWatches.class));
  }

  @Test
  void backsOffForTheApplicationsWatches() {
    runner().withUserConfiguration(OwnWatches.class)
        .run(context -> assertThat(context).hasSingleBean(ShepherdWatches.class).hasBean("ownWatches"));
  }

  @Test
  void misconfiguredStopsTheStartNamingTheProperty() {
    new ApplicationContextRunner().withConfiguration(AutoConfigurations.of(ShepherdWatchAutoConfiguration.class))
        .withPropertyValues("shepherd.watch.keys.checkout.key=config/checkout-v2")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.watch.source"));
    new ApplicationContextRunner().withConfiguration(AutoConfigurations.of(ShepherdWatchAutoConfiguration.class))
        .withPropertyValues("shepherd.watch.source=etcd", "shepherd.watch.keys.checkout.property=features.x")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.watch.keys.checkout.key"));
    runner().withPropertyValues("shepherd.watch.max-wait=-1s")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.watch.max-wait"));
    runner().withPropertyValues("shepherd.watch.backoff-initial=1s", "shepherd.watch.backoff-max=500ms")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.watch.backoff-max", "at least initial")
            .doesNotContain("shepherd.watch.backoff-initial"));
    runner().withPropertyValues("shepherd.watch.backoff-max=0s")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.watch.backoff-max"));
  }
}
