package dev.shepherd.idempotency;

import dev.shepherd.core.ShepherdException;
import org.jspecify.annotations.Nullable;

/**
 * The root of the idempotency tracker's own failures: a store that cannot be reached
 * ({@link IdempotencyStoreException}) or a claim that is no longer current
 * ({@link ClaimLostException}).
 */
public class IdempotencyException extends ShepherdException {

  private static final long serialVersionUID = 1L;

  /**
   * Creates an exception.
   *
   * @param message what went wrong, naming the key
   * @param cause the underlying failure, or null
   */
  public IdempotencyException(String message, @Nullable Throwable cause) {
    super(message, cause);
  }
}
