package dev.shepherd.cache;

import java.time.Duration;
import java.util.concurrent.Executor;
import org.jspecify.annotations.Nullable;

/**
 * The courier of a {@link CoalescingCache}: the part that decides where and when the load of a
 * missing key runs, once the cache has made sure that exactly one {@link Job} exists for that key in
 * this JVM. (The name is Cachex's, the Elixir cache whose coalescing this follows.)
 *
 * <p>The cache does the local coalescing itself: every caller of the same missing key waits on one
 * job, with its own timeout. The courier only carries the job out. The default,
 * {@link #local(Executor)}, checks storage once more (a value stored by a load that finished in the
 * meantime is taken instead of loading again: Cachex's fix for a double load) and otherwise runs the
 * loader on the executor. A courier that coordinates several JVMs ({@code RedisCourier} in
 * shepherd-cache-redis, through a Redis lease and channel) runs the loader only in the JVM that wins
 * the key ({@link Job#runLoader()}, then shares the outcome) and {@link Job#complete complete}s the
 * job with the winner's published outcome elsewhere; it learns of invalidations through
 * {@link #invalidated} and removes other JVMs' invalidated keys through the {@link Host} it is
 * {@link #attach attached} to. The cache's API does not change.
 *
 * <p>Implementations must be thread-safe and must not block in {@link #dispatch}: block in the
 * thread they hand the job to.
 */
@FunctionalInterface
public interface Courier {

  /**
   * Carries out a job: eventually calls {@link Job#run()}, {@link Job#runLoader()} then
   * {@link Job#complete(Load)}, or {@link Job#complete(Load)} alone (calls after the first
   * completion, or after the job was abandoned, are ignored).
   *
   * @param job the load to carry out
   * @param <K> the key's type
   * @param <V> the value's type
   */
  <K, V> void dispatch(Job<K, V> job);

  /**
   * Called once by the cache this courier serves, at the end of {@code build()}, with what the
   * courier may ask of the cache. A courier that shares loads and invalidations with other JVMs
   * keeps it to remove keys that another JVM invalidated. The default does nothing.
   *
   * @param host the cache's side of the link
   * @param <K> the key's type
   * @param <V> the value's type
   * @throws IllegalStateException if the courier cannot serve one more cache
   */
  default <K, V> void attach(Host<K, V> host) {}

  /**
   * Called by {@link CoalescingCache#invalidate} after the key was removed from this JVM's storage,
   * in the caller's thread, before {@code invalidate} returns; a courier shared with other JVMs
   * removes the key from the shared tier and tells the other JVMs. The default does nothing.
   *
   * @param key the invalidated key
   */
  default void invalidated(Object key) {}

  /**
   * Called by {@link CoalescingCache#invalidateAll} after this JVM's storage was cleared, in the
   * caller's thread. The default does nothing.
   */
  default void invalidatedAll() {}

  /**
   * Called by {@link CoalescingCache#put} after the value was stored in this JVM, in the caller's
   * thread, before {@code put} returns. A courier shared with other JVMs makes the older value of
   * the key leave them: it removes the key from the shared tier and from the other JVMs' storage
   * (as for {@link #invalidated}, without removing the value just stored here), so that their
   * next fetch loads the new value instead of answering the old one. The default does nothing.
   *
   * @param key the key whose value was just stored
   */
  default void stored(Object key) {}

  /**
   * What a cache offers the courier it was built with (see {@link #attach}). Thread-safe.
   *
   * @param <K> the key's type
   * @param <V> the value's type
   */
  interface Host<K, V> {

    /**
     * Removes a key from this JVM's storage only, with the rule of
     * {@link CoalescingCache#invalidate} for a running load, without calling the courier back.
     *
     * @param key the key
     */
    void invalidateLocally(K key);

    /** Clears this JVM's storage only, without calling the courier back. */
    void invalidateAllLocally();

    /**
     * Returns the cache's default time to live.
     *
     * @return the time to live, or null if values never expire
     */
    @Nullable Duration timeToLive();

    /**
     * Returns how long the cache keeps a failure.
     *
     * @return the time, or null if failures are not kept
     */
    @Nullable Duration cacheFailuresFor();
  }

  /**
   * Returns the courier that runs each job on {@code executor}, after checking storage once more.
   * If the executor rejects the job, the job fails with the rejection as cause.
   *
   * @param executor where loaders run
   * @return the courier
   * @throws NullPointerException if {@code executor} is null
   */
  static Courier local(Executor executor) {
    return new LocalCourier(executor);
  }

  /**
   * The one load of one key that every local waiter of that key shares.
   *
   * <p>Completion is once only and thread-safe: the first of {@link #run()}, {@link #complete},
   * {@link #completeFromStorage()} (when it finds a value), the load timeout, or abandonment wins.
   *
   * @param <K> the key's type
   * @param <V> the value's type
   */
  interface Job<K, V> {

    /**
     * Returns the key being loaded.
     *
     * @return the key
     */
    K key();

    /**
     * Returns whether this job is a {@link CoalescingCache#refresh refresh}, which loads even though
     * a fresh value is stored (and so {@link #completeFromStorage()} never takes a fresh value).
     *
     * @return true for a refresh
     */
    boolean isRefresh();

    /**
     * Checks storage once more and, if a fresh value is there now, completes the job with it
     * without running the loader.
     *
     * @return true if the job is now complete (by this call or an earlier completion)
     */
    boolean completeFromStorage();

    /**
     * Runs the loader in the calling thread and completes the job with its outcome, storing it
     * according to the cache's rules. The thread is interrupted if the job is abandoned or times
     * out while the loader runs. Does nothing if the job is already complete.
     */
    void run();

    /**
     * Runs the loader in the calling thread like {@link #run()} but returns its outcome instead of
     * completing the job, so the courier can share the outcome before or after it calls
     * {@link #complete}. A thrown error is returned as {@link Load#fail}, a null result as a failure
     * naming the key.
     *
     * @return the loader's outcome, or null if the job ended before or while the loader ran
     *     (abandoned, timed out or completed otherwise); then nothing is to be completed
     */
    @Nullable Load<? extends V> runLoader();

    /**
     * Completes the job with an outcome obtained elsewhere (for example another JVM's load),
     * storing it according to the cache's rules.
     *
     * @param outcome the outcome
     * @return true if this call completed the job
     * @throws NullPointerException if {@code outcome} is null
     */
    boolean complete(Load<? extends V> outcome);

    /**
     * Returns whether the job is complete or abandoned.
     *
     * @return true once no waiter waits on it any more
     */
    boolean isDone();
  }
}
