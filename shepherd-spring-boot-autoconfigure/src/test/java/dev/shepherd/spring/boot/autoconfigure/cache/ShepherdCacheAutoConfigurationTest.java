package dev.shepherd.spring.boot.autoconfigure.cache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.spring.boot.autoconfigure.Failures;
import dev.shepherd.cache.CoalescingCache;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.cache.autoconfigure.CacheAutoConfiguration;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.cache.CacheManager;
import org.springframework.cache.annotation.EnableCaching;
import org.springframework.cache.concurrent.ConcurrentMapCacheManager;
import org.springframework.cache.support.NoOpCacheManager;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** The cache auto-configuration: present, absent, backed off, misconfigured. */
class ShepherdCacheAutoConfigurationTest {

  @Configuration(proxyBeanMethods = false)
  @EnableCaching
  static class Caching {}

  @Configuration(proxyBeanMethods = false)
  @EnableCaching
  static class OwnCacheManager {
    @Bean
    CacheManager ownCacheManager() {
      return new ConcurrentMapCacheManager("mine");
    }
  }

  private final ApplicationContextRunner runner = new ApplicationContextRunner()
      .withConfiguration(AutoConfigurations.of(ShepherdCacheAutoConfiguration.class, CacheAutoConfiguration.class));

  @Test
  void presentWithEnableCachingAndConfiguredCachesAreBuiltFromProperties() {
    runner.withUserConfiguration(Caching.class)
        .withPropertyValues("shepherd.cache.caches.products.maximum-size=10", "shepherd.cache.caches.products.time-to-live=5m",
            "shepherd.cache.dynamic=false")
        .run(context -> {
          CacheManager manager = context.getBean(CacheManager.class);
          assertThat(manager).isInstanceOf(CoalescingCacheManager.class);
          assertThat(manager.getCacheNames()).containsExactly("products");
          assertThat(manager.getCache("products").getNativeCache()).isInstanceOf(CoalescingCache.class);
          assertThat(manager.getCache("other")).as("not configured and not dynamic").isNull();
        });
  }

  @Test
  void dynamicCachesTakeTheDefaults() {
    runner.withUserConfiguration(Caching.class).run(context -> {
      CacheManager manager = context.getBean(CacheManager.class);
      manager.getCache("anything").put("k", "v");
      assertThat(manager.getCache("anything").get("k").get()).isEqualTo("v");
      manager.getCache("anything").put("n", null);
      assertThat(manager.getCache("anything").get("n")).as("null is stored as a value").isNotNull();
    });
  }

  @Test
  void absentWithoutEnableCaching() {
    runner.run(context -> assertThat(context).doesNotHaveBean(CacheManager.class));
  }

  @Test
  void absentWhenDisabledSpringBootsOwnTakesOver() {
    runner.withUserConfiguration(Caching.class).withPropertyValues("shepherd.cache.enabled=false")
        .run(context -> assertThat(context.getBean(CacheManager.class)).isNotInstanceOf(CoalescingCacheManager.class));
  }

  @Test
  void springCacheTypeChoosesSpringBootsCacheAndNoneTurnsCachingOff() {
    runner.withUserConfiguration(Caching.class).withPropertyValues("spring.cache.type=none")
        .run(context -> assertThat(context.getBean(CacheManager.class)).isInstanceOf(NoOpCacheManager.class));
    runner.withUserConfiguration(Caching.class).withPropertyValues("spring.cache.type=simple")
        .run(context -> assertThat(context.getBean(CacheManager.class)).isInstanceOf(ConcurrentMapCacheManager.class));
  }

  @Test
  void backsOffForTheApplicationsCacheManager() {
    runner.withUserConfiguration(OwnCacheManager.class)
        .run(context -> assertThat(context).hasSingleBean(CacheManager.class).doesNotHaveBean(CoalescingCacheManager.class));
  }

  @Test
  void misconfiguredFailsAtStartNamingTheProperty() {
    runner.withUserConfiguration(Caching.class).withPropertyValues("shepherd.cache.caches.products.time-to-live=0s")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.cache.caches.products.time-to-live"));
  }

  @Test
  void aBadDefaultFailsAtStartNamingTheDefaultNotTheFirstCacheThatUsesIt() {
    runner.withUserConfiguration(Caching.class).withPropertyValues("shepherd.cache.defaults.time-to-live=0s")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.cache.defaults.time-to-live"));
    runner.withUserConfiguration(Caching.class).withPropertyValues("shepherd.cache.defaults.wait-timeout=-1s")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.cache.defaults.wait-timeout"));
    runner.withUserConfiguration(Caching.class)
        .withPropertyValues("shepherd.cache.caches.products.maximum-size=10", "shepherd.cache.defaults.load-timeout=0s")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.cache.defaults.load-timeout")
            .doesNotContain("shepherd.cache.caches.products"));
  }
}
