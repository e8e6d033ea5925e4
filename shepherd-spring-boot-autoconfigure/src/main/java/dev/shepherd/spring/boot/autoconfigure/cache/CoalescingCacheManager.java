package dev.shepherd.spring.boot.autoconfigure.cache;

import static dev.shepherd.spring.boot.autoconfigure.internal.Settings.setIfPresent;

import dev.shepherd.cache.CoalescingCache;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;
import org.springframework.cache.Cache;
import org.springframework.cache.CacheManager;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;

/**
 * A Spring {@link CacheManager} of {@link CoalescingSpringCache}s built from {@link
 * ShepherdCacheProperties}: the configured caches at once, others on first use with the defaults
 * (unless {@code shepherd.cache.dynamic=false}). In cluster mode ({@code
 * shepherd.cache.cluster.enabled}, made by {@link ShepherdCacheAutoConfiguration}) each clustered
 * cache has a {@code RedisCourier} of its own, closed by {@link #close()}. Thread-safe.
 */
public final class CoalescingCacheManager implements CacheManager, AutoCloseable {

  private final ShepherdCacheProperties properties;
  private final Consumer<CoalescingSpringCache> onCreate;
  private final @Nullable CacheClustering clustering;
  private final Map<String, CoalescingSpringCache> caches = new ConcurrentHashMap<>();
  /** Closes the couriers of the clustered caches; guarded by itself. */
  private final List<AutoCloseable> couriers = new ArrayList<>();

  /**
   * Creates the manager and the caches configured under {@code shepherd.cache.caches}, after
   * checking the defaults ({@code shepherd.cache.defaults.*}) that later caches are made with.
   *
   * @param properties the settings
   * @param onCreate told of every cache created (metrics binding), on the creating thread
   * @throws InvalidConfigurationPropertyValueException if a setting is invalid, naming the property
   */
  public CoalescingCacheManager(ShepherdCacheProperties properties, Consumer<CoalescingSpringCache> onCreate) {
    this(properties, onCreate, null);
  }

  /**
   * Creates the manager; with {@code clustering}, the caches it says are clustered get their courier
   * from it.
   */
  CoalescingCacheManager(ShepherdCacheProperties properties, Consumer<CoalescingSpringCache> onCreate,
      @Nullable CacheClustering clustering) {
    this.properties = properties;
    this.onCreate = onCreate;
    this.clustering = clustering;
    try {
      // The defaults on a builder that is thrown away: a bad one stops the start naming its property,
      // instead of failing the first dynamic cache at run time.
      builder("", null, properties.defaults(), false).config();
      if (clustering != null && properties.dynamic()) {
        // Likewise the defaults' cluster settings, which dynamic caches take: a courier built and closed.
        CacheClustering.Member member = clustering.member(CacheClustering.DYNAMIC, properties.defaults().cluster(),
            key -> "shepherd.cache.defaults.cluster." + key);
        if (member != null) {
          builder("", null, properties.defaults(), true).config();
          member.closer().close();
        }
      }
      properties.caches().keySet().forEach(this::getCache);
    } catch (Exception e) {
      close();
      throw e instanceof RuntimeException runtime ? runtime : new IllegalStateException(e);
    }
  }

  @Override
  public @Nullable Cache getCache(String name) {
    CoalescingSpringCache existing = caches.get(name);
    if (existing != null) {
      return existing;
    }
    ShepherdCacheProperties.Spec own = properties.caches().get(name);
    if (own == null && !properties.dynamic()) {
      return null;
    }
    return caches.computeIfAbsent(name, n -> {
      CoalescingSpringCache created = create(n, own);
      onCreate.accept(created);
      return created;
    });
  }

  @Override
  public Collection<String> getCacheNames() {
    return List.copyOf(caches.keySet());
  }

  /**
   * Closes the couriers of the clustered caches (not the Redis client); the caches then coalesce in
   * this JVM only. Idempotent.
   */
  @Override
  public void close() {
    List<AutoCloseable> closing;
    synchronized (couriers) {
      closing = List.copyOf(couriers);
      couriers.clear();
    }
    for (AutoCloseable courier : closing) {
      try {
        courier.close();
      } catch (Exception e) {
        System.getLogger(CoalescingCacheManager.class.getName()).log(System.Logger.Level.WARNING, "closing " + courier, e);
      }
    }
  }

