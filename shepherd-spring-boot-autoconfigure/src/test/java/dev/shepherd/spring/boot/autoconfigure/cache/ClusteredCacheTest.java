package dev.shepherd.spring.boot.autoconfigure.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.jsontype.impl.LaissezFaireSubTypeValidator;
import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.cache.redis.KeyCodec;
import dev.shepherd.cache.redis.RedisCourier;
import dev.shepherd.spring.boot.autoconfigure.Failures;
import dev.shepherd.testing.RedisServer;
import io.lettuce.core.RedisClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.cache.autoconfigure.CacheAutoConfiguration;
import org.springframework.boot.data.redis.autoconfigure.DataRedisAutoConfiguration;
import org.springframework.boot.test.context.assertj.AssertableApplicationContext;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.cache.CacheManager;
import org.springframework.cache.annotation.CacheEvict;
import org.springframework.cache.annotation.Cacheable;
import org.springframework.cache.annotation.EnableCaching;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Cluster mode behind Spring's cache abstraction, on a real Redis: two application contexts in this
 * JVM, each with its own Redis client and couriers, are two members of one cluster.
 */
class ClusteredCacheTest {

  @RegisterExtension static final RedisServer redis = RedisServer.create();

  static final int CALLERS_PER_CONTEXT = 50;

  /** A cached product; the JSON of the value type the properties name. */
  public record Product(String id, int version) {}

  /** The loads of both contexts, counted together, each held until {@link #release} opens. */
  static final class Loads {
    final AtomicInteger calls = new AtomicInteger();
    final AtomicInteger version = new AtomicInteger(1);
    final CountDownLatch release;

    Loads(boolean held) {
      this.release = new CountDownLatch(held ? 1 : 0);
    }
  }

  /** An application service; the same class in both contexts. */
  static class Catalog {
    private final Loads loads;

    Catalog(Loads loads) {
      this.loads = loads;
    }

    @Cacheable(cacheNames = "products", sync = true)
    public Product product(String id) throws InterruptedException {
      loads.calls.incrementAndGet();
      assertThat(loads.release.await(2, TimeUnit.MINUTES)).as("released").isTrue();
      return new Product(id, loads.version.get());
    }

    @Cacheable(cacheNames = "products", sync = true)
    public Product byKey(Object key) {
      loads.calls.incrementAndGet();
      return new Product(String.valueOf(key), loads.version.get());
    }

    @Cacheable(cacheNames = "products", sync = true)
    public @Nullable Product discontinued(String id) {
      loads.calls.incrementAndGet();
      return null;
    }

    @CacheEvict(cacheNames = "products")
    public void evict(String id) {
      // the annotation does it
    }
  }

  /** A key type the default key codec does not take. */
  record Sku(String code) {}

  @Configuration(proxyBeanMethods = false)
  @EnableCaching
  static class App {
    @Bean
    Catalog catalog(Loads loads) {
      return new Catalog(loads);
    }
  }

  @Configuration(proxyBeanMethods = false)
  static class LettuceClient {
    @Bean(destroyMethod = "shutdown")
    RedisClient redisClient() {
      return RedisClient.create(redis.uri());
    }
  }

  private static final String VALUE_TYPE = "shepherd.cache.caches.products.cluster.value-type=" + Product.class.getName();

  /** A member with a RedisClient bean of its own, in a cluster named per test (its own key prefix). */
  private static ApplicationContextRunner member(Loads loads, String prefix) {
    return new ApplicationContextRunner()
        .withConfiguration(AutoConfigurations.of(ShepherdCacheAutoConfiguration.class, CacheAutoConfiguration.class))
        .withUserConfiguration(App.class, LettuceClient.class)
        .withBean(Loads.class, () -> loads)
        .withPropertyValues("shepherd.cache.cluster.enabled=true", VALUE_TYPE, "shepherd.cache.dynamic=false",
            "shepherd.cache.defaults.cluster.key-prefix=test:" + prefix + ":");
  }

  /** A member that reaches Redis through Spring Data Redis's Lettuce connection factory instead. */
  private static ApplicationContextRunner springDataMember(Loads loads, String prefix) {
    return new ApplicationContextRunner()
        .withConfiguration(AutoConfigurations.of(DataRedisAutoConfiguration.class, ShepherdCacheAutoConfiguration.class,
            CacheAutoConfiguration.class))
        .withUserConfiguration(App.class)
        .withBean(Loads.class, () -> loads)
        .withPropertyValues("spring.data.redis.url=" + redis.uri(), "shepherd.cache.cluster.enabled=true", VALUE_TYPE,
            "shepherd.cache.dynamic=false", "shepherd.cache.defaults.cluster.key-prefix=test:" + prefix + ":");
  }

