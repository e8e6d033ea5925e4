package dev.shepherd.idempotency;

/**
 * A claim's fencing token is no longer current: its lease ran out and another request took the key
 * over (or halted it, or the record expired and was pruned), so this owner may no longer complete,
 * halt or release the key. Nothing was written: a newer owner's result is never overwritten.
 */
public class ClaimLostException extends IdempotencyException {

  private static final long serialVersionUID = 1L;

  private final String key;
  private final long fencingToken;

  /**
   * Creates an exception.
   *
   * @param key the key
   * @param fencingToken the claim's token that is no longer current
   * @param operation what the owner tried ("complete", "halt", "release")
   */
  public ClaimLostException(String key, long fencingToken, String operation) {
    super(
        "cannot "
            + operation
            + " idempotency key '"
            + key
            + "': fencing token "
            + fencingToken
            + " is no longer current (the lease ran out and the key was taken over, halted or"
            + " expired)",
        null);
    this.key = key;
    this.fencingToken = fencingToken;
  }

  /**
   * Returns the key.
   *
   * @return the key
   */
  public String key() {
    return key;
  }

  /**
   * Returns the stale fencing token.
   *
   * @return the token
   */
  public long fencingToken() {
    return fencingToken;
  }
}
