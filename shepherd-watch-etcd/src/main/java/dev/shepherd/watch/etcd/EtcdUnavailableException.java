package dev.shepherd.watch.etcd;

import dev.shepherd.core.ShepherdException;
import java.time.Duration;

/**
 * Thrown by {@link EtcdWatchSource#fetch(String, long, Duration)} when the etcd watch of a key is
 * failing (etcd unreachable, the request timed out, etcd ended the watch) and no newer value than
 * the caller's is known, or when a read of a key that is not watched failed.
 *
 * <p>The source keeps reconnecting in the background with its own backoff; the watch loop that
 * called {@code fetch} counts the failure, backs off and calls again. The message names the key,
 * the failures in a row and for how long the watch has been failing; the cause is etcd's error.
 */
public final class EtcdUnavailableException extends ShepherdException {

  private static final long serialVersionUID = 1L;

  private final String key;
  private final int consecutiveFailures;
  private final Duration failingFor;

  EtcdUnavailableException(String key, int consecutiveFailures, Duration failingFor, Throwable cause) {
    super("the etcd watch of key '" + key + "' is failing (" + consecutiveFailures
        + " failures in a row for " + failingFor + "): " + cause, cause);
    this.key = key;
    this.consecutiveFailures = consecutiveFailures;
    this.failingFor = failingFor;
  }

  /** A read of a key nobody watches failed: one failure, failing for no time yet. */
  EtcdUnavailableException(String key, String message, Throwable cause) {
    super(message, cause);
    this.key = key;
    this.consecutiveFailures = 1;
    this.failingFor = Duration.ZERO;
  }

  /**
   * Returns the watched key.
   *
   * @return the key
   */
  public String key() {
    return key;
  }

  /**
   * Returns how many attempts in a row to read or watch the key have failed.
   *
   * @return one or more
   */
  public int consecutiveFailures() {
    return consecutiveFailures;
  }

  /**
   * Returns how long the watch has been failing, measured with the source's ticker.
   *
   * @return the time since the first failure in a row
   */
  public Duration failingFor() {
    return failingFor;
  }
}