  @SuppressWarnings("unchecked")
  private static CoalescingCache<Object, Object> products(AssertableApplicationContext context) {
    return (CoalescingCache<Object, Object>) context.getBean(CacheManager.class).getCache("products").getNativeCache();
  }

  /** Waits until the context's courier has joined the cluster (a courier starts local, and joins at its first probe). */
  private static void awaitClustered(AssertableApplicationContext context) {
    assertThat(context).hasNotFailed();
    RedisCourier<?, ?> courier = (RedisCourier<?, ?>) products(context).config().courier();
    await().atMost(Duration.ofSeconds(30)).until(courier::isClustered);
  }

  @Test
  void manyCallersInTwoContextsOnOneColdKeyRunTheMethodOnceInTotal() {
    Loads loads = new Loads(true);
    member(loads, "stampede").run(a -> springDataMember(loads, "stampede").run(b -> {
      awaitClustered(a);
      awaitClustered(b);
      Catalog inA = a.getBean(Catalog.class);
      Catalog inB = b.getBean(Catalog.class);
      List<Future<Product>> answers = new ArrayList<>();
      try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
        for (int i = 0; i < CALLERS_PER_CONTEXT; i++) {
          answers.add(threads.submit(() -> inA.product("p1")));
          answers.add(threads.submit(() -> inB.product("p1")));
        }
        // Every caller of both contexts waits on the one load before it may finish.
        await().atMost(Duration.ofSeconds(60)).until(() ->
            products(a).waitingCallers("p1") == CALLERS_PER_CONTEXT && products(b).waitingCallers("p1") == CALLERS_PER_CONTEXT);
        loads.release.countDown();
        for (Future<Product> answer : answers) {
          assertThat(answer.get(2, TimeUnit.MINUTES)).isEqualTo(new Product("p1", 1));
        }
      }
      assertThat(loads.calls).as("method runs across both contexts").hasValue(1);
    }));
  }

  @Test
  void aValueLoadedInOneContextIsReadFromTheSharedTierByTheOtherWithoutALoad() {
    Loads loads = new Loads(false);
    member(loads, "shared").run(a -> member(loads, "shared").run(b -> {
      awaitClustered(a);
      awaitClustered(b);
      assertThat(a.getBean(Catalog.class).product("p3")).isEqualTo(new Product("p3", 1));
      loads.version.set(2);
      assertThat(b.getBean(Catalog.class).product("p3")).as("the first context's value").isEqualTo(new Product("p3", 1));
      assertThat(loads.calls).hasValue(1);
    }));
  }

  @Test
  void aCachedNullTravelsToTheOtherContextToo() {
    Loads loads = new Loads(false);
    member(loads, "null").run(a -> member(loads, "null").run(b -> {
      awaitClustered(a);
      awaitClustered(b);
      assertThat(a.getBean(Catalog.class).discontinued("p5")).isNull();
      assertThat(b.getBean(Catalog.class).discontinued("p5")).isNull();
      assertThat(loads.calls).as("the null is Spring's NullValue, shared as JSON null").hasValue(1);
    }));
  }

  @Test
  void anEvictInOneContextMakesTheOtherAnswerAFreshValue() {
    Loads loads = new Loads(false);
    member(loads, "evict").run(a -> member(loads, "evict").run(b -> {
      awaitClustered(a);
      awaitClustered(b);
      Catalog inA = a.getBean(Catalog.class);
      Catalog inB = b.getBean(Catalog.class);
      assertThat(inB.product("p2")).isEqualTo(new Product("p2", 1));
      assertThat(inA.product("p2")).isEqualTo(new Product("p2", 1));
      loads.version.set(2);
      inA.evict("p2");
      // The invalidation reaches the other context through Redis' channel: one delivery later.
      await().atMost(Duration.ofSeconds(30)).until(() -> products(b).getIfPresent("p2") == null);
      assertThat(inB.product("p2")).isEqualTo(new Product("p2", 2));
      assertThat(inA.product("p2")).as("from the shared tier").isEqualTo(new Product("p2", 2));
      assertThat(loads.calls).hasValue(2);
    }));
  }

  @Test
  void theCouriersCloseBeforeSpringDataRedisShutsItsClientDown() {
    Loads loads = new Loads(false);
    AtomicReference<RedisCourier<?, ?>> courier = new AtomicReference<>();
    springDataMember(loads, "close").run(context -> {
      awaitClustered(context);
      courier.set((RedisCourier<?, ?>) products(context).config().courier());
      assertThat(context.getBean(Catalog.class).product("p4")).isEqualTo(new Product("p4", 1));
    });
    // The connection factory shuts its client down when the context stops, before beans are
    // destroyed: a courier still open then loses its connections and falls back to local mode.
    assertThat(courier.get().isClustered()).isFalse();
    assertThat(courier.get().stats().fallbacks()).as("fallbacks").isZero();
  }

  @Test
  void aKeyOfAnotherTypeFailsTheCallNamingTheCacheAndTheKeysClass() {
    Loads loads = new Loads(false);
    member(loads, "keys").run(context -> {
      assertThat(context).hasNotFailed();
      Catalog catalog = context.getBean(Catalog.class);
      assertThatThrownBy(() -> catalog.byKey(new Sku("x-1")))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("Cache 'products' is clustered")
          .hasMessageContaining(Sku.class.getName())
          .hasMessageContaining("ShepherdCacheKeyCodecs");
      // Refused before the cache is asked, by every method: a lookup, a put, an evict.
      org.springframework.cache.Cache products = context.getBean(CacheManager.class).getCache("products");
      assertThatThrownBy(() -> products.get(new Sku("x-1"))).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining(Sku.class.getName());
      assertThatThrownBy(() -> products.put(new Sku("x-1"), new Product("x-1", 1))).isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> products.evict(new Sku("x-1"))).isInstanceOf(IllegalArgumentException.class);
      assertThat(products(context).estimatedSize()).isZero();
      assertThat(loads.calls).hasValue(0);
      // Long, Integer and UUID keys (and String ones) are taken, each under its own text.
      UUID id = UUID.randomUUID();
      assertThat(catalog.byKey(1L)).isEqualTo(new Product("1", 1));
      assertThat(catalog.byKey(1)).isEqualTo(new Product("1", 1));
      assertThat(catalog.byKey(id)).isEqualTo(new Product(id.toString(), 1));
      assertThat(loads.calls).hasValue(3);
    });
  }

  @Test
  void aKeyCodecOfTheApplicationsTakesOtherKeys() {
    Loads loads = new Loads(false);
    member(loads, "own-keys")
        .withBean(ShepherdCacheKeyCodecs.class, () -> name -> name.equals("products")
            ? KeyCodec.of((Sku sku) -> sku.code(), Sku::new) : null)
        .run(context -> {
          assertThat(context).hasNotFailed();
          assertThat(context.getBean(Catalog.class).byKey(new Sku("x-1"))).isEqualTo(new Product("Sku[code=x-1]", 1));
        });
  }

  @Test
  void aClusteredCacheWithoutAValueTypeStopsTheStartNamingTheCacheAndTheProperty() {
    new ApplicationContextRunner()
        .withConfiguration(AutoConfigurations.of(ShepherdCacheAutoConfiguration.class, CacheAutoConfiguration.class))
        .withUserConfiguration(App.class, LettuceClient.class)
        .withBean(Loads.class, () -> new Loads(false))
        .withPropertyValues("shepherd.cache.cluster.enabled=true", "shepherd.cache.dynamic=false",
            "shepherd.cache.caches.products.time-to-live=5m")
        .run(context -> assertThat(Failures.of(context))
            .contains("shepherd.cache.caches.products.cluster.value-type").contains("cache 'products'"));
  }

  @Test
  void dynamicCachesInClusterModeNeedADefaultValueType() {
    new ApplicationContextRunner()
        .withConfiguration(AutoConfigurations.of(ShepherdCacheAutoConfiguration.class, CacheAutoConfiguration.class))
        .withUserConfiguration(App.class, LettuceClient.class)
        .withBean(Loads.class, () -> new Loads(false))
        .withPropertyValues("shepherd.cache.cluster.enabled=true", VALUE_TYPE)
        .run(context -> assertThat(Failures.of(context))
            .contains("shepherd.cache.defaults.cluster.value-type").contains("shepherd.cache.defaults.cluster.enabled=false")
            .contains("shepherd.cache.dynamic=false"));
  }

  @Test
  void aValueTypeThatCannotBeLoadedStopsTheStartNamingTheCacheAndTheProperty() {
    member(new Loads(false), "unknown")
        .withPropertyValues("shepherd.cache.caches.products.cluster.value-type=com.example.NoSuchProduct")
        .run(context -> assertThat(Failures.of(context))
            .contains("shepherd.cache.caches.products.cluster.value-type").contains("com.example.NoSuchProduct")
            .contains("cache 'products'"));
  }

  @Test
  void clusterModeWithoutARedisClientStopsTheStartSayingWhatToAdd() {
    new ApplicationContextRunner()
        .withConfiguration(AutoConfigurations.of(ShepherdCacheAutoConfiguration.class, CacheAutoConfiguration.class))
        .withUserConfiguration(App.class)
        .withBean(Loads.class, () -> new Loads(false))
        .withPropertyValues("shepherd.cache.cluster.enabled=true", VALUE_TYPE, "shepherd.cache.dynamic=false")
        .run(context -> assertThat(Failures.of(context))
            .contains("shepherd.cache.cluster.enabled").contains("spring-boot-starter-data-redis").contains("RedisClient bean"));
  }

  @Test
  void loadingOnTheCallingThreadIsRefusedForAClusteredCache() {
    member(new Loads(false), "calling-thread")
        .withPropertyValues("shepherd.cache.caches.products.load-on-calling-thread=true")
        .run(context -> assertThat(Failures.of(context))
            .contains("shepherd.cache.caches.products.load-on-calling-thread").contains("clustered"));
  }

  @Test
  void aBadClusterSettingStopsTheStartNamingItsProperty() {
    member(new Loads(false), "bad").withPropertyValues("shepherd.cache.caches.products.cluster.lease=10ms",
        "shepherd.cache.defaults.cluster.max-value-bytes=0")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.cache.caches.products.cluster.lease"));
    member(new Loads(false), "bad").withPropertyValues("shepherd.cache.defaults.cluster.max-value-bytes=0")
        .run(context -> assertThat(Failures.of(context)).contains("shepherd.cache.defaults.cluster.max-value-bytes"));
  }

  @Test
  void cachesCreatedOnFirstUseTakeTheDefaultClusterSettings() {
    Loads loads = new Loads(false);
    member(loads, "dynamic").withPropertyValues("shepherd.cache.dynamic=true",
        "shepherd.cache.defaults.cluster.value-type=" + Product.class.getName()).run(context -> {
          assertThat(context).hasNotFailed();
          CoalescingCache<?, ?> others = (CoalescingCache<?, ?>) context.getBean(CacheManager.class).getCache("others").getNativeCache();
          assertThat(others.config().courier()).isInstanceOf(RedisCourier.class);
          RedisCourier<?, ?> courier = (RedisCourier<?, ?>) others.config().courier();
          assertThat(courier.toString()).contains("test:dynamic:others");
        });
  }

  @Test
  void anObjectMapperWithDefaultTypingStopsTheStart() {
    member(new Loads(false), "typing")
        .withBean(ObjectMapper.class, () -> new ObjectMapper()
            .activateDefaultTyping(LaissezFaireSubTypeValidator.instance, ObjectMapper.DefaultTyping.NON_FINAL))
        .run(context -> assertThat(Failures.of(context))
            .contains("shepherd.cache.caches.products.cluster.value-type").contains("default typing"));
  }

  @Test
  void withClusterModeOffNoCacheHasACourierOfRedis() {
    member(new Loads(false), "off").withPropertyValues("shepherd.cache.cluster.enabled=false").run(context -> {
      assertThat(context).hasNotFailed();
      assertThat(products(context).config().courier()).isNotInstanceOf(RedisCourier.class);
    });
  }

  @Test
  void aCacheMayStayInItsJvm() {
    member(new Loads(false), "local-only").withPropertyValues("shepherd.cache.caches.products.cluster.enabled=false",
        "shepherd.cache.dynamic=false").run(context -> {
          assertThat(context).hasNotFailed();
          assertThat(products(context).config().courier()).isNotInstanceOf(RedisCourier.class);
        });
  }
}
