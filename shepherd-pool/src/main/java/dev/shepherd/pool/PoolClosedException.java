package dev.shepherd.pool;

import dev.shepherd.core.ShepherdException;

/**
 * Thrown to a caller that was still waiting for a runner slot when {@link ElasticPool#close()}
 * gave up waiting for runners. A call made after {@code close()} began gets an {@link
 * IllegalStateException} instead, before it is queued.
 */
public class PoolClosedException extends ShepherdException {

  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param message what happened, naming the pool
   */
  public PoolClosedException(String message) {
    super(message);
  }
}
