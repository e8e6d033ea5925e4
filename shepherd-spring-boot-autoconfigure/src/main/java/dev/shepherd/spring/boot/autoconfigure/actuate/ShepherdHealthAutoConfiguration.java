package dev.shepherd.spring.boot.autoconfigure.actuate;

import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.pool.ElasticPool;
import dev.shepherd.pool.PoolSnapshot;
import dev.shepherd.replica.ReplicaTracker;
import dev.shepherd.spring.boot.autoconfigure.replica.ShepherdReplicas;
import dev.shepherd.spring.boot.autoconfigure.watch.ShepherdWatches;
import dev.shepherd.watch.Subscription;
import java.time.Duration;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import org.springframework.beans.factory.ListableBeanFactory;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator;
import org.springframework.boot.health.contributor.CompositeHealthContributor;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthContributor;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Actuator health contributors: {@code shepherdIdempotency} (the store answers one harmless call),
 * on unless {@code management.health.shepherd-idempotency.enabled=false} (or
 * {@code management.health.defaults.enabled=false}); and, each only when
 * turned on, {@code shepherdReplica} (one per replica, see {@link ReplicaHealthIndicator};
 * {@code management.health.shepherd-replica.enabled=true}), {@code shepherdPool} (one per pool;
 * {@code management.health.shepherd-pool.enabled=true}) and {@code shepherdWatch} (one per watched
 * key: DOWN while failing past {@code shepherd.watch.failing-threshold};
 * {@code management.health.shepherd-watch.enabled=true}). Each backs off for a bean of the same
 * name. Every switch is {@code management.health.shepherd-<x>.enabled}; as for any Spring Boot
 * property, the camel-case form ({@code management.health.shepherdIdempotency.enabled}, the name
 * this switch was documented under first) binds to it too.
 *
 * <p>Why three are opt-in: every contributor counts toward the root {@code /actuator/health}
 * status, which load balancers read. A replica that lags or is down costs only latency (reads go
 * to the primary), and a stale key keeps its last value, so by default neither may turn the
 * instance's health to 503. (Resilience4j's health indicators are opt-in likewise.)
 */
@AutoConfiguration(afterName = {"dev.shepherd.spring.boot.autoconfigure.replica.ShepherdReplicaAutoConfiguration",
    "dev.shepherd.spring.boot.autoconfigure.pool.ShepherdPoolAutoConfiguration",
    "dev.shepherd.spring.boot.autoconfigure.watch.ShepherdWatchAutoConfiguration",
    "dev.shepherd.spring.boot.autoconfigure.idempotency.ShepherdIdempotencyAutoConfiguration"})
@ConditionalOnClass(name = "org.springframework.boot.health.contributor.HealthIndicator")
public final class ShepherdHealthAutoConfiguration {

  /*
   * Why every condition on an optional library names its classes as strings: an application's
   * test registers this class itself (AutoConfigurations.of(...)), and Spring then reads its
   * annotations by reflection. A class literal of an absent library cannot be read, so the
   * annotation is dropped and the configuration is processed as if unconditional: the nested
   * configurations below, whose bean methods name Actuator's health types, then fail to load. Names are
   * read either way. Each nested configuration carries its own condition for the same reason.
   */
  /** Creates the configuration; used by Spring. */
  public ShepherdHealthAutoConfiguration() {}

  /** One contributor per item, under the item's name, in the items' order. */
  private static <T> HealthContributor composite(Collection<T> items, Function<T, String> name,
      Function<T, HealthContributor> contributor) {
    Map<String, HealthContributor> byName = new LinkedHashMap<>();
    items.forEach(item -> byName.put(name.apply(item), contributor.apply(item)));
    return CompositeHealthContributor.fromMap(byName);
  }

  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(name = "dev.shepherd.replica.ReplicaTracker")
  @ConditionalOnBean(type = "dev.shepherd.spring.boot.autoconfigure.replica.ShepherdReplicas")
  @ConditionalOnProperty(name = "management.health.shepherd-replica.enabled", havingValue = "true")
  static final class ReplicaHealth {
    @Bean
    @ConditionalOnMissingBean(name = "shepherdReplicaHealthContributor")
    HealthContributor shepherdReplicaHealthContributor(ShepherdReplicas replicas) {
      return composite(replicas.trackers(), ReplicaTracker::name, ReplicaHealthIndicator::new);
    }
  }

  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(name = "dev.shepherd.pool.ElasticPool")
  @ConditionalOnBean(type = "dev.shepherd.pool.ElasticPool")
  @ConditionalOnProperty(name = "management.health.shepherd-pool.enabled", havingValue = "true")
  static final class PoolHealth {
    @Bean
    @ConditionalOnMissingBean(name = "shepherdPoolHealthContributor")
    HealthContributor shepherdPoolHealthContributor(ListableBeanFactory beans) {
      return composite(List.of(beans.getBeanNamesForType(ElasticPool.class)), name -> name,
          name -> (HealthIndicator) () -> pool(beans.getBean(name, ElasticPool.class)));
    }