  private CoalescingSpringCache create(String name, ShepherdCacheProperties.@Nullable Spec own) {
    ShepherdCacheProperties.Spec spec = own == null ? properties.defaults() : own.orElse(properties.defaults());
    CacheClustering.Member member = clustering == null ? null
        : clustering.member(name, spec.cluster(), key -> clusterProperty(name, own, key));
    if (member == null) {
      return new CoalescingSpringCache(name, builder(name, own, spec, false).build(), properties.allowNullValues(), spec.waitTimeout());
    }
    synchronized (couriers) {
      couriers.add(member.closer());
    }
    CoalescingCache<Object, Object> cache = builder(name, own, spec, true).courier(member.courier()).build();
    return new CoalescingSpringCache(name, cache, properties.allowNullValues(), spec.waitTimeout(), member.keyCheck());
  }

  /** The cluster property {@code key} of the cache: its own when it sets it, else the default's. */
  private static String clusterProperty(String name, ShepherdCacheProperties.@Nullable Spec own, String key) {
    ShepherdCacheProperties.ClusterSpec cluster = own == null ? null : own.cluster();
    boolean ownSetting = cluster != null && switch (key) {
      case "enabled" -> cluster.enabled() != null;
      case "value-type" -> cluster.valueType() != null;
      case "key-prefix" -> cluster.keyPrefix() != null;
      case "lease" -> cluster.lease() != null;
      case "command-timeout" -> cluster.commandTimeout() != null;
      case "max-value-bytes" -> cluster.maxValueBytes() != null;
      default -> cluster.shareFailureMessages() != null;
    };
    // A configured cache that sets no value type is told to set its own; a dynamic one, the default.
    boolean toSet = key.equals("value-type") || key.equals("enabled");
    return (ownSetting || (own != null && toSet) ? "shepherd.cache.caches." + name : "shepherd.cache.defaults")
        + ".cluster." + key;
  }

  /**
   * A builder with the settings of {@code spec}, each checked and a bad one reported under the
   * property it came from: the cache's own when it sets it, else the default.
   */
  private static CoalescingCache.Builder<Object, Object> builder(String name, ShepherdCacheProperties.@Nullable Spec own,
      ShepherdCacheProperties.Spec spec, boolean clustered) {
    CoalescingCache.Builder<Object, Object> builder = CoalescingCache.builder();
    setIfPresent(property(name, own, ShepherdCacheProperties.Spec::maximumSize, "maximum-size"), spec.maximumSize(), builder::maximumSize);
    setIfPresent(property(name, own, ShepherdCacheProperties.Spec::timeToLive, "time-to-live"), spec.timeToLive(), builder::timeToLive);
    setIfPresent(property(name, own, ShepherdCacheProperties.Spec::cacheFailuresFor, "cache-failures-for"), spec.cacheFailuresFor(),
        builder::cacheFailuresFor);
    setIfPresent(property(name, own, ShepherdCacheProperties.Spec::serveStaleOnError, "serve-stale-on-error"), spec.serveStaleOnError(),
        builder::serveStaleOnError);
    setIfPresent(property(name, own, ShepherdCacheProperties.Spec::loadTimeout, "load-timeout"), spec.loadTimeout(), builder::loadTimeout);
    Boolean onCallingThread = spec.loadOnCallingThread();
    if (clustered && Boolean.TRUE.equals(onCallingThread)) {
      throw new InvalidConfigurationPropertyValueException(
          property(name, own, ShepherdCacheProperties.Spec::loadOnCallingThread, "load-on-calling-thread"), true,
          "cache '" + name + "' is clustered: its loads run where its RedisCourier puts them (the JVM that wins the key, on a "
              + "loader thread); set it false or leave it unset");
    }
    if (onCallingThread != null) {
      builder.loadOnCallingThread(onCallingThread);
    }
    Duration wait = spec.waitTimeout();
    if (wait != null && (wait.isZero() || wait.isNegative())) {
      throw new InvalidConfigurationPropertyValueException(property(name, own, ShepherdCacheProperties.Spec::waitTimeout, "wait-timeout"),
          wait, "must be positive");
    }
    return builder;
  }

  private static String property(String name, ShepherdCacheProperties.@Nullable Spec own,
      Function<ShepherdCacheProperties.Spec, @Nullable Object> setting, String key) {
    return (own != null && setting.apply(own) != null ? "shepherd.cache.caches." + name + "." : "shepherd.cache.defaults.") + key;
  }
}
