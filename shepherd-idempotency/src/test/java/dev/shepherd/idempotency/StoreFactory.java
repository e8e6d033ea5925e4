package dev.shepherd.idempotency;

/**
 * Makes a store in a child JVM from a text spec (a JDBC URL, a Redis URI). Implementations need a
 * public no-argument constructor.
 */
public interface StoreFactory {

  /**
   * Makes the store.
   *
   * @param spec where the server is
   * @return a store
   */
  IdempotencyStore create(String spec);
}
