package dev.shepherd.idempotency;

import dev.shepherd.core.Require;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
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
   * Format of toBytes(), version 1, big-endian (DataOutputStream):
   *   byte   version (1)
   *   int    status
   *   long   storedAt epoch seconds, int nano adjustment
   *   int    header count, then per header: string name, string value
   *   int    body length, then the body bytes
   * where string = int length in chars, then each char as 2 bytes. Chars, not UTF-8: a lone
   * surrogate or any other char survives unchanged, which UTF-8 encoding would not guarantee.
   */
  private static final byte FORMAT_VERSION = 1;

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
   */
  public byte[] toBytes() {
    int size = 1 + 4 + 12 + 4 + 4 + body.length;
    for (Header header : headers) {
      size += 8 + 2 * (header.name().length() + header.value().length());
    }
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(size);
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      out.writeByte(FORMAT_VERSION);
      out.writeInt(status);
      out.writeLong(storedAt.getEpochSecond());
      out.writeInt(storedAt.getNano());
      out.writeInt(headers.size());
      for (Header header : headers) {
        writeString(out, header.name());
        writeString(out, header.value());
      }
      out.writeInt(body.length);
      out.write(body);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot happen: writing to memory", e);
    }
    return bytes.toByteArray();
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
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
      byte version = in.readByte();
      Require.argument(
          version == FORMAT_VERSION,
          "stored response format version must be " + FORMAT_VERSION + ", was " + version);
      int status = in.readInt();
      Instant storedAt = Instant.ofEpochSecond(in.readLong(), in.readInt());
      int count = in.readInt();
      Require.argument(
          count >= 0 && count <= bytes.length / 8,
          "stored response header count is corrupt: " + count);
      List<Header> headers = new ArrayList<>(count);
      for (int i = 0; i < count; i++) {
        headers.add(new Header(readString(in, bytes.length), readString(in, bytes.length)));
      }
      int length = in.readInt();
      Require.argument(
          length >= 0 && length == in.available(),
          "stored response body length is corrupt: " + length + ", bytes left " + in.available());
      byte[] body = in.readNBytes(length);
      return new StoredResponse(status, headers, body, storedAt);
    } catch (EOFException e) {
      throw new IllegalArgumentException("stored response is truncated: " + bytes.length + " bytes", e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot happen: reading from memory", e);
    }
  }

  private static void writeString(DataOutputStream out, String value) throws IOException {
    out.writeInt(value.length());
    out.writeChars(value);
  }

  private static String readString(DataInputStream in, int total) throws IOException {
    int length = in.readInt();
    Require.argument(
        length >= 0 && length <= total / 2, "stored response string length is corrupt: " + length);
    char[] chars = new char[length];
    for (int i = 0; i < length; i++) {
      chars[i] = in.readChar();
    }
    return new String(chars);
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