    /** UP unless callers wait while no runner is ready or booting (the pool cannot serve them). */
    private static Health pool(ElasticPool pool) {
      PoolSnapshot s = pool.snapshot();
      Health.Builder health = s.waiters() > 0 && s.ready() == 0 && s.booting() == 0 ? Health.down() : Health.up();
      return health.withDetail("ready", s.ready()).withDetail("booting", s.booting()).withDetail("draining", s.draining())
          .withDetail("busySlots", s.busySlots()).withDetail("waiters", s.waiters()).withDetail("max", s.max())
          .withDetail("boots", s.boots()).withDetail("bootFailures", s.bootFailures()).withDetail("deaths", s.deaths())
          .build();
    }
  }

  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(name = "dev.shepherd.watch.Subscription")
  @ConditionalOnBean(type = "dev.shepherd.spring.boot.autoconfigure.watch.ShepherdWatches")
  @ConditionalOnProperty(name = "management.health.shepherd-watch.enabled", havingValue = "true")
  static final class WatchHealth {
    @Bean
    @ConditionalOnMissingBean(name = "shepherdWatchHealthContributor")
    HealthContributor shepherdWatchHealthContributor(ShepherdWatches watches) {
      return (HealthIndicator) () -> {
        Map<String, Subscription<Optional<String>>> subscriptions = watches.subscriptions();
        Health.Builder health = Health.up();
        for (Map.Entry<String, Subscription<Optional<String>>> entry : subscriptions.entrySet()) {
          Subscription<Optional<String>> s = entry.getValue();
          Map<String, Object> detail = new LinkedHashMap<>();
          detail.put("key", s.key());
          detail.put("failing", s.isFailing());
          detail.put("sinceLastSuccess", s.sinceLastSuccess().truncatedTo(java.time.temporal.ChronoUnit.MILLIS).toString());
          detail.put("consecutiveFailures", s.consecutiveFailures());
          s.latest().ifPresent(v -> detail.put("index", v.index()));
          s.lastError().ifPresent(e -> detail.put("lastError", String.valueOf(e)));
          if (s.isFailing()) {
            health.down();
          }
          health.withDetail(entry.getKey(), detail);
        }
        return health.build();
      };
    }
  }

  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(name = "dev.shepherd.idempotency.IdempotencyStore")
  @ConditionalOnBean(type = "dev.shepherd.idempotency.IdempotencyStore")
  // Kebab case, like the other three: the condition asks the environment for this canonical name,
  // which Spring Boot's relaxed binding also finds set as shepherdIdempotency or SHEPHERDIDEMPOTENCY;
  // a camel-case name here would be matched only when written exactly so.
  @ConditionalOnEnabledHealthIndicator("shepherd-idempotency")
  static final class IdempotencyHealth {
    @Bean
    @ConditionalOnMissingBean(name = "shepherdIdempotencyHealthContributor")
    HealthContributor shepherdIdempotencyHealthContributor(IdempotencyStore store) {
      return (HealthIndicator) () -> {
        try {
          // Renewing a claim nobody holds changes nothing and answers false: one round trip to the store.
          store.renew("shepherd-health-check", 0L, Duration.ofSeconds(1), Duration.ofSeconds(1));
          return Health.up().withDetail("store", store.getClass().getSimpleName()).build();
        } catch (RuntimeException e) {
          return Health.down(e).withDetail("store", store.getClass().getSimpleName()).build();
        }
      };
    }
  }
}
