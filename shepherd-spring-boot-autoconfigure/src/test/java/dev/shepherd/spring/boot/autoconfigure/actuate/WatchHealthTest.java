package dev.shepherd.spring.boot.autoconfigure.actuate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.spring.boot.autoconfigure.watch.ShepherdWatchAutoConfiguration;
import dev.shepherd.testing.EtcdServer;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.health.contributor.HealthContributor;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.health.contributor.Status;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/** A watched key's staleness in Actuator health: DOWN while etcd is gone past the failing threshold, UP again after. */
class WatchHealthTest {

  @RegisterExtension static final EtcdServer etcd = EtcdServer.create();

  @Test
  void aKeyFailingPastTheThresholdIsDownAndRecovers() {
    etcd.put("config/flag", "on");
    new ApplicationContextRunner()
        .withConfiguration(AutoConfigurations.of(ShepherdWatchAutoConfiguration.class, ShepherdHealthAutoConfiguration.class))
        .withPropertyValues("shepherd.watch.source=etcd", "shepherd.watch.etcd.endpoints=" + etcd.endpoint(),
            "shepherd.watch.etcd.request-timeout=1s", "shepherd.watch.failing-threshold=1s", "shepherd.watch.max-wait=2s",
            "shepherd.watch.backoff-initial=100ms", "shepherd.watch.backoff-max=1s",
            "shepherd.watch.keys.flag.key=config/flag", "management.health.shepherd-watch.enabled=true")
        .run(context -> {
          HealthIndicator health = (HealthIndicator) context.getBean("shepherdWatchHealthContributor", HealthContributor.class);
          assertThat(health.health().getStatus()).isEqualTo(Status.UP);
          etcd.stop();
          try {
            await().atMost(Duration.ofSeconds(90)).until(() -> health.health().getStatus().equals(Status.DOWN));
            assertThat(health.health(true).getDetails()).containsKey("flag");
          } finally {
            etcd.restart();
          }
          await().atMost(Duration.ofSeconds(120)).until(() -> health.health().getStatus().equals(Status.UP));
        });
  }
}
