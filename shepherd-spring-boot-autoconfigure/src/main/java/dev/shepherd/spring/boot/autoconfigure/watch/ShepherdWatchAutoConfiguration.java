package dev.shepherd.spring.boot.autoconfigure.watch;

import static dev.shepherd.spring.boot.autoconfigure.internal.Settings.set;

import dev.shepherd.core.Backoff;
import dev.shepherd.core.ExponentialBackoff;
import dev.shepherd.watch.ConsulClient;
import java.time.Duration;
import dev.shepherd.watch.Watcher;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.context.ApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Conditional;
import org.springframework.core.env.ConfigurableEnvironment;
import org.springframework.util.ClassUtils;

/**
 * Watched keys from {@code shepherd.watch.keys}, on etcd or Consul: their changes as
 * {@link ShepherdWatchEvent}s and, for keys with a {@code property}, as live configuration (see
 * {@link ShepherdWatches}). Backs off when the application defines a {@link ShepherdWatches}, and
 * is off with {@code shepherd.watch.enabled=false}.
 */
@AutoConfiguration
@ConditionalOnClass(name = "dev.shepherd.watch.Watcher")
@ConditionalOnProperty(prefix = "shepherd.watch", name = "enabled", havingValue = "true", matchIfMissing = true)
@Conditional(OnWatchKeysConfiguredCondition.class)
@EnableConfigurationProperties(ShepherdWatchProperties.class)
public final class ShepherdWatchAutoConfiguration {
  /** Creates the configuration; used by Spring. */
  public ShepherdWatchAutoConfiguration() {}


  /**
   * The watches.
   *
   * @param properties {@code shepherd.watch.*}
   * @param context where events are published and beans bound again
   * @param environment where the watched values become properties
   * @return the watches, started once every bean exists and closed on shutdown
   * @throws InvalidConfigurationPropertyValueException for a missing source or key, or a bad setting
   */
  @Bean
  @ConditionalOnMissingBean
  public ShepherdWatches shepherdWatches(ShepherdWatchProperties properties, ApplicationContext context,
      ConfigurableEnvironment environment) {
    for (Map.Entry<String, ShepherdWatchProperties.Key> key : properties.keys().entrySet()) {
      if (key.getValue().key() == null || key.getValue().key().isBlank()) {
        throw new InvalidConfigurationPropertyValueException("shepherd.watch.keys." + key.getKey() + ".key",
            key.getValue().key(), "every watched key needs the key to watch in the source, for example config/checkout-v2");
      }
    }
    ShepherdWatchProperties.SourceType type = properties.source();
    if (type == null) {
      throw new InvalidConfigurationPropertyValueException("shepherd.watch.source", null,
          "keys are configured under shepherd.watch.keys; say where they live: etcd or consul");
    }
    ShepherdWatches.Opened opened = switch (type) {
      case ETCD -> {
        // Both: shepherd-watch-etcd's classes load without jetcd (nothing links them until used), and
        // without jetcd the first use would be a NoClassDefFoundError naming no property.
        ClassLoader loader = context.getClassLoader();
        if (!ClassUtils.isPresent("dev.shepherd.watch.etcd.EtcdWatchSource", loader) || !ClassUtils.isPresent("io.etcd.jetcd.Client", loader)) {
          throw new InvalidConfigurationPropertyValueException("shepherd.watch.source", type,
              "the etcd source needs dev.shepherd:shepherd-watch-etcd and its io.etcd:jetcd-core on the class path");
        }
        yield EtcdSources.open(properties.etcd());
      }
      case CONSUL -> {
        ConsulClient.Builder builder = ConsulClient.builder().baseUri(properties.consul().baseUri());
        if (properties.consul().token() != null) {
          builder.token(properties.consul().token());
        }
        ConsulClient consul = builder.build();
        yield new ShepherdWatches.Opened(new KvStrings(consul.kvSource()), List.of(consul));
      }
    };
    Watcher.Builder<Optional<String>> watcher = Watcher.builder(opened.source());
    try {
      set("shepherd.watch.max-wait", properties.maxWait(), () -> watcher.maxWait(properties.maxWait()));
      // Each setting blamed on its own property; backoff-max is checked even while it is unused.
      ExponentialBackoff.Builder backoff = Backoff.exponential();
      Duration max = properties.backoffMax();
      set("shepherd.watch.backoff-max", max, () -> backoff.max(max));
      Duration initial = properties.backoffInitial();
      if (initial != null) {
        set("shepherd.watch.backoff-initial", initial, () -> backoff.initial(initial));
        set("shepherd.watch.backoff-max", max, () -> watcher.backoff(backoff.build())); // max at least initial
      }
      set("shepherd.watch.failing-threshold", properties.failingThreshold(),
          () -> watcher.failingThreshold(properties.failingThreshold()));
      return new ShepherdWatches(properties, watcher.build(), opened.closeables(), context, environment);
    } catch (RuntimeException e) {
      for (AutoCloseable closeable : opened.closeables()) {
        try {
          closeable.close();
        } catch (Exception suppressed) {
          e.addSuppressed(suppressed);
        }
      }
      throw e;
    }
  }
}
