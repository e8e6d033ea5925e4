package dev.shepherd.replica;

/**
 * Thrown by {@link ConsistencyTokenCodec#decode(String)} when a well-formed token names a key id the
 * codec does not know, most often a key rotated out whose tokens clients still hold.
 *
 * <p>The token cannot be verified, so this is an {@link InvalidConsistencyTokenException}; but it is
 * no sign of tampering (every other field was well-formed, and nothing was checked against a
 * secret), and the client may not know it holds a stale token. {@link ConsistencyTokenFilter}
 * therefore ignores such a token like an expired one instead of answering {@code 400}; code that
 * decodes tokens itself can do the same by catching this type first.
 */
public final class UnknownTokenKeyException extends InvalidConsistencyTokenException {

  private static final long serialVersionUID = 1L;

  private final String keyId;

  UnknownTokenKeyException(String message, String keyId) {
    super(message);
    this.keyId = keyId;
  }

  /**
   * Returns the key id the token names.
   *
   * @return the key id, 1 to 32 of {@code A-Z a-z 0-9 _ -}
   */
  public String keyId() {
    return keyId;
  }
}
