package dev.shepherd.spring.boot.autoconfigure.cache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.cache.CoalescingCache;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.cache.autoconfigure.CacheAutoConfiguration;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.cache.CacheManager;
import org.springframework.cache.annotation.Cacheable;
import org.springframework.cache.annotation.EnableCaching;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** {@code @Cacheable(sync = true)} on the coalescing cache manager: one invocation per stampede, success or failure. */
class CacheableStampedeTest {

  static final int CALLERS = 1_000;

  /** An application service whose method runs only when every caller waits on its load. */
  static class Prices {
    private final AtomicInteger invocations = new AtomicInteger();
    private final CacheManager cacheManager;

    Prices(CacheManager cacheManager) {
      this.cacheManager = cacheManager;
    }

    /** How many times a cached method ran (a method, so that it reaches the target through the caching proxy). */
    public int invocations() {
      return invocations.get();
    }

    @SuppressWarnings("unchecked")
    void awaitAllCallers(String key) throws InterruptedException {
      CoalescingCache<Object, Object> cache =
          (CoalescingCache<Object, Object>) cacheManager.getCache("prices").getNativeCache();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (cache.waitingCallers(key) < CALLERS && System.nanoTime() < deadline) {
        Thread.sleep(5);
      }
    }

    @Cacheable(cacheNames = "prices", sync = true)
    public Long price(String product) throws InterruptedException {
      invocations.incrementAndGet();
      awaitAllCallers(product);
      return 42L;
    }

    @Cacheable(cacheNames = "prices", sync = true)
    public java.util.concurrent.CompletableFuture<Long> asyncPrice(String product) throws InterruptedException {
      invocations.incrementAndGet();
      awaitAllCallers(product);
      return java.util.concurrent.CompletableFuture.supplyAsync(() -> 7L);
    }

    @Cacheable(cacheNames = "prices", sync = true)
    public Long failingPrice(String product) throws InterruptedException {
      invocations.incrementAndGet();
      awaitAllCallers(product);
      throw new IllegalStateException("catalog down for " + product);
    }
  }

  @Configuration(proxyBeanMethods = false)
  @EnableCaching
  static class App {
    @Bean
    Prices prices(CacheManager cacheManager) {
      return new Prices(cacheManager);
    }
  }

  private final ApplicationContextRunner runner = new ApplicationContextRunner()
      .withConfiguration(AutoConfigurations.of(ShepherdCacheAutoConfiguration.class, CacheAutoConfiguration.class))
      .withUserConfiguration(App.class)
      .withPropertyValues("shepherd.cache.caches.prices.time-to-live=5m");

  interface Call {
    Object call() throws Exception;
  }

  private static List<Object> stampede(Call call) throws Exception {
    List<Object> outcomes = new ArrayList<>();
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<Object>> futures = new ArrayList<>();
      for (int i = 0; i < CALLERS; i++) {
        futures.add(threads.submit(() -> {
          try {
            return call.call();
          } catch (Exception e) {
            return e;
          }
        }));
      }
      for (Future<Object> f : futures) {
        outcomes.add(f.get(2, TimeUnit.MINUTES));
      }
    }
    return outcomes;
  }

  @Test
  void aThousandConcurrentCallsOnAColdKeyInvokeTheMethodOnce() {
    runner.run(context -> {
      assertThat(context).hasSingleBean(CoalescingCacheManager.class);
      Prices prices = context.getBean(Prices.class);
      List<Object> outcomes = stampede(() -> prices.price("p1"));
      assertThat(prices.invocations()).isEqualTo(1);
      assertThat(outcomes).hasSize(CALLERS).containsOnly(42L);
      assertThat(prices.price("p1")).isEqualTo(42L);
      assertThat(prices.invocations()).isEqualTo(1);
    });
  }

  @Test
  void aThousandConcurrentCallsOfAThrowingMethodInvokeItOnceAndAllGetItsFailure() {
    runner.run(context -> {
      Prices prices = context.getBean(Prices.class);
      List<Object> outcomes = stampede(() -> prices.failingPrice("p2"));
      assertThat(prices.invocations()).isEqualTo(1);
      assertThat(outcomes).hasSize(CALLERS).allSatisfy(o -> assertThat(o)
          .isInstanceOf(IllegalStateException.class)
          .hasFieldOrPropertyWithValue("message", "catalog down for p2"));
    });
  }

  @Test
  void aThousandConcurrentCallsOfAnAsyncMethodInvokeItOnce() {
    runner.run(context -> {
      Prices prices = context.getBean(Prices.class);
      List<Object> outcomes = stampede(() -> prices.asyncPrice("p4").get(2, TimeUnit.MINUTES));
      assertThat(prices.invocations()).isEqualTo(1);
      assertThat(outcomes).hasSize(CALLERS).containsOnly(7L);
    });
  }

  @Test
  void aKeptFailureIsAnsweredWithoutInvokingTheMethodAgain() {
    runner.withPropertyValues("shepherd.cache.caches.prices.cache-failures-for=1h").run(context -> {
      Prices prices = context.getBean(Prices.class);
      stampede(() -> prices.failingPrice("p3"));
      Object later = stampede(() -> prices.failingPrice("p3")).get(0);
      assertThat(later).isInstanceOf(IllegalStateException.class);
      assertThat(prices.invocations()).isEqualTo(1);
    });
  }
}
