package dev.shepherd.watch;

import dev.shepherd.core.internal.Require;
import java.time.Duration;

/**
 * What a subscription tells its {@link WatchSink}: a new value ({@link Update}), that the upstream
 * has been failing for longer than the watcher's threshold ({@link Failing}), or that it answers
 * again ({@link Recovered}).
 *
 * <p>Every event carries the key, the subscription's correlation id and
 * {@link #sinceLastSuccess()}: the time, at delivery, since the key's loop last fetched
 * successfully (since the loop started, if it never has). It is the staleness of what the
 * subscriber knows. Switch over the records:
 *
 * <pre>{@code
 * switch (event) {
 *   case WatchEvent.Update<String> u -> apply(u.value());
 *   case WatchEvent.Failing<String> f -> log.warn("config stale for " + f.sinceLastSuccess());
 *   case WatchEvent.Recovered<String> r -> log.info("config source back");
 * }
 * }</pre>
 *
 * @param <V> the type of values
 */
public sealed interface WatchEvent<V> {

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
   * Returns the time since the key's loop last fetched successfully, measured at delivery.
   *
   * @return the staleness, never negative
   */
  Duration sinceLastSuccess();

  /**
   * A new value of the key, delivered only when the index grew (or after the upstream was reset).
   *
   * @param key the key
   * @param correlationId the subscription's correlation id
   * @param value the value
   * @param index the upstream index of the value
   * @param replaced how many earlier updates this one replaced in the subscription's buffer
   *     because the sink had not taken them yet (zero when the sink keeps up)
   * @param sinceLastSuccess time since the last successful fetch, at delivery
   * @param <V> the type of values
   */
  record Update<V>(
      String key, String correlationId, V value, long index, long replaced,
      Duration sinceLastSuccess) implements WatchEvent<V> {

    /**
     * Creates an update.
     *
     * @throws NullPointerException if an argument is null
     * @throws IllegalArgumentException if {@code index} or {@code replaced} is negative
     */
    public Update {
      Require.nonNull(key, "key");
      Require.nonNull(correlationId, "correlationId");
      Require.nonNull(value, "value");
      Require.atLeast(index, 0L, "index");
      Require.atLeast(replaced, 0L, "replaced");
      Require.nonNull(sinceLastSuccess, "sinceLastSuccess");
    }
  }

  /**
   * The key's upstream has failed without a success for longer than the watcher's
   * {@code failingThreshold}; sent once per outage. The last delivered value still stands.
   *
   * @param key the key
   * @param correlationId the subscription's correlation id
   * @param lastError the latest failure
   * @param failures consecutive failures so far
   * @param sinceLastSuccess time since the last successful fetch, at delivery
   * @param <V> the type of values
   */
  record Failing<V>(
      String key, String correlationId, Throwable lastError, int failures,
      Duration sinceLastSuccess) implements WatchEvent<V> {

    /**
     * Creates a failing event.
     *
     * @throws NullPointerException if an argument is null
     */
    public Failing {
      Require.nonNull(key, "key");
      Require.nonNull(correlationId, "correlationId");
      Require.nonNull(lastError, "lastError");
      Require.nonNull(sinceLastSuccess, "sinceLastSuccess");
    }
  }

  /**
   * The key's upstream answered successfully again after a {@link Failing} event. An
   * {@link Update} follows if the value changed meanwhile.
   *
   * @param key the key
   * @param correlationId the subscription's correlation id
   * @param sinceLastSuccess time since the last successful fetch, at delivery
   * @param <V> the type of values
   */
  record Recovered<V>(String key, String correlationId, Duration sinceLastSuccess)
      implements WatchEvent<V> {

    /**
     * Creates a recovered event.
     *
     * @throws NullPointerException if an argument is null
     */
    public Recovered {
      Require.nonNull(key, "key");
      Require.nonNull(correlationId, "correlationId");
      Require.nonNull(sinceLastSuccess, "sinceLastSuccess");
    }
  }
}
