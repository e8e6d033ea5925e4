package dev.shepherd.watch;

import dev.shepherd.core.ShepherdException;

/**
 * Thrown by a {@link WatchSource}'s {@code fetch} when answering would need one more upstream watch
 * than the source may keep, and every watch it keeps is in use.
 *
 * <p>A source that keeps per-key upstream state (an etcd watch per key) bounds how many keys it
 * watches, so that callers naming many distinct keys cannot open an unbounded number of upstream
 * watches. {@link BlockingQueryServlet} answers such a refusal with 429 and {@code Retry-After};
 * a {@link Watcher} loop counts it as a failure and retries with backoff.
 *
 * <p>The message is the source's own text; a source puts no upstream address or secret in it,
 * but the servlet does not send it to clients anyway.
 */
public final class WatchLimitExceededException extends ShepherdException {

  private static final long serialVersionUID = 1L;

  private final String key;
  private final int limit;

  /**
   * Creates the exception.
   *
   * @param key the key that could not be watched
   * @param limit the most keys the source watches at once
   */
  public WatchLimitExceededException(String key, int limit) {
    super("cannot watch key '" + key + "': the source already watches its maximum of " + limit
        + " keys, each with a fetch in progress; retry later or raise the limit");
    this.key = key;
    this.limit = limit;
  }

  /**
   * Returns the key that could not be watched.
   *
   * @return the key
   */
  public String key() {
    return key;
  }

  /**
   * Returns the most keys the source watches at once.
   *
   * @return the limit
   */
  public int limit() {
    return limit;
  }
}
