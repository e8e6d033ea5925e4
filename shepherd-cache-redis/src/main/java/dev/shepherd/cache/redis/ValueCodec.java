package dev.shepherd.cache.redis;

import dev.shepherd.core.internal.Require;
import java.nio.charset.StandardCharsets;

/**
 * Turns a cached value into the bytes kept in Redis and sent to the other JVMs, and back.
 *
 * <p>Ready codecs: {@link #string()}, {@link #bytes()}, and {@link JacksonValueCodec} for any type
 * Jackson can write. Decoding reads bytes that came from Redis: it must not run code named by them
 * (never Java serialization). Implementations must be thread-safe.
 *
 * @param <V> the value's type
 */
public interface ValueCodec<V> {

  /**
   * Encodes a value.
   *
   * @param value the value, never null
   * @return its bytes
   * @throws Exception if the value cannot be encoded; the load is then not shared (each JVM loads
   *     it itself)
   */
  byte[] encode(V value) throws Exception;

  /**
   * Decodes bytes that {@link #encode} produced, possibly in another JVM.
   *
   * @param bytes the bytes
   * @return the value, not null
   * @throws Exception if the bytes are not a value; the JVM does not take them, it asks again past
   *     them and the key's leader replaces them in the shared tier (bytes from a message: the JVM
   *     loads the key itself)
   */
  V decode(byte[] bytes) throws Exception;

  /**
   * Returns the codec of strings as UTF-8.
   *
   * @return the codec
   */
  static ValueCodec<String> string() {
    return new ValueCodec<>() {
      @Override
      public byte[] encode(String value) {
        return value.getBytes(StandardCharsets.UTF_8);
      }

      @Override
      public String decode(byte[] bytes) {
        return new String(bytes, StandardCharsets.UTF_8);
      }

      @Override
      public String toString() {
        return "ValueCodec.string()";
      }
    };
  }

  /**
   * Returns the codec of byte arrays as they are (a decoded array is a new array).
   *
   * @return the codec
   */
  static ValueCodec<byte[]> bytes() {
    return new ValueCodec<>() {
      @Override
      public byte[] encode(byte[] value) {
        return Require.nonNull(value, "value").clone();
      }

      @Override
      public byte[] decode(byte[] bytes) {
        return bytes.clone();
      }

      @Override
      public String toString() {
        return "ValueCodec.bytes()";
      }
    };
  }
}
