package dev.shepherd.replica;

import dev.shepherd.core.Require;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.jspecify.annotations.Nullable;

/**
 * Signs {@link ConsistencyToken}s into short text for a header, cookie or job payload, and verifies
 * and reads them back, with HMAC-SHA256 under server-side keys.
 *
 * <pre>{@code
 * ConsistencyTokenCodec codec = ConsistencyTokenCodec.builder()
 *     .signingKey("2026-11", newSecret)        // signs new tokens
 *     .verificationKey("2026-10", oldSecret)   // still accepted during a rotation
 *     .build();
 * String text = codec.encode(ConsistencyToken.of(lsn));   // "v1.2026-11.0000001600B374D8.Qm9..."
 * ConsistencyToken token = codec.decode(text);
 * }</pre>
 *
 * <p>Format: {@code v1.<key id>.<16 hex digits of the LSN>.<base64url HMAC-SHA256 of the first three
 * parts>}, at most {@value #MAX_LENGTH} characters, safe in a cookie value and a header. The key id
 * names the key that signed it, so keys can be rotated: add the new key as signing key and keep the
 * old one as verification key until tokens signed with it no longer matter (a token's position is
 * usually replayed everywhere within seconds). Signatures are compared in constant time.
 *
 * <p>Immutable and thread-safe.
 */
public final class ConsistencyTokenCodec {

  /** The longest text {@link #decode} looks at. */
  public static final int MAX_LENGTH = 128;
  /** The shortest secret accepted: 32 bytes, the HMAC-SHA256 block strength. */
  public static final int MIN_SECRET_BYTES = 32;

  private static final String VERSION = "v1";
  private static final String ALGORITHM = "HmacSHA256";
  private static final Pattern KEY_ID = Pattern.compile("[A-Za-z0-9_-]{1,32}");
  private static final Pattern LSN_HEX = Pattern.compile("[0-9A-F]{16}");
  private static final Base64.Encoder BASE64 = Base64.getUrlEncoder().withoutPadding();

  private final String signingKeyId;
  private final Map<String, SecretKeySpec> keys;

  private ConsistencyTokenCodec(Builder builder) {
    this.signingKeyId = Require.nonNull(builder.signingKeyId, "signingKey");
    this.keys = Map.copyOf(builder.keys);
  }

  /**
   * Returns a builder; a signing key is required.
   *
   * @return the builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Returns the signed text of a token.
   *
   * @param token the token
   * @return the text, for a header, cookie or job payload
   * @throws NullPointerException if {@code token} is null
   */
  public String encode(ConsistencyToken token) {
    Require.nonNull(token, "token");
    String payload = VERSION + "." + signingKeyId + "." + String.format("%016X", token.lsn().value());
    return payload + "." + BASE64.encodeToString(mac(keys.get(signingKeyId), payload));
  }

  /**
   * Verifies signed text and returns its token.
   *
   * @param text the text from {@link #encode}
   * @return the token
   * @throws NullPointerException if {@code text} is null
   * @throws InvalidConsistencyTokenException if the text is malformed, names an unknown key, or its
   *     signature does not match; the message says which and quotes the text (bounded)
   */
  public ConsistencyToken decode(String text) {
    Require.nonNull(text, "text");
    if (text.length() > MAX_LENGTH) {
      throw invalid(text, "longer than " + MAX_LENGTH + " characters");
    }
    String[] parts = text.split("\\.", -1);
    if (parts.length != 4 || !VERSION.equals(parts[0])) {
      throw invalid(text, "expected v1.<key id>.<lsn>.<signature>");
    }
    SecretKeySpec key = KEY_ID.matcher(parts[1]).matches() ? keys.get(parts[1]) : null;
    if (key == null) {
      throw invalid(text, "signed with unknown key id \"" + parts[1] + "\"");
    }
    if (!LSN_HEX.matcher(parts[2]).matches()) {
      throw invalid(text, "the position is not 16 upper-case hexadecimal digits");
    }
    byte[] signature;
    try {
      signature = Base64.getUrlDecoder().decode(parts[3]);
    } catch (IllegalArgumentException e) {
      throw invalid(text, "the signature is not base64url");
    }
    byte[] expected = mac(key, parts[0] + "." + parts[1] + "." + parts[2]);
    if (!MessageDigest.isEqual(expected, signature)) {
      throw invalid(text, "the signature does not match (forged or altered)");
    }
    return ConsistencyToken.of(Lsn.of(Long.parseUnsignedLong(parts[2], 16)));
  }

  private static InvalidConsistencyTokenException invalid(String text, String why) {
    String shown = text.length() > 48 ? text.substring(0, 48) + "..." : text;
    return new InvalidConsistencyTokenException("invalid consistency token \"" + shown + "\": " + why);
  }

  private static byte[] mac(@Nullable SecretKeySpec key, String payload) {
    try {
      Mac mac = Mac.getInstance(ALGORITHM);
      mac.init(key);
      return mac.doFinal(payload.getBytes(StandardCharsets.US_ASCII));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 is not available in this JVM", e);
    }
  }

  /** Builds a {@link ConsistencyTokenCodec}. Not thread-safe. */
  public static final class Builder {
    private @Nullable String signingKeyId;
    private final Map<String, SecretKeySpec> keys = new LinkedHashMap<>();

    private Builder() {}

    /**
     * Sets the key that signs new tokens (and verifies them).
     *
     * @param keyId the key's id, 1 to 32 of {@code A-Z a-z 0-9 _ -}, carried in each token
     * @param secret the secret, at least {@value #MIN_SECRET_BYTES} bytes (copied)
     * @return this builder
     * @throws NullPointerException if an argument is null
     * @throws IllegalArgumentException if the id or the secret is invalid, or the id is taken
     */
    public Builder signingKey(String keyId, byte[] secret) {
      verificationKey(keyId, secret);
      this.signingKeyId = keyId;
      return this;
    }

    /**
     * Adds a key that verifies tokens but does not sign new ones: an old key during a rotation.
     *
     * @param keyId the key's id, 1 to 32 of {@code A-Z a-z 0-9 _ -}
     * @param secret the secret, at least {@value #MIN_SECRET_BYTES} bytes (copied)
     * @return this builder
     * @throws NullPointerException if an argument is null
     * @throws IllegalArgumentException if the id or the secret is invalid, or the id is taken
     */
    public Builder verificationKey(String keyId, byte[] secret) {
      Require.nonNull(keyId, "keyId");
      Require.nonNull(secret, "secret");
      Require.argument(KEY_ID.matcher(keyId).matches(),
          "keyId must be 1 to 32 of A-Z a-z 0-9 _ -, was \"" + keyId + "\"");
      Require.argument(secret.length >= MIN_SECRET_BYTES,
          "secret must be at least " + MIN_SECRET_BYTES + " bytes, was " + secret.length);
      Require.argument(!keys.containsKey(keyId), "keyId \"" + keyId + "\" is already set");
      keys.put(keyId, new SecretKeySpec(secret.clone(), ALGORITHM));
      return this;
    }

    /**
     * Builds the codec.
     *
     * @return the codec
     * @throws NullPointerException if no signing key was set
     */
    public ConsistencyTokenCodec build() {
      return new ConsistencyTokenCodec(this);
    }
  }
}
