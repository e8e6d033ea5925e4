package dev.shepherd.watch;

import dev.shepherd.core.ShepherdException;

/**
 * Recorded as a watch loop's failure when a source answers with index zero: Consul treats such an
 * answer as a failure, "since we need to not get stuck in a busy loop", and so does Shepherd. Seen
 * through {@link Subscription#lastError()} and {@link WatchEvent.Failing#lastError()}.
 */
public final class ZeroIndexException extends ShepherdException {

  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception for a key.
   *
   * @param key the key whose fetch answered index zero
   */
  public ZeroIndexException(String key) {
    super("source answered index 0 for key '" + key + "'; a blocking source must answer an index"
        + " of at least 1, so this counts as a failure and is retried with backoff");
  }
}
