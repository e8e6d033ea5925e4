package dev.shepherd.spring.boot.autoconfigure.cache;

import org.springframework.beans.factory.BeanFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.config.ConfigurableBeanFactory;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.cache.CacheManager;
import org.springframework.context.SmartLifecycle;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Conditional;
import org.springframework.util.ClassUtils;

/**
 * Installs a {@link CoalescingCacheManager} when the application enables caching
 * ({@code @EnableCaching}), defines no {@link CacheManager} of its own and leaves {@code
 * spring.cache.type} unset; it runs before Spring Boot's cache auto-configuration, which then backs
 * off. With {@code spring.cache.type} set, Boot's cache of that type is made instead ({@code none}
 * turns caching off). Every {@link CoalescingCacheListener} bean is told of each cache created.
 *
 * <p>With {@code shepherd.cache.cluster.enabled=true}, each cache whose {@code cluster.enabled} is not
 * false coalesces across every JVM sharing one Redis: a {@code RedisCourier} of shepherd-cache-redis
 * per cache, on the application's Lettuce {@code RedisClient} bean, else Spring Data Redis's Lettuce
 * connection factory's client; its values are JSON of its {@code cluster.value-type}. The couriers
 * are closed with the manager, before the client. Shepherd-cache-redis, Lettuce and Jackson 2 are
 * looked for by name: without them the configuration loads as before, and only cluster mode stops
 * the start, naming what to add.
 */
@AutoConfiguration(
    beforeName = "org.springframework.boot.cache.autoconfigure.CacheAutoConfiguration",
    afterName = "org.springframework.boot.data.redis.autoconfigure.DataRedisAutoConfiguration")
@ConditionalOnClass(name = {"dev.shepherd.cache.CoalescingCache", "org.springframework.cache.CacheManager"})
@ConditionalOnBean(type = "org.springframework.cache.interceptor.CacheAspectSupport")
@ConditionalOnMissingBean(CacheManager.class)
@ConditionalOnProperty(prefix = "shepherd.cache", name = "enabled", havingValue = "true", matchIfMissing = true)
@Conditional(OnNoSpringCacheTypeCondition.class)
@EnableConfigurationProperties(ShepherdCacheProperties.class)
public final class ShepherdCacheAutoConfiguration {
  /** Creates the configuration; used by Spring. */
  public ShepherdCacheAutoConfiguration() {}


  /**
   * The coalescing cache manager.
   *
   * @param properties {@code shepherd.cache.*}
   * @param listeners told of each cache created
   * @param beanFactory where cluster mode finds the Redis client, the ObjectMapper and the
   *     {@link ShepherdCacheKeyCodecs}
   * @return the manager
   * @throws InvalidConfigurationPropertyValueException naming the property, when cluster mode is
   *     on without its libraries or a Redis client, or a clustered cache's settings are missing or
   *     invalid
   */
  @Bean
  public CoalescingCacheManager cacheManager(ShepherdCacheProperties properties, ObjectProvider<CoalescingCacheListener> listeners,
      BeanFactory beanFactory) {
    CacheClustering clustering = null;
    if (properties.cluster().enabled()) {
      // The application's class loader, the one Spring's class conditions ask.
      ClassLoader loader = beanFactory instanceof ConfigurableBeanFactory configurable && configurable.getBeanClassLoader() != null
          ? configurable.getBeanClassLoader() : ShepherdCacheAutoConfiguration.class.getClassLoader();
      for (String[] needed : CLUSTER_LIBRARIES) {
        if (!ClassUtils.isPresent(needed[0], loader)) {
          throw new InvalidConfigurationPropertyValueException("shepherd.cache.cluster.enabled", true,
              "cluster mode needs " + needed[1] + " on the class path");
        }
      }
      clustering = ClusterCouriers.create(beanFactory, loader, MANAGER, COURIERS);
    }
    return new CoalescingCacheManager(properties, cache -> listeners.orderedStream().forEach(l -> l.created(cache)), clustering);
  }

  /** The manager's bean name (the method's). */
  private static final String MANAGER = "cacheManager";

  /** The bean name of {@link #shepherdCacheCouriers}. */
  private static final String COURIERS = "shepherdCacheCouriers";

  /**
   * Closes the clustered caches' couriers when the context stops. Spring Data Redis's Lettuce
   * connection factory is a lifecycle bean that shuts its client down when the context stops,
   * before any bean is destroyed; this bean is made to depend on it (in cluster mode), so the
   * couriers close first. Without cluster mode it does nothing. A context stopped and started again
   * keeps its caches, coalescing in this JVM only (a closed courier loads locally).
   *
   * @param cacheManager the manager whose couriers it closes
   * @return the lifecycle
   */
  @Bean
  public SmartLifecycle shepherdCacheCouriers(CoalescingCacheManager cacheManager) {
    return new SmartLifecycle() {
      private volatile boolean running;

      @Override
      public void start() {
        running = true;
      }

      @Override
      public void stop() {
        running = false;
        cacheManager.close();
      }

      @Override
      public boolean isRunning() {
        return running;
      }
    };
  }

  /** A class of each library cluster mode needs, and the dependency that brings it. */
  private static final String[][] CLUSTER_LIBRARIES = {
    {"dev.shepherd.cache.redis.RedisCourier", "dev.shepherd:shepherd-cache-redis"},
    {"io.lettuce.core.RedisClient", "io.lettuce:lettuce-core (spring-boot-starter-data-redis brings it)"},
    {"com.fasterxml.jackson.databind.ObjectMapper", "com.fasterxml.jackson.core:jackson-databind (Jackson 2, for the values' JSON)"},
  };
}
