package dev.shepherd.watch;

import java.time.Duration;
import java.util.Optional;

/**
 * One subscriber's registration for a key, returned by
 * {@link Watcher#watch(String, String, WatchSink)}; close it to stop receiving events.
 *
 * <p>The upstream health it reports ({@link #lastError()}, {@link #consecutiveFailures()},
 * {@link #isFailing()}) is that of the key's loop, shared by every subscription of the key.
 *
 * <p>Thread-safe. {@link #close()} is idempotent and, once it returns, the sink receives no further
 * event from this subscription; when it is the key's last subscription the upstream loop is
 * cancelled too, also in the middle of a blocking fetch or a backoff wait.
 *
 * @param <V> the type of values
 */
public interface Subscription<V> extends AutoCloseable {

  /**
   * Returns the watched key.
   *
   * @return the key
   */
  String key();

  /**
   * Returns the correlation id given when subscribing.
   *
   * @return the correlation id
   */
  String correlationId();

  /**
   * Returns the latest value the key's loop has fetched, which the sink may not have received
   * yet; empty before the first successful fetch.
   *
   * @return the latest value and index
   */
  Optional<Versioned<V>> latest();

  /**
   * Returns the latest failure of the key's loop since its last success; empty when the last
   * fetch succeeded.
   *
   * @return the last error
   */
  Optional<Throwable> lastError();

  /**
   * Returns the number of consecutive failed fetches of the key's loop; zero after a success.
   *
   * @return the consecutive failures
   */
  int consecutiveFailures();

  /**
   * Returns the time since the key's loop last fetched successfully (since it started, if never).
   *
   * @return the staleness
   */
  Duration sinceLastSuccess();

  /**
   * Returns whether the key's upstream has failed, without a success, for longer than the
   * watcher's failing threshold ({@link Watcher.Builder#failingThreshold(Duration)}). The sink
   * received a {@link WatchEvent.Failing} when this became true.
   *
   * @return true while the upstream is considered failing
   */
  boolean isFailing();

  /**
   * Returns whether this subscription was closed.
   *
   * @return true once {@link #close()} was called (or the watcher closed)
   */
  boolean isClosed();

  /**
   * Stops this subscription: no event reaches the sink once this method returns. If a delivery
   * to the sink is running on another thread, waits for it to finish; called from inside the sink,
   * returns at once. The last subscription of a key also cancels the key's upstream loop.
   * Idempotent.
   */
  @Override
  void close();
}
