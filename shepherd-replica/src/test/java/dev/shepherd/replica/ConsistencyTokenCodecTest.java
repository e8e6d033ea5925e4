package dev.shepherd.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class ConsistencyTokenCodecTest {

  static final byte[] SECRET = "0123456789abcdef0123456789abcdef".getBytes(StandardCharsets.US_ASCII);
  static final byte[] OTHER = "fedcba9876543210fedcba9876543210".getBytes(StandardCharsets.US_ASCII);

  final ConsistencyTokenCodec codec = ConsistencyTokenCodec.builder().signingKey("k1", SECRET).build();

  @Test
  void encodedTokenDecodesToTheSamePosition() {
    ConsistencyToken token = ConsistencyToken.of(Lsn.parse("16/B374D848"));
    String text = codec.encode(token);
    assertThat(text).startsWith("v1.k1.00000016B374D848.").doesNotContain("=", "/", "+", ";", ",", " ");
    assertThat(codec.decode(text)).isEqualTo(token);
  }

  @Test
  void forgedSignatureIsRejected() {
    ConsistencyTokenCodec attacker = ConsistencyTokenCodec.builder().signingKey("k1", OTHER).build();
    String forged = attacker.encode(ConsistencyToken.of(Lsn.parse("FF/0")));
    assertThatThrownBy(() -> codec.decode(forged))
        .isInstanceOf(InvalidConsistencyTokenException.class)
        .hasMessageContaining("signature does not match")
        .hasMessageContaining("v1.k1.");
  }

  @Test
  void alteredPositionIsRejected() {
    String text = codec.encode(ConsistencyToken.of(Lsn.parse("0/100")));
    String altered = text.replace("0000000000000100", "0000000000000200");
    assertThatThrownBy(() -> codec.decode(altered))
        .isInstanceOf(InvalidConsistencyTokenException.class).hasMessageContaining("signature does not match");
  }

  @Test
  void malformedTokensAreRejectedWithAClearMessage() {
    String good = codec.encode(ConsistencyToken.of(Lsn.parse("0/100")));
    String[] parts = good.split("\\.");
    assertThatThrownBy(() -> codec.decode("garbage")).isInstanceOf(InvalidConsistencyTokenException.class)
        .hasMessageContaining("\"garbage\"").hasMessageContaining("expected v1.");
    assertThatThrownBy(() -> codec.decode("v2.k1.0000000000000100." + parts[3]))
        .isInstanceOf(InvalidConsistencyTokenException.class);
    assertThatThrownBy(() -> codec.decode("v1.k1.0/100." + parts[3]))
        .isInstanceOf(InvalidConsistencyTokenException.class).hasMessageContaining("16 upper-case hexadecimal");
    assertThatThrownBy(() -> codec.decode("v1.k1.0000000000000100.***"))
        .isInstanceOf(InvalidConsistencyTokenException.class).hasMessageContaining("base64url");
    assertThatThrownBy(() -> codec.decode("v1.nope.0000000000000100." + parts[3]))
        .isInstanceOf(InvalidConsistencyTokenException.class).hasMessageContaining("unknown key id \"nope\"");
    assertThatThrownBy(() -> codec.decode("v1.k1.0000000000000100." + "A".repeat(200)))
        .isInstanceOf(InvalidConsistencyTokenException.class).hasMessageContaining("longer than");
    assertThatThrownBy(() -> codec.decode(good.substring(0, good.length() - 2)))
        .isInstanceOf(InvalidConsistencyTokenException.class);
  }

  @Test
  void rotationAcceptsTheOldKeyAndSignsWithTheNewOne() {
    String old = codec.encode(ConsistencyToken.of(Lsn.parse("0/100")));
    ConsistencyTokenCodec rotated = ConsistencyTokenCodec.builder()
        .signingKey("k2", OTHER).verificationKey("k1", SECRET).build();
    assertThat(rotated.decode(old).lsn()).isEqualTo(Lsn.parse("0/100"));
    String fresh = rotated.encode(ConsistencyToken.of(Lsn.parse("0/200")));
    assertThat(fresh).startsWith("v1.k2.");
    assertThatThrownBy(() -> codec.decode(fresh)).isInstanceOf(InvalidConsistencyTokenException.class)
        .hasMessageContaining("unknown key id \"k2\"");
  }

  @Test
  void secretIsCopiedAndMustBeLongEnough() {
    byte[] secret = SECRET.clone();
    ConsistencyTokenCodec c = ConsistencyTokenCodec.builder().signingKey("k", secret).build();
    String text = c.encode(ConsistencyToken.of(Lsn.parse("0/1")));
    Arrays.fill(secret, (byte) 0);
    assertThat(c.decode(text).lsn()).isEqualTo(Lsn.parse("0/1"));
    assertThatThrownBy(() -> ConsistencyTokenCodec.builder().signingKey("k", new byte[16]))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at least 32 bytes, was 16");
    assertThatThrownBy(() -> ConsistencyTokenCodec.builder().signingKey("bad id", SECRET))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("\"bad id\"");
    assertThatThrownBy(() -> ConsistencyTokenCodec.builder().build()).isInstanceOf(NullPointerException.class);
  }

  @Test
  void mergeKeepsTheGreaterPosition() {
    ConsistencyToken a = ConsistencyToken.of(Lsn.parse("0/100"));
    ConsistencyToken b = ConsistencyToken.of(Lsn.parse("0/200"));
    assertThat(a.merge(b)).isEqualTo(b);
    assertThat(b.merge(a)).isEqualTo(b);
    assertThat(a.merge(null)).isEqualTo(a);
    assertThat(ConsistencyToken.merge(null, a)).isEqualTo(a);
    assertThat(ConsistencyToken.merge(null, null)).isNull();
  }
}
