package dev.shepherd.spring.boot.autoconfigure.cache;

import dev.shepherd.cache.Courier;
import java.util.function.Consumer;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * What makes a cache of the {@link CoalescingCacheManager} coalesce across JVMs. Names no type of
 * shepherd-cache-redis, so the manager loads without it; {@link ClusterCouriers} implements it.
 */
interface CacheClustering {

  /** The name the defaults are checked under, for the caches created on first use. */
  String DYNAMIC = "<created on first use>";

  /**
   * Returns the courier of a cache and the check of its keys, or null for a cache of this JVM only.
   *
   * @param name the cache's name
   * @param cluster its cluster settings, defaults applied (null when none is set anywhere)
   * @param property the full name of one of its cluster properties, given the key ({@code
   *     value-type}): the cache's own when it sets it, else the default's; for errors
   * @throws org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException
   *     if a setting is missing or invalid, naming the property and the cache
   */
  @Nullable Member member(String name, ShepherdCacheProperties.@Nullable ClusterSpec cluster,
      Function<String, String> property);

  /**
   * A clustered cache's parts.
   *
   * @param courier its courier
   * @param keyCheck refuses the keys the courier cannot encode, before the cache is asked; null
   *     when the application gave the codec
   * @param closer closes the courier
   */
  record Member(Courier courier, @Nullable Consumer<Object> keyCheck, AutoCloseable closer) {}
}
