package dev.shepherd.spring.boot.autoconfigure.actuate;

import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.micrometer.ShepherdMetrics;
import dev.shepherd.pool.ElasticPool;
import dev.shepherd.replica.ReplicaTracker;
import dev.shepherd.spring.boot.autoconfigure.cache.CoalescingCacheListener;
import dev.shepherd.spring.boot.autoconfigure.idempotency.IdempotencyStoreDecorator;
import dev.shepherd.spring.boot.autoconfigure.replica.ReplicaRouterCustomizer;
import dev.shepherd.spring.boot.autoconfigure.replica.ShepherdReplicas;
import dev.shepherd.spring.boot.autoconfigure.watch.ShepherdWatches;
import dev.shepherd.watch.Watcher;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
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
 */
@AutoConfiguration(afterName = {
    "org.springframework.boot.micrometer.metrics.autoconfigure.MetricsAutoConfiguration",
    "org.springframework.boot.micrometer.metrics.autoconfigure.CompositeMeterRegistryAutoConfiguration"})
@ConditionalOnClass({ShepherdMetrics.class, MeterRegistry.class})
@ConditionalOnBean(MeterRegistry.class)
public final class ShepherdMetricsAutoConfiguration {
  /** Creates the configuration; used by Spring. */
  public ShepherdMetricsAutoConfiguration() {}


  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(CoalescingCache.class)
  static final class CacheMetrics {
    @Bean
    CoalescingCacheListener shepherdCacheMetrics(ObjectProvider<MeterRegistry> registry) {
      return cache -> registry.ifAvailable(r -> ShepherdMetrics.bindCache(r, cache.getName(), cache.getNativeCache()));
    }
  }

  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(ReplicaTracker.class)
  static final class ReplicaMetrics {
    @Bean
    ReplicaRouterCustomizer shepherdReplicaRouteMetrics(ObjectProvider<MeterRegistry> registry) {
      return router -> registry.ifAvailable(r -> router.listener(ShepherdMetrics.routeListener(r, "primary")));
    }

    @Bean
    MeterBinder shepherdReplicaTrackerMetrics(ObjectProvider<ShepherdReplicas> replicas) {
      return registry -> replicas.ifAvailable(r -> r.trackers().forEach(t -> ShepherdMetrics.bindReplicaTracker(registry, t)));
    }
  }

  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(IdempotencyStore.class)
  static final class IdempotencyMetrics {
    @Bean
    IdempotencyStoreDecorator shepherdIdempotencyStoreMetrics(ObjectProvider<MeterRegistry> registry) {
      return store -> {
        MeterRegistry r = registry.getIfAvailable();
        return r == null ? store : ShepherdMetrics.meteredStore(r, "default", store);
      };
    }
  }

  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(ElasticPool.class)
  static final class PoolMetrics {
    @Bean
    MeterBinder shepherdPoolMetrics(ObjectProvider<ElasticPool> pools) {
      return registry -> pools.orderedStream().forEach(pool -> ShepherdMetrics.bindPool(registry, pool));
    }
  }

  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(Watcher.class)
  static final class WatchMetrics {
    @Bean
    MeterBinder shepherdWatchMetrics(ObjectProvider<ShepherdWatches> watches) {
      return registry -> watches.ifAvailable(w -> ShepherdMetrics.bindWatcher(registry, "shepherd", w.watcher()));
    }
  }
}
