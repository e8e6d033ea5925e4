package dev.shepherd.spring.boot.autoconfigure.cache;

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
    properties.getCaches().keySet().forEach(this::getCache);
  }

  @Override
  public @Nullable Cache getCache(String name) {
    CoalescingSpringCache existing = caches.get(name);
    if (existing != null) {
      return existing;
    }
    ShepherdCacheProperties.Spec own = properties.getCaches().get(name);
    if (own == null && !properties.isDynamic()) {
      return null;
    }
    return caches.computeIfAbsent(name, n -> {
      CoalescingSpringCache created = create(n, (own == null ? properties.getDefaults() : own.orElse(properties.getDefaults())));
      onCreate.accept(created);
      return created;
    });
  }

  @Override
  public Collection<String> getCacheNames() {
    return List.copyOf(caches.keySet());
  }

  private CoalescingSpringCache create(String name, ShepherdCacheProperties.Spec spec) {
    String prefix = properties.getCaches().containsKey(name) ? "shepherd.cache.caches." + name + "." : "shepherd.cache.defaults.";
    CoalescingCache.Builder<Object, Object> builder = CoalescingCache.builder();
    Long maximumSize = spec.getMaximumSize();
    if (maximumSize != null) {
      set(prefix + "maximum-size", maximumSize, () -> builder.maximumSize(maximumSize));
    }
    Duration ttl = spec.getTimeToLive();
    if (ttl != null) {
      set(prefix + "time-to-live", ttl, () -> builder.timeToLive(ttl));
    }
    Duration failures = spec.getCacheFailuresFor();
    if (failures != null) {
      set(prefix + "cache-failures-for", failures, () -> builder.cacheFailuresFor(failures));
    }
    Duration stale = spec.getServeStaleOnError();
    if (stale != null) {
      set(prefix + "serve-stale-on-error", stale, () -> builder.serveStaleOnError(stale));
    }
    Duration loadTimeout = spec.getLoadTimeout();
    if (loadTimeout != null) {
      set(prefix + "load-timeout", loadTimeout, () -> builder.loadTimeout(loadTimeout));
    }
    Duration wait = spec.getWaitTimeout();
    if (wait != null && (wait.isZero() || wait.isNegative())) {
      throw new InvalidConfigurationPropertyValueException(prefix + "wait-timeout", wait, "must be positive");
    }
    return new CoalescingSpringCache(name, builder.build(), properties.isAllowNullValues(), wait);
  }

  private static void set(String property, Object value, Runnable apply) {
    try {
      apply.run();
    } catch (IllegalArgumentException e) {
      throw new InvalidConfigurationPropertyValueException(property, value, e.getMessage());
    }
  }
}
