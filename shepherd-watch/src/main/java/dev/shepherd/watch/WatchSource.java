package dev.shepherd.watch;

import java.time.Duration;

/**
 * The service provider interface of a watchable upstream: a source answers a blocking query for
 * one key, in the style of Consul's blocking queries.
 *
 * <p>{@link #fetch(String, long, Duration)} returns the key's current value with its index as soon
 * as the index differs from {@code minIndex} (normally: is greater than it), or after about
 * {@code maxWait} with the current value and index when nothing changed. With {@code minIndex}
 * zero it answers at once. The {@link Watcher} runs one loop per key over {@code fetch} and owns
 * everything else: index bookkeeping, resets, backoff, fan-out to subscribers and cancellation.
 *
 * <h2>Contract for implementers</h2>
 *
 * <ul>
 *   <li>{@code fetch} blocks the calling thread (a virtual thread by default) and must return or
 *       throw {@link InterruptedException} promptly when that thread is interrupted: that is how a
 *       watch is cancelled in the middle of a query.
 *   <li>Any other exception, and a {@link Versioned} with index zero, counts as a failure and is
 *       retried with backoff. Do not retry inside {@code fetch}.
 *   <li>The index must not decrease except when the upstream really was reset (data wiped, a
 *       restored snapshot); the loop then re-delivers from scratch.
 *   <li>A source that cannot block (an upstream without change notification) is wrapped in
 *       {@link PollingWatchSource}, which polls it at its maximum age and invents an index that
 *       grows only when the value changed.
 *   <li>The {@link Watcher} calls {@code fetch} for one key from one thread at a time, but a source
 *       shared by several watchers, or several keys, sees concurrent calls: implementations must
 *       be thread-safe.
 * </ul>
 *
 * <p>A source that keeps per-key upstream state (an open etcd watch stream, a cursor) learns that
 * nobody watches a key any more through {@link #release(String)}.
 *
 * @param <V> the type of values
 */
@FunctionalInterface
public interface WatchSource<V> {

  /**
   * Returns the value of {@code key} once its index differs from {@code minIndex}, or when
   * {@code maxWait} has passed.
   *
   * @param key the key, never null or empty
   * @param minIndex the index the caller already has; zero asks for the current value at once
   * @param maxWait how long to block at most when nothing changed; the source may add a little
   *     (Consul adds up to {@code maxWait/16})
   * @return the value and its index
   * @throws InterruptedException if the calling thread is interrupted while waiting
   * @throws Exception any failure of the upstream; the watch loop counts it and backs off
   */
  Versioned<V> fetch(String key, long minIndex, Duration maxWait) throws Exception;

  /**
   * Tells the source that no loop watches {@code key} any more, so it may drop per-key upstream
   * state (close an etcd watch, forget a polled value). Called by the {@link Watcher} after the
   * key's loop has stopped; a later watch of the key starts again with {@code fetch(key, 0, ...)}.
   * The default does nothing.
   *
   * @param key the key no longer watched
   */
  default void release(String key) {}

  /**
   * Returns whether this source itself keeps at most one upstream watch per key and serves every
   * concurrent {@code fetch} of that key from it, even when several {@link Watcher}s share the
   * source (an etcd source with one gRPC watch per key does so). The default is {@code false}.
   *
   * <p>The watcher already runs one loop per key; this flag is informational for operators and
   * benchmarks ({@link Watcher#toString()} reports it) and tells callers that sharing one source
   * between several watchers costs no extra upstream watches.
   *
   * @return true if the source multiplexes one upstream watch per key
   */
  default boolean multiplexesPerKey() {
    return false;
  }
}
