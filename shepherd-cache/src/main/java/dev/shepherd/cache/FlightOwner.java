package dev.shepherd.cache;

import java.time.Duration;
import java.util.concurrent.ScheduledFuture;
import org.jspecify.annotations.Nullable;

/**
 * What a {@link Flight} needs from the cache that owns it, and nothing more: the time, the load
 * settings, a look at storage, the write of an outcome into storage, and being told when the flight
 * ends. {@link CoalescingCache} implements it in a private class, so a flight never reaches into the
 * cache's fields and the cache's internals can change without touching the flight.
 *
 * @param <K> the key's type
 * @param <V> the value's type
 */
interface FlightOwner<K, V> {

  /** The cache's ticker, in nanoseconds. */
  long now();

  /** The longest a load may run, in nanoseconds; {@code Long.MAX_VALUE} when unbounded. */
  long loadTimeoutNanos();

  /** The same bound as a {@code Duration}, for messages. */
  Duration loadTimeout();

  /** Whether a load whose waiters all left is cancelled. */
  boolean cancelWhenAbandoned();

  /** The fresh stored value of {@code key}, or null (a courier's re-check before it loads). */
  @Nullable V freshValue(K key);

  /** Counts a loader run. */
  void loadStarted();

  /**
   * Turns the loader's instruction into the flight's outcome, writing storage. Called under the
   * flight's lock, exactly once per flight.
   */
  Flight.Outcome<V> settle(Flight<K, V> flight, Load<? extends V> load);

  /** The flight ended (done or abandoned): it leaves the cache's map of running loads. */
  void ended(Flight<K, V> flight, boolean abandoned);

  /** Schedules the flight's load-timeout check. */
  ScheduledFuture<?> scheduleLoadTimeout(Flight<K, V> flight, long delayNanos);

  /** Completes an async waiter's future with the outcome, as that waiter sees it. */
  void deliver(WaiterFuture<V> future, Flight.Outcome<V> outcome, boolean leader, K key);
}
