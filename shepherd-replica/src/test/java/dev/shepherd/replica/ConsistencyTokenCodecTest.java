package dev.shepherd.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class ConsistencyTokenCodecTest {

  static final byte[] SECRET = "0123456789abcdef0123456789abcdef".getBytes(StandardCharsets.US_ASCII);
  static final byte[] OTHER = "fedcba9876543210fedcba9876543210".getBytes(StandardCharsets.US_ASCII);

  final ConsistencyTokenCodec codec = ConsistencyTokenCodec.builder().signingKey("k1", SECRET).build();

  @Test
  void encodedTokenDecodesToTheSamePosition() {
    ConsistencyToken token = ConsistencyToken.of(Lsn.parse("16/B374D848"));
    String text = codec.encode(token);
    assertThat(text).startsWith("v2.k1.00000016B374D848.").doesNotContain("=", "/", "+", ";", ",", " ");
    assertThat(codec.decode(text)).isEqualTo(token);
    assertThat(codec.decode(text).database()).isNull();
  }

  @Test
  void issueTimeAndHistoryTravelSigned() {
    DatabaseIdentity database = new DatabaseIdentity(7_400_000_000_000_000_123L, 3);
    Instant issued = Instant.parse("2026-12-04T20:15:30.123456Z");
    ConsistencyToken token = ConsistencyToken.of(Lsn.parse("16/B374D848"), database, issued);
    String text = codec.encode(token);
    assertThat(text.length()).isLessThanOrEqualTo(ConsistencyTokenCodec.MAX_LENGTH);
    ConsistencyToken decoded = codec.decode(text);
    assertThat(decoded).isEqualTo(token);
    assertThat(decoded.issuedAt()).isEqualTo(Instant.parse("2026-12-04T20:15:30.123Z"));
    assertThat(decoded.database()).isEqualTo(database);
    // A longest key id with the greatest values still fits.
    ConsistencyTokenCodec longId = ConsistencyTokenCodec.builder().signingKey("k".repeat(32), SECRET).build();
    String longest = longId.encode(ConsistencyToken.of(Lsn.of(-1L), new DatabaseIdentity(-1L, Integer.MAX_VALUE),
        Instant.ofEpochMilli(Long.MAX_VALUE)));
    assertThat(longest.length()).isLessThanOrEqualTo(ConsistencyTokenCodec.MAX_LENGTH);
    assertThat(longId.decode(longest).database()).isEqualTo(new DatabaseIdentity(-1L, Integer.MAX_VALUE));

    String[] parts = text.split("\\.");
    String otherTimeline = String.join(".", parts[0], parts[1], parts[2], parts[3], parts[4], "00000004", parts[6]);
    assertThatThrownBy(() -> codec.decode(otherTimeline))
        .isInstanceOf(InvalidConsistencyTokenException.class).hasMessageContaining("signature does not match");
    String withoutHistory = String.join(".", parts[0], parts[1], parts[2], parts[3], "", "", parts[6]);
    assertThatThrownBy(() -> codec.decode(withoutHistory))
        .isInstanceOf(InvalidConsistencyTokenException.class).hasMessageContaining("signature does not match");
    String older = String.join(".", parts[0], parts[1], parts[2], "1", parts[4], parts[5], parts[6]);
    assertThatThrownBy(() -> codec.decode(older))
        .isInstanceOf(InvalidConsistencyTokenException.class).hasMessageContaining("signature does not match");
  }

  @Test
  void tokensOfTheFormerFormatAreInvalid() {
    assertThatThrownBy(() -> codec.decode("v1.k1.0000000000000100.c2lnbmF0dXJl"))
        .isInstanceOf(InvalidConsistencyTokenException.class).hasMessageContaining("expected v2.");
  }

  @Test
  void theQuotedTokenInTheMessageIsPrintableAscii() {
    assertThatThrownBy(() -> codec.decode("v2.\nINFO forged log line\u0000\"\\"))
        .isInstanceOf(InvalidConsistencyTokenException.class)
        .message().doesNotContain("\n", "\u0000", "\\").contains("?INFO forged log line???");
  }

  @Test
  void forgedSignatureIsRejected() {
    ConsistencyTokenCodec attacker = ConsistencyTokenCodec.builder().signingKey("k1", OTHER).build();
    String forged = attacker.encode(ConsistencyToken.of(Lsn.parse("FF/0")));
    assertThatThrownBy(() -> codec.decode(forged))
        .isInstanceOf(InvalidConsistencyTokenException.class)
        .hasMessageContaining("signature does not match")
        .hasMessageContaining("v2.k1.");
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
    String sig = parts[parts.length - 1];
    assertThatThrownBy(() -> codec.decode("garbage")).isInstanceOf(InvalidConsistencyTokenException.class)
        .hasMessageContaining("\"garbage\"").hasMessageContaining("expected v2.");
    assertThatThrownBy(() -> codec.decode("v3.k1.0000000000000100.1...." + sig))
        .isInstanceOf(InvalidConsistencyTokenException.class);
    assertThatThrownBy(() -> codec.decode("v2.k1.0/100.1..." + sig))
        .isInstanceOf(InvalidConsistencyTokenException.class).hasMessageContaining("16 upper-case hexadecimal");
    assertThatThrownBy(() -> codec.decode("v2.k1.0000000000000100.1...***"))
        .isInstanceOf(InvalidConsistencyTokenException.class).hasMessageContaining("base64url");
    assertThatThrownBy(() -> codec.decode("v2.k1.0000000000000100.xyz..." + sig))
        .isInstanceOf(InvalidConsistencyTokenException.class).hasMessageContaining("issue time");
    assertThatThrownBy(() -> codec.decode("v2.k1.0000000000000100.1.0000000000000001.." + sig))
        .isInstanceOf(InvalidConsistencyTokenException.class).hasMessageContaining("history");
    assertThatThrownBy(() -> codec.decode("v2.nope.0000000000000100.1..." + sig))
        .isInstanceOf(InvalidConsistencyTokenException.class).hasMessageContaining("unknown key id \"nope\"");
    assertThatThrownBy(() -> codec.decode("v2.k1.0000000000000100.1..." + "A".repeat(200)))
        .isInstanceOf(InvalidConsistencyTokenException.class).hasMessageContaining("longer than");
    assertThatThrownBy(() -> codec.decode(good.substring(0, good.length() - 2)))
        .isInstanceOf(InvalidConsistencyTokenException.class);
  }

  @Test
  void aWellFormedTokenOfAnUnknownKeyIsToldApartFromAMalformedOrForgedOne() {
    ConsistencyTokenCodec retired = ConsistencyTokenCodec.builder().signingKey("k0", OTHER).build();
    String stale = retired.encode(ConsistencyToken.of(Lsn.parse("0/100"), new DatabaseIdentity(42L, 1),
        Instant.parse("2026-12-04T20:00:00Z")));
    assertThatThrownBy(() -> codec.decode(stale))
        .isInstanceOfSatisfying(UnknownTokenKeyException.class, e -> assertThat(e.keyId()).isEqualTo("k0"))
        .isInstanceOf(InvalidConsistencyTokenException.class)
        .hasMessageContaining("unknown key id \"k0\"").hasMessageContaining("\"v2.k0.0000000000000100.");
    String[] p = stale.split("\\.");
    // Malformed under the unknown key id: each is plainly invalid, whatever the key id.
    for (String malformed : List.of(
        String.join(".", p[0], p[1], "0/100", p[3], p[4], p[5], p[6]),
        String.join(".", p[0], p[1], p[2], "xyz", p[4], p[5], p[6]),
        String.join(".", p[0], p[1], p[2], p[3], p[4], "", p[6]),
        String.join(".", p[0], p[1], p[2], p[3], p[4], "00000000", p[6]),
        String.join(".", p[0], p[1], p[2], p[3], p[4], p[5], "***"),
        String.join(".", p[0], p[1], p[2], p[3], p[4], p[5], p[6].substring(0, 40)),
        String.join(".", p[0], p[1], p[2], p[3], p[4], p[5], p[6] + "AAAA"),
        "v2.k0.garbage")) {
      assertThatThrownBy(() -> codec.decode(malformed)).as(malformed)
          .isExactlyInstanceOf(InvalidConsistencyTokenException.class);
    }
    // Signed under a known key with another secret: forged, not merely unknown.
    String forged = ConsistencyTokenCodec.builder().signingKey("k1", OTHER).build().encode(ConsistencyToken.of(Lsn.parse("0/1")));
    assertThatThrownBy(() -> codec.decode(forged)).isExactlyInstanceOf(InvalidConsistencyTokenException.class)
        .hasMessageContaining("signature does not match");
  }

  @Test
  void rotationAcceptsTheOldKeyAndSignsWithTheNewOne() {
    String old = codec.encode(ConsistencyToken.of(Lsn.parse("0/100")));
    ConsistencyTokenCodec rotated = ConsistencyTokenCodec.builder()
        .signingKey("k2", OTHER).verificationKey("k1", SECRET).build();
    assertThat(rotated.decode(old).lsn()).isEqualTo(Lsn.parse("0/100"));
    String fresh = rotated.encode(ConsistencyToken.of(Lsn.parse("0/200")));
    assertThat(fresh).startsWith("v2.k2.");
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
  }

  @Test
  void buildingWithoutASigningKeyIsABadStateThatNamesTheCall() {
    assertThatThrownBy(() -> ConsistencyTokenCodec.builder().build())
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("call signingKey(keyId, secret)");
    assertThatThrownBy(() -> ConsistencyTokenCodec.builder().verificationKey("k0", SECRET).build())
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("call signingKey(keyId, secret)");
  }

  @Test
  void mergeKeepsTheGreaterPositionAndTheLaterIssueTime() {
    Instant t0 = Instant.parse("2026-12-04T20:00:00Z");
    Instant t1 = t0.plusSeconds(10);
    DatabaseIdentity db = new DatabaseIdentity(42L, 1);
    ConsistencyToken a = ConsistencyToken.of(Lsn.parse("0/100"), db, t1);
    ConsistencyToken b = new ConsistencyToken(Lsn.parse("0/200"), t0, null);
    ConsistencyToken expected = ConsistencyToken.of(Lsn.parse("0/200"), db, t1);
    assertThat(a.merge(b)).isEqualTo(expected);
    assertThat(b.merge(a)).isEqualTo(expected);
    assertThat(a.merge(null)).isEqualTo(a);
    assertThat(ConsistencyToken.merge(null, a)).isEqualTo(a);
    assertThat(ConsistencyToken.merge(null, null)).isNull();
  }

  @Test
  void mergeOfTwoHistoriesKeepsTheLaterIssuedTokenWhole() {
    Instant t0 = Instant.parse("2026-12-04T20:00:00Z");
    ConsistencyToken oldTimeline = ConsistencyToken.of(Lsn.parse("5/0"), new DatabaseIdentity(42L, 1), t0);
    ConsistencyToken newTimeline = ConsistencyToken.of(Lsn.parse("4/0"), new DatabaseIdentity(42L, 2), t0.plusMillis(1));
    assertThat(oldTimeline.merge(newTimeline)).isEqualTo(newTimeline);
    assertThat(newTimeline.merge(oldTimeline)).isEqualTo(newTimeline);
  }
}
