package dev.shepherd.idempotency;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.CharRange;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import net.jqwik.api.constraints.StringLength;
import org.junit.jupiter.api.Test;

class StoredResponseTest {

  @Property(tries = 300)
  void anyResponseRoundTripsByteForByte(
      @ForAll @IntRange(min = 100, max = 999) int status,
      @ForAll @Size(max = 6) List<@StringLength(min = 1, max = 20) @CharRange(from = '\u0000',
          to = '\uffff') String> names,
      @ForAll @StringLength(max = 40) @CharRange(from = '\u0000', to = '\uffff') String value,
      @ForAll byte[] body,
      @ForAll @IntRange(min = 0, max = 999_999_999) int nanos) {
    List<StoredResponse.Header> headers = new ArrayList<>();
    for (String name : names) {
      headers.add(new StoredResponse.Header(name, value));
    }
    StoredResponse response =
        new StoredResponse(status, headers, body, Instant.ofEpochSecond(1_700_000_000L, nanos));

    StoredResponse decoded = StoredResponse.fromBytes(response.toBytes());

    assertThat(decoded).isEqualTo(response);
    assertThat(decoded.body()).isEqualTo(body);
    assertThat(decoded.headers()).containsExactlyElementsOf(headers);
  }

  /**
   * Records already in a store were written by the DataOutputStream encoder: the format is that
   * byte layout, read and written unchanged.
   */
  @Test
  void theFormatIsTheDataOutputStreamLayoutOfVersionOne() throws java.io.IOException {
    String lone = "a\ud800b"; // an unpaired surrogate must survive
    Instant at = Instant.ofEpochSecond(1_700_000_000L, 123_456_789);
    byte[] body = {0, 1, 2, (byte) 0xff};
    java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
    try (java.io.DataOutputStream out = new java.io.DataOutputStream(bytes)) {
      out.writeByte(1);
      out.writeInt(201);
      out.writeLong(at.getEpochSecond());
      out.writeInt(at.getNano());
      out.writeInt(2);
      for (String text : List.of("Location", "/orders/1", "X-Lone", lone)) {
        out.writeInt(text.length());
        out.writeChars(text);
      }
      out.writeInt(body.length);
      out.write(body);
    }
    StoredResponse response = new StoredResponse(201, List.of(
        new StoredResponse.Header("Location", "/orders/1"),
        new StoredResponse.Header("X-Lone", lone)), body, at);

    assertThat(response.toBytes()).isEqualTo(bytes.toByteArray());
    assertThat(StoredResponse.fromBytes(bytes.toByteArray())).isEqualTo(response);
    assertThat(StoredResponse.fromBytes(bytes.toByteArray()).headerValues("x-lone"))
        .containsExactly(lone);
  }

  @Test
  void bodyIsCopiedInAndOut() {
    byte[] body = {1, 2, 3};
    StoredResponse response = new StoredResponse(200, List.of(), body, Instant.EPOCH);
    body[0] = 9;
    response.body()[1] = 9;

    assertThat(response.body()).containsExactly(1, 2, 3);
    assertThat(response.bodyLength()).isEqualTo(3);
  }

  @Test
  void headerValuesAreFoundWithoutRegardToCaseInOrder() {
    StoredResponse response = new StoredResponse(200, List.of(
        new StoredResponse.Header("Set-Cookie", "a"),
        new StoredResponse.Header("X", "x"),
        new StoredResponse.Header("set-cookie", "b")), new byte[0], Instant.EPOCH);

    assertThat(response.headerValues("SET-COOKIE")).containsExactly("a", "b");
  }

  @Test
  void corruptBytesAreRejected() {
    byte[] bytes = new StoredResponse(200, List.of(), new byte[] {1}, Instant.EPOCH).toBytes();

    assertThatThrownBy(() -> StoredResponse.fromBytes(new byte[] {7}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("stored response format version must be 1, was 7");
    assertThatThrownBy(() -> StoredResponse.fromBytes(java.util.Arrays.copyOf(bytes, 10)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("truncated");
    assertThatThrownBy(() -> new StoredResponse(99, List.of(), new byte[0], Instant.EPOCH))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("status must be between 100 and 999, was 99");
  }
}
