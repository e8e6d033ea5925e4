package dev.shepherd.spring.boot.autoconfigure.cache;

import dev.shepherd.cache.redis.KeyCodec;
import org.jspecify.annotations.Nullable;

/**
 * Gives clustered caches ({@code shepherd.cache.cluster.enabled=true}) a {@link KeyCodec} of the
 * application's own: declare a bean of this type. Without one, or where it answers null, a
 * clustered cache takes {@code String}, {@code Long}, {@code Integer} and {@code UUID} keys (each
 * written with a tag of its type, so {@code "1"}, {@code 1L} and {@code 1} are three keys) and
 * refuses any other key at the call with an {@code IllegalArgumentException} naming the cache and
 * the key's class. A codec given here receives every key the cache is called with (Spring's key
 * generator's keys, or those of {@code @Cacheable(key = ...)}) and is not checked beforehand.
 */
@FunctionalInterface
public interface ShepherdCacheKeyCodecs {

  /**
   * Returns the codec of the named cache's keys.
   *
   * @param cacheName the cache's name
   * @return the codec, or null for the default one
   */
  @Nullable KeyCodec<?> keyCodec(String cacheName);
}
