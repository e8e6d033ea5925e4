package dev.shepherd.spring.boot.autoconfigure.cache;

import dev.shepherd.cache.redis.KeyCodec;
import java.util.UUID;

/**
 * The key codec of a clustered cache without one of the application's: {@code String}, {@code
 * Long}, {@code Integer} and {@code UUID} keys, each written after a tag of its type ({@code s:},
 * {@code l:}, {@code i:}, {@code u:}), so keys of two types never share a text. Thread-safe.
 */
final class ClusterKeys implements KeyCodec<Object> {

  private final String cache;

  ClusterKeys(String cache) {
    this.cache = cache;
  }

  /** Whether the codec takes keys of this class. */
  static boolean takes(Object key) {
    return key instanceof String || key instanceof Long || key instanceof Integer || key instanceof UUID;
  }

  /**
   * Refuses a key the codec does not take, before the cache is asked anything.
   *
   * @throws IllegalArgumentException naming the cache and the key's class
   */
  void check(Object key) {
    if (!takes(key)) {
      throw new IllegalArgumentException("Cache '" + cache + "' is clustered (shepherd.cache.cluster.enabled): its keys go to Redis "
          + "as text, and a key of class " + key.getClass().getName() + " has none here; String, Long, Integer and UUID keys do. "
          + "Make the key one of those (@Cacheable(key = ...)), or give the cache a KeyCodec with a ShepherdCacheKeyCodecs bean.");
    }
  }

  @Override
  public String encode(Object key) {
    check(key);
    return switch (key) {
      case String s -> "s:" + s;
      case Long l -> "l:" + l;
      case Integer i -> "i:" + i;
      default -> "u:" + key;
    };
  }

  @Override
  public Object decode(String text) {
    String value = text.length() < 2 ? "" : text.substring(2);
    return switch (text.length() < 2 || text.charAt(1) != ':' ? '?' : text.charAt(0)) {
      case 's' -> value;
      case 'l' -> Long.valueOf(value);
      case 'i' -> Integer.valueOf(value);
      case 'u' -> UUID.fromString(value);
      default -> throw new IllegalArgumentException("not a key of cache '" + cache + "': no type tag");
    };
  }
}
