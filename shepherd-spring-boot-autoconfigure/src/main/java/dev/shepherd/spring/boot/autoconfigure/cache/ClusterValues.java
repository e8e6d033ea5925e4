package dev.shepherd.spring.boot.autoconfigure.cache;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.shepherd.cache.redis.JacksonValueCodec;
import dev.shepherd.cache.redis.ValueCodec;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.springframework.cache.support.NullValue;

/**
 * The value codec of a clustered cache: JSON of the cache's one value type ({@link
 * JacksonValueCodec}, whose target type is fixed, so the bytes in Redis never name a class), and
 * Spring's {@link NullValue} (a cached null) as JSON {@code null}. A value of another type is not
 * encoded (it is then not shared: each JVM loads its key itself). Thread-safe.
 */
final class ClusterValues implements ValueCodec<Object> {

  private static final byte[] NULL = "null".getBytes(StandardCharsets.US_ASCII);

  private final String cache;
  private final Class<?> type;
  private final ValueCodec<Object> json;

  @SuppressWarnings("unchecked")
  ClusterValues(String cache, ObjectMapper mapper, Class<?> type) {
    this.cache = cache;
    this.type = type;
    this.json = (ValueCodec<Object>) JacksonValueCodec.of(mapper, type);
  }

  @Override
  public byte[] encode(Object value) throws Exception {
    if (value instanceof NullValue) {
      return NULL.clone();
    }
    if (!type.isInstance(value)) {
      throw new IllegalArgumentException("a value of class " + value.getClass().getName() + " is not a " + type.getName()
          + ", the value type of cache '" + cache + "'");
    }
    return json.encode(value);
  }

  @Override
  public Object decode(byte[] bytes) throws Exception {
    return Arrays.equals(bytes, NULL) ? NullValue.INSTANCE : json.decode(bytes);
  }

  @Override
  public String toString() {
    return "ClusterValues[" + cache + ", " + type.getName() + "]";
  }
}
