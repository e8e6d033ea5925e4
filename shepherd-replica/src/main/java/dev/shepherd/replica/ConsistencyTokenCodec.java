package dev.shepherd.replica;

import dev.shepherd.core.internal.Require;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Locale;
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
 * String text = codec.encode(ConsistencyToken.of(lsn));   // "v2.2026-11.0000001600B374D8.19..."
 * ConsistencyToken token = codec.decode(text);
 * }</pre>
 *
 * <p>Format: {@code v2.<key id>.<16 hex digits of the LSN>.<issue time, hex milliseconds since
 * the epoch>.<16 hex digits of the system identifier>.<8 hex digits of the timeline>.<base64url
 * HMAC-SHA256 of everything before it>}, where the two history fields are both empty when the
 * history is unknown; at most {@value #MAX_LENGTH} characters, safe in a cookie value and a header.
 * The key id names the key that signed it, so keys can be rotated: add the new key as signing key
 * and keep the old one as verification key until tokens signed with it no longer matter (no longer
 * than the {@linkplain ConsistencyTokenPolicy#maxAge() maximum token age}). Signatures are compared
 * in constant time. Tokens of the older {@code v1} form (no issue time, no history) are refused as
 * invalid, which the filter answers by clearing the cookie.
 *
 * <p>A token that is well-formed (every field, and a signature of 32 bytes) but names a key id this
 * codec does not know, as every token of a key dropped after a rotation does, throws
 * {@link UnknownTokenKeyException}, a subclass of {@link InvalidConsistencyTokenException}: it is no
 * sign of tampering, and {@link ConsistencyTokenFilter} ignores such a token like an expired one
 * (and clears such a cookie) rather than answering {@code 400}. A malformed token, whatever its key
 * id, and a signature that does not match under a known key throw
 * {@link InvalidConsistencyTokenException} itself.
 *
 * <p>Immutable and thread-safe.
 */
public final class ConsistencyTokenCodec {

  /*
   * decode checks the whole format before it looks the key id up, so that UnknownTokenKeyException
   * (which the filter forgives) means "a token as this codec writes them, of another key" and never
   * "garbage with a key id nobody knows"; the signature is then checked under the known key last.
   */

  /** The longest text {@link #decode} looks at. */
  public static final int MAX_LENGTH = 192;
  /** The shortest secret accepted: 32 bytes, the HMAC-SHA256 block strength. */
  public static final int MIN_SECRET_BYTES = 32;

  private static final String VERSION = "v2";
  private static final String ALGORITHM = "HmacSHA256";
  private static final int SIGNATURE_BYTES = 32;
  private static final Pattern KEY_ID = Pattern.compile("[A-Za-z0-9_-]{1,32}");
  private static final Pattern LSN_HEX = Pattern.compile("[0-9A-F]{16}");
  private static final Pattern TIME_HEX = Pattern.compile("[0-9A-F]{1,16}");
  private static final Pattern TIMELINE_HEX = Pattern.compile("[0-9A-F]{8}");
  private static final Base64.Encoder BASE64 = Base64.getUrlEncoder().withoutPadding();

  private final String signingKeyId;
  private final Map<String, SecretKeySpec> keys;

  private ConsistencyTokenCodec(Builder builder) {
    String signing = builder.signingKeyId;
    if (signing == null) {
      throw new IllegalStateException("ConsistencyTokenCodec needs a key to sign new tokens: call signingKey(keyId, secret)"
          + " (verificationKey(keyId, secret) only adds a key that verifies old ones)");
    }
    this.signingKeyId = signing;
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
    DatabaseIdentity database = token.database();
    String payload = VERSION + "." + signingKeyId + "." + String.format("%016X", token.lsn().value())
        + "." + Long.toHexString(token.issuedAt().toEpochMilli()).toUpperCase(Locale.ROOT)
        + (database == null ? ".." : String.format(".%016X.%08X", database.systemIdentifier(), database.timeline()));
    return payload + "." + BASE64.encodeToString(mac(keys.get(signingKeyId), payload));
  }

  /**
   * Verifies signed text and returns its token.
   *
   * @param text the text from {@link #encode}
   * @return the token
   * @throws NullPointerException if {@code text} is null
   * @throws UnknownTokenKeyException if the text is well-formed but names a key id this codec does
   *     not know (a key rotated out)
   * @throws InvalidConsistencyTokenException if the text is malformed, or its signature does not
   *     match; the message (of both exceptions) says which and quotes the text (bounded)
   */
  public ConsistencyToken decode(String text) {
    Require.nonNull(text, "text");
    if (text.length() > MAX_LENGTH) {
      throw invalid(text, "longer than " + MAX_LENGTH + " characters");
    }
    String[] parts = text.split("\\.", -1);
    if (parts.length != 7 || !VERSION.equals(parts[0])) {
      throw invalid(text, "expected " + VERSION + ".<key id>.<lsn>.<issued>.<system id>.<timeline>.<signature>");
    }
    if (!KEY_ID.matcher(parts[1]).matches()) {
      throw invalid(text, "the key id is not 1 to 32 of A-Z a-z 0-9 _ -");
    }
    if (!LSN_HEX.matcher(parts[2]).matches()) {
      throw invalid(text, "the position is not 16 upper-case hexadecimal digits");
    }
    if (!TIME_HEX.matcher(parts[3]).matches()) {
      throw invalid(text, "the issue time is not 1 to 16 upper-case hexadecimal digits");
    }
    boolean noHistory = parts[4].isEmpty() && parts[5].isEmpty();
    if (!noHistory && (!LSN_HEX.matcher(parts[4]).matches() || !TIMELINE_HEX.matcher(parts[5]).matches())) {
      throw invalid(text, "the history is not 16 and 8 upper-case hexadecimal digits, nor empty");
    }
    if (!noHistory && Integer.parseUnsignedInt(parts[5], 16) <= 0) {
      throw invalid(text, "the timeline is not positive");
    }
    byte[] signature;
    try {
      signature = Base64.getUrlDecoder().decode(parts[6]);
    } catch (IllegalArgumentException e) {
      throw invalid(text, "the signature is not base64url");
    }
    if (signature.length != SIGNATURE_BYTES) {
      throw invalid(text, "the signature is not " + SIGNATURE_BYTES + " bytes of base64url");
    }
    // Well-formed: only now may the key id be told apart as merely unknown (see the class comment).
    SecretKeySpec key = keys.get(parts[1]);
    if (key == null) {
      throw new UnknownTokenKeyException(message(text, "signed with unknown key id \"" + parts[1] + "\""), parts[1]);
    }
    int end = text.length() - parts[6].length() - 1;
    byte[] expected = mac(key, text.substring(0, end));
    if (!MessageDigest.isEqual(expected, signature)) {
      throw invalid(text, "the signature does not match (forged or altered)");
    }
    DatabaseIdentity database = noHistory ? null
        : new DatabaseIdentity(Long.parseUnsignedLong(parts[4], 16), Integer.parseUnsignedInt(parts[5], 16));
    return new ConsistencyToken(Lsn.of(Long.parseUnsignedLong(parts[2], 16)),
        Instant.ofEpochMilli(Long.parseUnsignedLong(parts[3], 16)), database);
  }

  private static InvalidConsistencyTokenException invalid(String text, String why) {
    return new InvalidConsistencyTokenException(message(text, why));
  }

  private static String message(String text, String why) {
    // Bounded, and printable ASCII only: the message goes to logs and problem details.
    StringBuilder shown = new StringBuilder();
    for (int i = 0; i < Math.min(48, text.length()); i++) {
      char c = text.charAt(i);
      shown.append(c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? c : '?');
    }
    if (text.length() > 48) {
      shown.append("...");
    }
    return "invalid consistency token \"" + shown + "\": " + why;
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
     * @throws IllegalStateException if no signing key was set ({@link #signingKey(String, byte[])})
     */
    public ConsistencyTokenCodec build() {
      return new ConsistencyTokenCodec(this);
    }
  }
}
