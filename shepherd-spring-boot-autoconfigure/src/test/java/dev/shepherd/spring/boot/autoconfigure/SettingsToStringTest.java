package dev.shepherd.spring.boot.autoconfigure;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.spring.boot.autoconfigure.replica.ShepherdReplicaProperties;
import dev.shepherd.spring.boot.autoconfigure.watch.ShepherdWatchProperties;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;

/** The settings records name their values when printed (a log line, an error), but never a secret. */
class SettingsToStringTest {

  private final Binder binder = new Binder(new MapConfigurationPropertySource(Map.of(
      "shepherd.replica.replicas.r1.url", "jdbc:postgresql://replica-1:5432/app",
      "shepherd.replica.replicas.r1.password", "replica-password-1",
      "shepherd.replica.token.signing-secret", "signing-secret-of-at-least-32-bytes",
      "shepherd.replica.token.verification-keys.k0", "old-secret-of-at-least-32-bytes-0",
      "shepherd.watch.consul.token", "consul-acl-token-1")));

  @Test
  void replicaSettingsHideThePasswordAndTheTokenSecrets() {
    String printed = binder.bindOrCreate("shepherd.replica", ShepherdReplicaProperties.class).toString();

    assertThat(printed).contains("jdbc:postgresql://replica-1:5432/app", "k0", "signingKeyId=k1", "(hidden)")
        .doesNotContain("replica-password-1", "signing-secret-of-at-least-32-bytes", "old-secret-of-at-least-32-bytes-0");
  }

  @Test
  void watchSettingsHideTheConsulToken() {
    String printed = binder.bindOrCreate("shepherd.watch", ShepherdWatchProperties.class).toString();

    assertThat(printed).contains("http://127.0.0.1:8500", "(hidden)").doesNotContain("consul-acl-token-1");
  }
}
