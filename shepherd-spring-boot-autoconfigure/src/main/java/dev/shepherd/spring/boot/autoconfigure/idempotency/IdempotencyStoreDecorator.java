package dev.shepherd.spring.boot.autoconfigure.idempotency;

import dev.shepherd.idempotency.IdempotencyStore;

/**
 * Wraps the store the auto-configured tracker uses; beans of this type are applied in order (the
 * metrics auto-configuration counts claims with one).
 */
@FunctionalInterface
public interface IdempotencyStoreDecorator {

  /**
   * Returns the store to use instead of {@code store}.
   *
   * @param store the store chosen so far
   * @return the store to use
   */
  IdempotencyStore decorate(IdempotencyStore store);
}
