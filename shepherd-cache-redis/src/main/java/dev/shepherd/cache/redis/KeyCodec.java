package dev.shepherd.cache.redis;

import dev.shepherd.core.internal.Require;
import java.util.function.Function;

/**
 * Turns a cache key into the text that names it in Redis and in the messages between JVMs, and
 * back (a JVM that hears of an invalidation removes the decoded key). {@code decode(encode(k))}
 * must equal {@code k}. Implementations must be thread-safe.
 *
 * @param <K> the key's type
 */
public interface KeyCodec<K> {

  /**
   * Encodes a key.
   *
   * @param key the key
   * @return its text, well-formed and at most 64 KiB in UTF-8: a text with an unpaired surrogate
   *     has no UTF-8 form (it would name another key in Redis) and a longer one no message between
   *     JVMs carries, so the courier refuses them (the key's load fails, its invalidate or put
   *     throws IllegalArgumentException)
   */
  String encode(K key);

  /**
   * Decodes a key's text, which came from another JVM through Redis.
   *
   * @param text the text
   * @return the key
   * @throws RuntimeException if the text is not a key; the message is then ignored and logged
   */
  K decode(String text);

  /**
   * Returns the codec of string keys (the key is its own text).
   *
   * @return the codec
   */
  static KeyCodec<String> string() {
    return of(Function.identity(), Function.identity());
  }

  /**
   * Returns the codec of {@code Long} keys in decimal.
   *
   * @return the codec
   */
  static KeyCodec<Long> longs() {
    return of(String::valueOf, Long::valueOf);
  }

  /**
   * Returns a codec made of two functions.
   *
   * @param encode key to text
   * @param decode text to key
   * @param <K> the key's type
   * @return the codec
   * @throws NullPointerException if an argument is null
   */
  static <K> KeyCodec<K> of(Function<? super K, String> encode, Function<String, ? extends K> decode) {
    Require.nonNull(encode, "encode");
    Require.nonNull(decode, "decode");
    return new KeyCodec<>() {
      @Override
      public String encode(K key) {
        return Require.nonNull(encode.apply(key), "encoded key");
      }

      @Override
      public K decode(String text) {
        return Require.nonNull(decode.apply(text), "decoded key");
      }
    };
  }
}
