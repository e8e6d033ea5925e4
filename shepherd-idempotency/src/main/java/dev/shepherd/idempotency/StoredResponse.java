package dev.shepherd.idempotency;

import dev.shepherd.core.internal.Require;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A response kept for replay: status, headers in their original order with names in their original
 * case, the body's bytes, and when it was stored.
 *
 * <p>Every store keeps it in the byte-exact format of {@link #toBytes()}: header names and values
 * are kept as their exact UTF-16 characters (so any string a servlet container hands over,
 * including ISO-8859-1 characters, round-trips unchanged) and the body as its exact bytes, so a
 * replay writes the original bytes back.
 *
 * <p>Immutable: the body is copied in and {@link #body()} returns a copy; use
 * {@link #writeBodyTo(OutputStream)} to avoid the copy.
 *
 * @param status the HTTP status, 100 to 999
 * @param headers the headers in order; a name may repeat
 * @param body the body's bytes
 * @param storedAt when the response was stored (wall clock of the tracker that stored it)
 */
@SuppressWarnings("ArrayRecordComponent") // the body is copied in and out; equals compares contents
public record StoredResponse(int status, List<Header> headers, byte[] body, Instant storedAt) {

  /*
   * Format of toBytes(), version 1, big-endian (as DataOutputStream writes it):
   *   byte   version (1)
   *   int    status
   *   long   storedAt epoch seconds, int nano adjustment
   *   int    header count, then per header: string name, string value
   *   int    body length, then the body bytes
   * where string = int length in chars, then each char as 2 bytes. Chars, not UTF-8: a lone
   * surrogate or any other char survives unchanged, which UTF-8 encoding would not guarantee.
   */
  private static final byte FORMAT_VERSION = 1;
  private static final VarHandle INT =
      MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.BIG_ENDIAN);
  private static final VarHandle LONG =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.BIG_ENDIAN);

  /**
   * One response header.
   *
   * @param name the name, case preserved
   * @param value the value
   */
  public record Header(String name, String value) {
    /**
     * Checks the components.
     *
     * @throws NullPointerException if a component is null
     * @throws IllegalArgumentException if {@code name} is empty
     */
    public Header {
      Require.notEmpty(name, "name");
      Require.nonNull(value, "value");
    }
  }

  /**
   * Checks and copies the components.
   *
   * @throws NullPointerException if a component or a header is null
   * @throws IllegalArgumentException if {@code status} is outside 100 to 999
   */
  public StoredResponse {
    Require.inRange(status, 100, 999, "status");
    headers = List.copyOf(Require.nonNull(headers, "headers"));
    body = Require.nonNull(body, "body").clone();
    Require.nonNull(storedAt, "storedAt");
  }

  /**
   * Returns a copy of the body's bytes.
   *
   * @return a new array with the body
   */
  @Override
  public byte[] body() {
    return body.clone();
  }

  /**
   * Returns the body's length in bytes.
   *
   * @return the length
   */
  public int bodyLength() {
    return body.length;
  }

  /**
   * Writes the body's bytes to a stream without copying them.
   *
   * @param out the stream
   * @throws IOException if the stream fails
   */
  public void writeBodyTo(OutputStream out) throws IOException {
    out.write(body);
  }

  /**
   * Returns the values of a header, compared without regard to case, in order.
   *
   * @param name the header name
   * @return the values, possibly empty
   */
  public List<String> headerValues(String name) {
    Require.nonNull(name, "name");
    List<String> values = new ArrayList<>();
    for (Header header : headers) {
      if (header.name().equalsIgnoreCase(name)) {
        values.add(header.value());
      }
    }
    return values;
  }

  /**
   * Encodes this response in the stores' byte-exact format, read back by {@link #fromBytes}.
   *
   * @return the encoded bytes
   * @throws IllegalArgumentException if the encoding would not fit in one array (2 GiB)
   */
  public byte[] toBytes() {
    long size = 1 + 4 + 8 + 4 + 4 + 4 + (long) body.length;
    for (Header header : headers) {
      size += 8 + 2L * header.name().length() + 2L * header.value().length();
    }
    Require.argument(size <= Integer.MAX_VALUE - 8,
        "stored response is too large to encode: " + size + " bytes");
    // One exact-size array, filled in place: no stream, no lock per char, no copy at the end.
    ByteBuffer out = ByteBuffer.allocate((int) size);
    out.put(FORMAT_VERSION);
    out.putInt(status);
    out.putLong(storedAt.getEpochSecond());
    out.putInt(storedAt.getNano());
    out.putInt(headers.size());
    for (Header header : headers) {
      putString(out, header.name());
      putString(out, header.value());
    }
    out.putInt(body.length);
    out.put(body);
    return out.array();
  }

  /**
   * Decodes a response encoded by {@link #toBytes()}.
   *
   * @param bytes the encoded bytes
   * @return the response
   * @throws NullPointerException if {@code bytes} is null
   * @throws IllegalArgumentException if the bytes are not a valid encoding
   */
  public static StoredResponse fromBytes(byte[] bytes) {
    Require.nonNull(bytes, "bytes");
    // Big-endian reads straight from the array (no stream, no buffer object): a replay decodes
    // one of these per request.
    try {
      byte version = bytes[0];
      Require.argument(
          version == FORMAT_VERSION,
          "stored response format version must be " + FORMAT_VERSION + ", was " + version);
      int status = (int) INT.get(bytes, 1);
      Instant storedAt =
          Instant.ofEpochSecond((long) LONG.get(bytes, 5), (int) INT.get(bytes, 13));
      int count = (int) INT.get(bytes, 17);
      Require.argument(
          count >= 0 && count <= bytes.length / 8,
          "stored response header count is corrupt: " + count);
      int at = 21;
      List<Header> headers = new ArrayList<>(count);
      for (int i = 0; i < count; i++) {
        String name = getString(bytes, at);
        at += 4 + 2 * name.length();
        String value = getString(bytes, at);
        at += 4 + 2 * value.length();
        headers.add(new Header(name, value));
      }
      int length = (int) INT.get(bytes, at);
      at += 4;
      Require.argument(
          length >= 0 && length == bytes.length - at,
          "stored response body length is corrupt: " + length + ", bytes left "
              + (bytes.length - at));
      return new StoredResponse(
          status, headers, Arrays.copyOfRange(bytes, at, bytes.length), storedAt);
    } catch (IndexOutOfBoundsException e) {
      throw new IllegalArgumentException(
          "stored response is truncated: " + bytes.length + " bytes", e);
    } catch (java.time.DateTimeException e) {
      throw new IllegalArgumentException("stored response time is corrupt: " + e.getMessage(), e);
    }
  }

  /** Reads a length-prefixed string of big-endian chars at {@code at}. */
  private static String getString(byte[] bytes, int at) {
    int length = (int) INT.get(bytes, at);
    Require.argument(
        length >= 0 && length <= (bytes.length - at - 4) / 2,
        "stored response string length is corrupt: " + length);
    char[] chars = new char[length];
    for (int i = 0, from = at + 4; i < length; i++, from += 2) {
      // exact UTF-16 chars: an unpaired surrogate survives unchanged
      chars[i] = (char) (((bytes[from] & 0xff) << 8) | (bytes[from + 1] & 0xff));
    }
    return new String(chars);
  }

  private static void putString(ByteBuffer out, String value) {
    out.putInt(value.length());
    for (int i = 0; i < value.length(); i++) {
      out.putChar(value.charAt(i));
    }
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof StoredResponse other
        && status == other.status
        && headers.equals(other.headers)
        && Arrays.equals(body, other.body)
        && storedAt.equals(other.storedAt);
  }

  @Override
  public int hashCode() {
    return ((31 * status + headers.hashCode()) * 31 + Arrays.hashCode(body)) * 31
        + storedAt.hashCode();
  }

  @Override
  public String toString() {
    return "StoredResponse[status=" + status + ", headers=" + headers + ", body=" + body.length
        + " bytes, storedAt=" + storedAt + "]";
  }
}
