package dev.shepherd.pool;

import dev.shepherd.core.ShepherdException;

/**
 * Thrown (or failing the future of {@link ElasticPool#callAsync}) when a call finds no free runner
 * slot and {@link ElasticPoolBuilder#maxWaiters(int)} calls already wait for one: the call is
 * refused at once, never queued and never started, so the caller can shed or retry the load
 * instead of waiting out its timeout behind the others.
 */
public class TooManyWaitersException extends ShepherdException {

  private static final long serialVersionUID = 1L;

  private final int maxWaiters;
  private final int waiting;

  /**
   * Creates the exception.
   *
   * @param message what was refused, naming the pool, the function, the bound and the waiters
   * @param maxWaiters the pool's bound on waiting calls
   * @param waiting how many calls waited when this one was refused
   */
  public TooManyWaitersException(String message, int maxWaiters, int waiting) {
    super(message);
    this.maxWaiters = maxWaiters;
    this.waiting = waiting;
  }

  /**
   * Returns the pool's bound on waiting calls.
   *
   * @return {@link ElasticPoolConfig#maxWaiters()}
   */
  public int maxWaiters() {
    return maxWaiters;
  }

  /**
   * Returns how many calls waited for a slot when this one was refused.
   *
   * @return the number of waiting calls, at least {@link #maxWaiters()}
   */
  public int waiting() {
    return waiting;
  }
}
