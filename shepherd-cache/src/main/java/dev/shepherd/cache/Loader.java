package dev.shepherd.cache;

/**
 * Loads the value of a missing key, once for every caller waiting on that key.
 *
 * <p>Runs on the cache's {@link CoalescingCache.Builder#executor executor} (a new virtual thread by
 * default), never in a caller's thread, so a caller can stop waiting while the load goes on. It may
 * block. A thrown exception or {@link Error} is the same as returning {@link Load#fail}; a
 * {@code null} result fails the load with a message naming the key. It is interrupted when the load
 * is abandoned ({@link CoalescingCache.Builder#cancelWhenAbandoned}) or outlives the
 * {@link CoalescingCache.Builder#loadTimeout load timeout}; a loader that ignores interrupts keeps
 * its thread until it returns, but no waiter waits for it.
 *
 * @param <K> the key's type
 * @param <V> the value's type
 */
@FunctionalInterface
public interface Loader<K, V> {

  /**
   * Loads the value of {@code key}.
   *
   * @param key the missing key
   * @return what to do with the result
   * @throws Exception any failure, handed to every waiter as the cause of a
   *     {@link LoadFailedException}
   */
  Load<V> load(K key) throws Exception;
}
