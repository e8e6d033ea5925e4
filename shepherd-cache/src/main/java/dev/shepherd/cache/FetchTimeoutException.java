package dev.shepherd.cache;

import dev.shepherd.core.ShepherdException;
import java.time.Duration;

/**
 * Thrown to a caller of {@link CoalescingCache#fetch(Object, Loader, Duration)} whose own timeout
 * passed before the load of its key completed.
 *
 * <p>Only that caller leaves: the load goes on for the other waiters and its value is stored when it
 * completes (unless {@link CoalescingCache.Builder#cancelWhenAbandoned(boolean)} is on and this was
 * the last waiter).
 */
public final class FetchTimeoutException extends ShepherdException {

  private static final long serialVersionUID = 1L;

  FetchTimeoutException(Object key, Duration timeout) {
    super("fetch of key " + key + " timed out after " + timeout + " waiting for its load");
  }
}
