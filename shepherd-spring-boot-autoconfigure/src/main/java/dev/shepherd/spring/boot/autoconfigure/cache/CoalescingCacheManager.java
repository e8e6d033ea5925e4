package dev.shepherd.spring.boot.autoconfigure.cache;

import static dev.shepherd.spring.boot.autoconfigure.internal.Settings.setIfPresent;

import dev.shepherd.cache.CoalescingCache;
import java.time.Duration;
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
 * (unless {@code shepherd.cache.dynamic=false}). Thread-safe.
 */
public final class CoalescingCacheManager implements CacheManager {

  private final ShepherdCacheProperties properties;
  private final Consumer<CoalescingSpringCache> onCreate;
  private final Map<String, CoalescingSpringCache> caches = new ConcurrentHashMap<>();

  /**
   * Creates the manager and the caches configured under {@code shepherd.cache.caches}, after
   * checking the defaults ({@code shepherd.cache.defaults.*}) that later caches are made with.
   *
   * @param properties the settings
   * @param onCreate told of every cache created (metrics binding), on the creating thread
   * @throws InvalidConfigurationPropertyValueException if a setting is invalid, naming the property
   */
  public CoalescingCacheManager(ShepherdCacheProperties properties, Consumer<CoalescingSpringCache> onCreate) {
    this.properties = properties;
    this.onCreate = onCreate;
    // The defaults on a builder that is thrown away: a bad one stops the start naming its property,
    // instead of failing the first dynamic cache at run time.
    builder("", null, properties.defaults()).config();
    properties.caches().keySet().forEach(this::getCache);
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

  private CoalescingSpringCache create(String name, ShepherdCacheProperties.@Nullable Spec own) {
    ShepherdCacheProperties.Spec spec = own == null ? properties.defaults() : own.orElse(properties.defaults());
    return new CoalescingSpringCache(name, builder(name, own, spec).build(), properties.allowNullValues(), spec.waitTimeout());
  }

  /**
   * A builder with the settings of {@code spec}, each checked and a bad one reported under the
   * property it came from: the cache's own when it sets it, else the default.
   */
  private static CoalescingCache.Builder<Object, Object> builder(String name, ShepherdCacheProperties.@Nullable Spec own,
      ShepherdCacheProperties.Spec spec) {
    CoalescingCache.Builder<Object, Object> builder = CoalescingCache.builder();
    setIfPresent(property(name, own, ShepherdCacheProperties.Spec::maximumSize, "maximum-size"), spec.maximumSize(), builder::maximumSize);
    setIfPresent(property(name, own, ShepherdCacheProperties.Spec::timeToLive, "time-to-live"), spec.timeToLive(), builder::timeToLive);
    setIfPresent(property(name, own, ShepherdCacheProperties.Spec::cacheFailuresFor, "cache-failures-for"), spec.cacheFailuresFor(),
        builder::cacheFailuresFor);
    setIfPresent(property(name, own, ShepherdCacheProperties.Spec::serveStaleOnError, "serve-stale-on-error"), spec.serveStaleOnError(),
        builder::serveStaleOnError);
    setIfPresent(property(name, own, ShepherdCacheProperties.Spec::loadTimeout, "load-timeout"), spec.loadTimeout(), builder::loadTimeout);
    Boolean onCallingThread = spec.loadOnCallingThread();
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
