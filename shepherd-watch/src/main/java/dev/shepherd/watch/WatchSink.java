package dev.shepherd.watch;

/**
 * The receiver of a subscription's events; the Java form of the channel that Consul's
 * {@code Notify} writes {@code UpdateEvent}s to.
 *
 * <p>One sink may serve many subscriptions, on the same or different keys; each event carries the
 * {@link WatchEvent#correlationId() correlation id} given to
 * {@link Watcher#watch(String, String, WatchSink)} to tell them apart.
 *
 * <p>Threading: calls for one subscription are sequential and in order, never concurrent. Calls
 * for different subscriptions may run concurrently on different threads, so a sink shared by
 * several subscriptions must be thread-safe (a {@code BlockingQueue::add} is). A sink may block or
 * be slow: it then only delays its own subscription, whose buffer keeps the newest values (see
 * {@link BufferPolicy}). A sink that throws is logged and skipped; its subscription stays open.
 *
 * @param <V> the type of values
 */
@FunctionalInterface
public interface WatchSink<V> {

  /**
   * Receives one event.
   *
   * @param event the event, never null
   */
  void accept(WatchEvent<V> event);
}
