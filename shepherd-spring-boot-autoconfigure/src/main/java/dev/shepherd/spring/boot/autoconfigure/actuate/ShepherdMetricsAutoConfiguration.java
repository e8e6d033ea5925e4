package dev.shepherd.spring.boot.autoconfigure.actuate;

import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.micrometer.ShepherdMetrics;
import dev.shepherd.pool.ElasticPool;
import dev.shepherd.replica.Route;
import dev.shepherd.spring.boot.autoconfigure.cache.CoalescingCacheListener;
import dev.shepherd.spring.boot.autoconfigure.idempotency.IdempotencyStoreDecorator;
import dev.shepherd.spring.boot.autoconfigure.replica.ReplicaRouterCustomizer;
import dev.shepherd.spring.boot.autoconfigure.replica.ShepherdReplicas;
import dev.shepherd.spring.boot.autoconfigure.watch.ShepherdWatches;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.function.Consumer;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Shepherd's meters (named in {@code ShepherdMetrics}'s javadoc) on the application's
 * {@link MeterRegistry}: every cache of the coalescing cache manager (tag {@code cache}), every
 * replica tracker and the routing decisions (tag {@code router=primary}), the idempotency store's
 * claims (tag {@code store=default}), every {@code ElasticPool} bean and the watcher (tag
 * {@code watcher=shepherd}).
 *
 * <p>Each is bound through a {@link ShepherdMetrics.Binding}, and the meters leave the registry
 * again: a pool's, the replicas' and the watcher's when that bean is destroyed, the others when the
 * context closes. A registry that outlives the context (one supplied from outside, a devtools
 * restart, tests sharing one) keeps no meter of a closed context's components.
 */
@AutoConfiguration(afterName = {
    "org.springframework.boot.micrometer.metrics.autoconfigure.MetricsAutoConfiguration",
    "org.springframework.boot.micrometer.metrics.autoconfigure.CompositeMeterRegistryAutoConfiguration"})
@ConditionalOnClass(name = {"dev.shepherd.micrometer.ShepherdMetrics", "io.micrometer.core.instrument.MeterRegistry"})
@ConditionalOnBean(type = "io.micrometer.core.instrument.MeterRegistry")
public final class ShepherdMetricsAutoConfiguration {

  /*
   * Why every condition on an optional library names its classes as strings: an application's
   * test registers this class itself (AutoConfigurations.of(...)), and Spring then reads its
   * annotations by reflection. A class literal of an absent library cannot be read, so the
   * annotation is dropped and the configuration is processed as if unconditional: the nested
   * configurations below, whose bean methods name Micrometer's types, then fail to load. Names are
   * read either way. Each nested configuration carries its own condition for the same reason.
   */
  /** Creates the configuration; used by Spring. */
  public ShepherdMetricsAutoConfiguration() {}

  /**
   * Where the bindings are kept until their component or the context goes; static, as a bean
   * post-processor must be (it is told of each component bean's destruction).
   */
  @Bean
  static ShepherdMeterBindings shepherdMeterBindings() {
    return new ShepherdMeterBindings();
  }

  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(name = "dev.shepherd.cache.CoalescingCache")
  static final class CacheMetrics {
    @Bean
    CoalescingCacheListener shepherdCacheMetrics(ObjectProvider<MeterRegistry> registry, ShepherdMeterBindings bindings) {
      return cache -> registry.ifAvailable(r -> bindings.bind(bindings, r, "the cache " + cache.getName(),
          b -> b.cache(cache.getName(), cache.getNativeCache())));
    }
  }

  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(name = "dev.shepherd.replica.ReplicaTracker")
  static final class ReplicaMetrics {
    @Bean
    ReplicaRouterCustomizer shepherdReplicaRouteMetrics(ObjectProvider<MeterRegistry> registry, ShepherdMeterBindings bindings) {
      return router -> registry.ifAvailable(r -> {
        Consumer<Route> listener = bindings.bind(bindings, r, "the router primary", b -> b.routeListener("primary"));
        if (listener != null) {
          router.listener(listener);
        }
      });
    }

    @Bean
    MeterBinder shepherdReplicaTrackerMetrics(ObjectProvider<ShepherdReplicas> replicas, ShepherdMeterBindings bindings) {
      return registry -> replicas.ifAvailable(r -> r.trackers().forEach(t -> bindings.bind(r, registry, "the replica " + t.name(),
          b -> b.replicaTracker(t))));
    }
  }

  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(name = "dev.shepherd.idempotency.IdempotencyStore")
  static final class IdempotencyMetrics {
    @Bean
    IdempotencyStoreDecorator shepherdIdempotencyStoreMetrics(ObjectProvider<MeterRegistry> registry, ShepherdMeterBindings bindings) {
      return store -> {
        MeterRegistry r = registry.getIfAvailable();
        IdempotencyStore metered = r == null ? null : bindings.bind(bindings, r, "the idempotency store", b -> b.meteredStore("default", store));
        return metered == null ? store : metered;
      };
    }
  }

  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(name = "dev.shepherd.pool.ElasticPool")
  static final class PoolMetrics {
    @Bean
    MeterBinder shepherdPoolMetrics(ObjectProvider<ElasticPool> pools, ShepherdMeterBindings bindings) {
      return registry -> pools.orderedStream().forEach(pool -> bindings.bind(pool, registry, "the pool " + pool.config().name(),
          b -> b.pool(pool)));
    }
  }

  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(name = "dev.shepherd.watch.Watcher")
  static final class WatchMetrics {
    @Bean
    MeterBinder shepherdWatchMetrics(ObjectProvider<ShepherdWatches> watches, ShepherdMeterBindings bindings) {
      return registry -> watches.ifAvailable(w -> bindings.bind(w, registry, "the watcher shepherd",
          b -> b.watcher("shepherd", w.watcher())));
    }
  }
}
