package dev.shepherd.spring.boot.autoconfigure.cache;

import static dev.shepherd.spring.boot.autoconfigure.internal.Settings.setIfPresent;

import dev.shepherd.cache.CoalescingCache;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
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
   * Creates the manager and the caches configured under {@code shepherd.cache.caches}.
   *
   * @param properties the settings
   * @param onCreate told of every cache created (metrics binding), on the creating thread
   * @throws InvalidConfigurationPropertyValueException if a setting is invalid, naming the property
   */
  public CoalescingCacheManager(ShepherdCacheProperties properties, Consumer<CoalescingSpringCache> onCreate) {
    this.properties = properties;
    this.onCreate = onCreate;
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
      CoalescingSpringCache created = create(n, (own == null ? properties.defaults() : own.orElse(properties.defaults())));
      onCreate.accept(created);
      return created;
    });
  }

  @Override
  public Collection<String> getCacheNames() {
    return List.copyOf(caches.keySet());
  }

  private CoalescingSpringCache create(String name, ShepherdCacheProperties.Spec spec) {
    String prefix = properties.caches().containsKey(name) ? "shepherd.cache.caches." + name + "." : "shepherd.cache.defaults.";
    CoalescingCache.Builder<Object, Object> builder = CoalescingCache.builder();
    setIfPresent(prefix + "maximum-size", spec.maximumSize(), builder::maximumSize);
    setIfPresent(prefix + "time-to-live", spec.timeToLive(), builder::timeToLive);
    setIfPresent(prefix + "cache-failures-for", spec.cacheFailuresFor(), builder::cacheFailuresFor);
    setIfPresent(prefix + "serve-stale-on-error", spec.serveStaleOnError(), builder::serveStaleOnError);
    setIfPresent(prefix + "load-timeout", spec.loadTimeout(), builder::loadTimeout);
    Duration wait = spec.waitTimeout();
    if (wait != null && (wait.isZero() || wait.isNegative())) {
      throw new InvalidConfigurationPropertyValueException(prefix + "wait-timeout", wait, "must be positive");
    }
    return new CoalescingSpringCache(name, builder.build(), properties.allowNullValues(), wait);
  }
}
