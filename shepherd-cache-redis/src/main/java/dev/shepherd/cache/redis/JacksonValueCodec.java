package dev.shepherd.cache.redis;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.shepherd.core.internal.Require;

/**
 * A {@link ValueCodec} that writes values as JSON with a Jackson {@link ObjectMapper}. Jackson
 * (jackson-databind) is an optional dependency of this module: add it to use this class.
 *
 * <p>The target type is fixed when the codec is made, so the bytes never choose the class to
 * instantiate (keep default typing off on the mapper). Thread-safe if the mapper is.
 *
 * @param <V> the value's type
 */
public final class JacksonValueCodec<V> implements ValueCodec<V> {

  private final ObjectMapper mapper;
  private final JavaType type;

  private JacksonValueCodec(ObjectMapper mapper, JavaType type) {
    this.mapper = mapper;
    this.type = type;
  }

  /**
   * Returns a codec for values of a class.
   *
   * @param mapper the mapper
   * @param type the values' class
   * @param <V> the value's type
   * @return the codec
   * @throws NullPointerException if an argument is null
   */
  public static <V> JacksonValueCodec<V> of(ObjectMapper mapper, Class<V> type) {
    Require.nonNull(mapper, "mapper");
    return new JacksonValueCodec<>(mapper, mapper.constructType(Require.nonNull(type, "type")));
  }

  /**
   * Returns a codec for values of a generic type, such as {@code List<Product>}.
   *
   * @param mapper the mapper
   * @param type the values' type
   * @param <V> the value's type
   * @return the codec
   * @throws NullPointerException if an argument is null
   */
  public static <V> JacksonValueCodec<V> of(ObjectMapper mapper, TypeReference<V> type) {
    Require.nonNull(mapper, "mapper");
    return new JacksonValueCodec<>(mapper, mapper.constructType(Require.nonNull(type, "type")));
  }

  @Override
  public byte[] encode(V value) throws Exception {
    return mapper.writeValueAsBytes(value);
  }

  @Override
  public V decode(byte[] bytes) throws Exception {
    V value = mapper.readValue(bytes, type);
    if (value == null) {
      throw new IllegalArgumentException("JSON null is not a cached value of type " + type);
    }
    return value;
  }

  @Override
  public String toString() {
    return "JacksonValueCodec[" + type + "]";
  }
}
