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

  /**
   * The cached method (Spring's value loader) of the caller that starts the load runs on that
   * caller's thread, with its thread-bound transaction and context, unless a cache turns it off or
   * sets a wait-timeout (the caller must be able to leave at it).
   */
  @Test
  void theCallerThatStartsALoadRunsTheCachedMethodOnItsOwnThreadUnlessTurnedOff() {
    runner.withUserConfiguration(Caching.class)
        .withPropertyValues("shepherd.cache.caches.off.load-on-calling-thread=false",
            "shepherd.cache.caches.timed.wait-timeout=30s")
        .run(context -> {
          CacheManager manager = context.getBean(CacheManager.class);
          String caller = Thread.currentThread().getName();
          java.util.concurrent.Callable<String> threadName = () -> Thread.currentThread().getName();
          assertThat(manager.getCache("default").get("k", threadName)).isEqualTo(caller);
          assertThat(manager.getCache("off").get("k", threadName)).startsWith("shepherd-cache-loader-");
          assertThat(manager.getCache("timed").get("k", threadName)).startsWith("shepherd-cache-loader-");
          assertThat(((CoalescingCache<?, ?>) manager.getCache("default").getNativeCache())
              .config().loadOnCallingThread()).isTrue();
        });
    runner.withUserConfiguration(Caching.class)
        .withPropertyValues("shepherd.cache.defaults.load-on-calling-thread=false")
        .run(context -> assertThat(context.getBean(CacheManager.class).getCache("any")
            .get("k", () -> Thread.currentThread().getName())).startsWith("shepherd-cache-loader-"));
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
