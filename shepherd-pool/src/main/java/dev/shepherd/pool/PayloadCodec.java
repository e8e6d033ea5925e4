package dev.shepherd.pool;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * The tagged binary codec that carries arguments and results between a pool and its remote
 * runners: a closed set of types, so decoding never instantiates a class named by the sender.
 *
 * <p>Each value is one tag byte followed by its body; integers are big-endian:
 *
 * <table>
 *   <caption>Encodable types</caption>
 *   <tr><th>Tag</th><th>Java type</th><th>Body</th></tr>
 *   <tr><td>0</td><td>{@code null}</td><td>none</td></tr>
 *   <tr><td>1 / 2</td><td>{@link Boolean} false / true</td><td>none</td></tr>
 *   <tr><td>3</td><td>{@link Integer}</td><td>4 bytes</td></tr>
 *   <tr><td>4</td><td>{@link Long}</td><td>8 bytes</td></tr>
 *   <tr><td>5</td><td>{@link Double}</td><td>8 bytes (IEEE 754 bits)</td></tr>
 *   <tr><td>6</td><td>{@link String}</td><td>length (4 bytes) + UTF-8 bytes</td></tr>
 *   <tr><td>7</td><td>{@code byte[]}</td><td>length (4 bytes) + bytes</td></tr>
 *   <tr><td>8</td><td>{@link List}</td><td>count (4 bytes) + values</td></tr>
 *   <tr><td>9</td><td>{@link Map}</td><td>count (4 bytes) + key, value pairs</td></tr>
 * </table>
 *
 * <p>Decoding gives the same types back, with lists as unmodifiable {@link ArrayList}-backed lists
 * and maps as unmodifiable insertion-ordered maps. Both directions enforce {@link CodecLimits}: nesting
 * depth, elements per list or map, bytes per string or byte array (by default {@value #MAX_DEPTH}
 * levels, {@value CodecLimits#DEFAULT_MAX_COLLECTION_SIZE} elements, {@value
 * CodecLimits#DEFAULT_MAX_STRING_BYTES} bytes); a value beyond one is rejected with an {@link
 * IllegalArgumentException} naming the limit, before anything is allocated for it. Any other type (including {@code Short}, {@code Float}, records and arrays other than
 * {@code byte[]}) is rejected by {@link #encode(Object)} with an {@link IllegalArgumentException}
 * naming the type and where in the value it sits, for example {@code $.items[2]}.
 *
 * <p>Stateless and thread-safe.
 */
final class PayloadCodec {

  /** The deepest nesting of lists and maps accepted. */
  public static final int MAX_DEPTH = CodecLimits.DEFAULT_MAX_DEPTH;

  private static final byte NULL = 0;
  private static final byte FALSE = 1;
  private static final byte TRUE = 2;
  private static final byte INT = 3;
  private static final byte LONG = 4;
  private static final byte DOUBLE = 5;
  private static final byte STRING = 6;
  private static final byte BYTES = 7;
  private static final byte LIST = 8;
  private static final byte MAP = 9;

  private static final String SUPPORTED =
      "null, Boolean, Integer, Long, Double, String, byte[], List, Map";

  private PayloadCodec() {}

  /**
   * Encodes a value within the default limits.
   *
   * @param value the value, possibly null
   * @return its encoding
   * @throws IllegalArgumentException if the value, or anything inside it, is not of a supported
   *     type, or exceeds a limit; the message names the type or the limit, and the path
   */
  public static byte[] encode(@Nullable Object value) {
    return encode(value, CodecLimits.defaults());
  }

  /**
   * Encodes a value within the given limits.
   *
   * @param value the value, possibly null
   * @param limits the limits
   * @return its encoding
   * @throws IllegalArgumentException if the value, or anything inside it, is not of a supported
   *     type, or exceeds a limit; the message names the type or the limit, and the path
   */
  public static byte[] encode(@Nullable Object value, CodecLimits limits) {
    Out out = new Out();
    write(out, value, "$", 0, limits);
    return out.toByteArray();
  }

  /**
   * Decodes a value encoded by {@link #encode(Object)}, within the default limits.
   *
   * @param bytes the encoding
   * @return the value, possibly null
   * @throws IllegalArgumentException if the bytes are not a well-formed encoding of one value, or
   *     exceed a limit (the message names it)
   */
  public static @Nullable Object decode(byte[] bytes) {
    return decode(bytes, CodecLimits.defaults());
  }

  /**
   * Decodes a value within the given limits.
   *
   * @param bytes the encoding
   * @param limits the limits
   * @return the value, possibly null
   * @throws IllegalArgumentException if the bytes are not a well-formed encoding of one value, or
   *     exceed a limit (the message names it)
   */
  public static @Nullable Object decode(byte[] bytes, CodecLimits limits) {
    ByteBuffer in = ByteBuffer.wrap(bytes);
    try {
      Object value = read(in, 0, limits);
      if (in.hasRemaining()) {
        throw new IllegalArgumentException(
            "malformed payload: " + in.remaining() + " bytes after the value");
      }
      return value;
    } catch (java.nio.BufferUnderflowException e) {
      throw new IllegalArgumentException("malformed payload: truncated", e);
    }
  }

  private static void write(Out out, @Nullable Object value, String path, int depth, CodecLimits limits) {
    if (value == null) {
      out.write(NULL);
    } else if (value instanceof Boolean b) {
      out.write(b ? TRUE : FALSE);
    } else if (value instanceof Integer i) {
      out.write(INT);
      out.writeInt(i);
    } else if (value instanceof Long l) {
      out.write(LONG);
      out.writeLong(l);
    } else if (value instanceof Double d) {
      out.write(DOUBLE);
      out.writeLong(Double.doubleToRawLongBits(d));
    } else if (value instanceof String s) {
      byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
      checkSize(utf8.length, limits.maxStringBytes(), "maxStringBytes", "string of", " bytes", path);
      out.write(STRING);
      out.writeInt(utf8.length);
      out.write(utf8, 0, utf8.length);
    } else if (value instanceof byte[] bytes) {
      checkSize(bytes.length, limits.maxStringBytes(), "maxStringBytes", "byte[] of", " bytes", path);
      out.write(BYTES);
      out.writeInt(bytes.length);
      out.write(bytes, 0, bytes.length);
    } else if (value instanceof List<?> list) {
      checkDepth(path, depth, limits);
      checkSize(list.size(), limits.maxCollectionSize(), "maxCollectionSize", "list of", " elements", path);
      out.write(LIST);
      out.writeInt(list.size());
      int index = 0;
      for (Object item : list) {
        write(out, item, path + "[" + index++ + "]", depth + 1, limits);
      }
    } else if (value instanceof Map<?, ?> map) {
      checkDepth(path, depth, limits);
      checkSize(map.size(), limits.maxCollectionSize(), "maxCollectionSize", "map of", " entries", path);
      out.write(MAP);
      out.writeInt(map.size());
      for (Map.Entry<?, ?> entry : map.entrySet()) {
        String keyPath = path + "{" + entry.getKey() + "}";
        write(out, entry.getKey(), keyPath + "(key)", depth + 1, limits);
        write(out, entry.getValue(), keyPath, depth + 1, limits);
      }
    } else {
      throw new IllegalArgumentException(
          "cannot encode "
              + value.getClass().getName()
              + " at "
              + path
              + "; the pool codec carries only "
              + SUPPORTED);
    }
  }

  private static void checkDepth(String path, int depth, CodecLimits limits) {
    if (depth >= limits.maxDepth()) {
      throw new IllegalArgumentException(
          "cannot encode value nested deeper than " + limits.maxDepth() + " levels (maxDepth) at " + path);
    }
  }

  private static void checkSize(
      int size, int limit, String name, String what, String unit, String path) {
    if (size > limit) {
      throw new IllegalArgumentException(
          "cannot encode " + what + " " + size + unit + " at " + path + ": exceeds " + name + "=" + limit);
    }
  }

  private static @Nullable Object read(ByteBuffer in, int depth, CodecLimits limits) {
    byte tag = in.get();
    switch (tag) {
      case NULL:
        return null;
      case FALSE:
        return Boolean.FALSE;
      case TRUE:
        return Boolean.TRUE;
      case INT:
        return in.getInt();
      case LONG:
        return in.getLong();
      case DOUBLE:
        return Double.longBitsToDouble(in.getLong());
      case STRING:
        {
          int length = bounded(length(in, 1), limits.maxStringBytes(), "maxStringBytes", "string of", " bytes");
          String s = new String(in.array(), in.arrayOffset() + in.position(), length,
              StandardCharsets.UTF_8);
          in.position(in.position() + length);
          return s;
        }
      case BYTES:
        {
          byte[] bytes = new byte[bounded(length(in, 1), limits.maxStringBytes(), "maxStringBytes", "byte[] of", " bytes")];
          in.get(bytes);
          return bytes;
        }
      case LIST:
        {
          checkReadDepth(depth, limits);
          int count = bounded(length(in, 1), limits.maxCollectionSize(), "maxCollectionSize", "list of", " elements");
          List<@Nullable Object> list = new ArrayList<>(count);
          for (int i = 0; i < count; i++) {
            list.add(read(in, depth + 1, limits));
          }
          return Collections.unmodifiableList(list);
        }
      case MAP:
        {
          checkReadDepth(depth, limits);
          int count = bounded(length(in, 2), limits.maxCollectionSize(), "maxCollectionSize", "map of", " entries");
          Map<@Nullable Object, @Nullable Object> map = new LinkedHashMap<>();
          for (int i = 0; i < count; i++) {
            Object key = read(in, depth + 1, limits);
            map.put(key, read(in, depth + 1, limits));
          }
          return Collections.unmodifiableMap(map);
        }
      default:
        throw new IllegalArgumentException("malformed payload: unknown tag " + tag);
    }
  }

  private static void checkReadDepth(int depth, CodecLimits limits) {
    if (depth >= limits.maxDepth()) {
      throw new IllegalArgumentException(
          "malformed payload: nested deeper than maxDepth=" + limits.maxDepth());
    }
  }

  private static int bounded(int size, int limit, String name, String what, String unit) {
    if (size > limit) {
      throw new IllegalArgumentException(
          "payload rejected: " + what + " " + size + unit + " exceeds " + name + "=" + limit);
    }
    return size;
  }

  /** Reads a length and checks that at least {@code length * minBytesEach} bytes remain. */
  private static int length(ByteBuffer in, int minBytesEach) {
    int length = in.getInt();
    if (length < 0 || (long) length * minBytesEach > in.remaining()) {
      throw new IllegalArgumentException("malformed payload: bad length " + length);
    }
    return length;
  }

  /** A ByteArrayOutputStream without synchronization overhead concerns and with int/long writes. */
  private static final class Out extends ByteArrayOutputStream {
    Out() {
      super(64);
    }

    void writeInt(int v) {
      write(v >>> 24);
      write(v >>> 16);
      write(v >>> 8);
      write(v);
    }

    void writeLong(long v) {
      writeInt((int) (v >>> 32));
      writeInt((int) v);
    }
  }
}
