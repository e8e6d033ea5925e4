package dev.shepherd.spring.boot.autoconfigure.cache;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.cache.CacheManager;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Conditional;

/**
 * Installs a {@link CoalescingCacheManager} when the application enables caching
 * ({@code @EnableCaching}), defines no {@link CacheManager} of its own and leaves {@code
 * spring.cache.type} unset; it runs before Spring Boot's cache auto-configuration, which then backs
 * off. With {@code spring.cache.type} set, Boot's cache of that type is made instead ({@code none}
 * turns caching off). Every {@link CoalescingCacheListener} bean is told of each cache created.
 */
@AutoConfiguration(
    beforeName = "org.springframework.boot.cache.autoconfigure.CacheAutoConfiguration")
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
   * @return the manager
   */
  @Bean
  public CoalescingCacheManager cacheManager(ShepherdCacheProperties properties, ObjectProvider<CoalescingCacheListener> listeners) {
    return new CoalescingCacheManager(properties, cache -> listeners.orderedStream().forEach(l -> l.created(cache)));
  }
}
