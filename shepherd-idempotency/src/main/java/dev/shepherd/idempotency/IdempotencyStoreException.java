package dev.shepherd.idempotency;

import org.jspecify.annotations.Nullable;

/**
 * An idempotency store failed (the database or Redis is unreachable, a statement or script
 * failed, a stored record is unreadable): the operation's outcome is unknown, and the tracker
 * never guesses one. An HTTP filter answers 503.
 *
 * <p>A claim whose outcome is unknown is safe: if the store did record it, its lease runs out
 * and the key can be claimed again.
 */
public class IdempotencyStoreException extends IdempotencyException {

  private static final long serialVersionUID = 1L;

  /**
   * Creates an exception.
   *
   * @param message what failed, naming the operation and key
   * @param cause the store's failure, or null
   */
  public IdempotencyStoreException(String message, @Nullable Throwable cause) {
    super(message, cause);
  }
}
