package dev.shepherd.cache;

import dev.shepherd.core.internal.Require;
import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * What a {@link Loader} tells the cache to do with the result of one load: store it, hand it out
 * without storing it, or fail.
 *
 * <p>These are Cachex's fallback results ({@code {:commit, v}}, {@code {:commit, v, expire: t}},
 * {@code {:ignore, v}}, {@code {:error, e}}) as a sealed interface, so a courier or a test can
 * {@code switch} over them. A loader that throws is the same as one that returns {@link #fail}. A
 * {@code null} value is accepted here and turned by the cache into a failure whose message names the
 * key (a cache never stores null).
 *
 * @param <V> the value's type
 */
public sealed interface Load<V> {

  /**
   * Stores the value with the cache's default time to live and hands it to every waiter.
   *
   * @param value the value (a null value fails the load)
   * @param <V> the value's type
   * @return the instruction
   */
  static <V> Load<V> commit(@Nullable V value) {
    return new Commit<>(value, null);
  }

  /**
   * Stores the value with its own time to live and hands it to every waiter.
   *
   * @param value the value (a null value fails the load)
   * @param ttl how long the value stays fresh, replacing the cache's default for this entry; a cache
   *     with a default time to live keeps no entry longer than that default, so a longer {@code ttl}
   *     is cut to it (see {@link CoalescingCache.Builder#timeToLive})
   * @param <V> the value's type
   * @return the instruction
   * @throws NullPointerException if {@code ttl} is null
   * @throws IllegalArgumentException if {@code ttl} is zero or negative
   */
  static <V> Load<V> commit(@Nullable V value, Duration ttl) {
    return new Commit<>(value, Require.positive(ttl, "ttl"));
  }

  /**
   * Hands the value to every waiter of this load without storing it.
   *
   * @param value the value (a null value fails the load)
   * @param <V> the value's type
   * @return the instruction
   */
  static <V> Load<V> ignore(@Nullable V value) {
    return new Ignore<>(value);
  }

  /**
   * Fails the load: every waiter gets a {@link LoadFailedException} caused by {@code error}.
   *
   * @param error the failure
   * @param <V> the value's type
   * @return the instruction
   * @throws NullPointerException if {@code error} is null
   */
  static <V> Load<V> fail(Throwable error) {
    return new Fail<>(Require.nonNull(error, "error"));
  }

  /**
   * Store and hand out.
   *
   * @param value the value; null fails the load
   * @param ttl the entry's time to live, or null for the cache's default
   * @param <V> the value's type
   */
  record Commit<V>(@Nullable V value, @Nullable Duration ttl) implements Load<V> {
    /**
     * Checks the time to live.
     *
     * @throws IllegalArgumentException if {@code ttl} is zero or negative
     */
    public Commit {
      if (ttl != null) {
        Require.positive(ttl, "ttl");
      }
    }
  }

  /**
   * Hand out, do not store.
   *
   * @param value the value; null fails the load
   * @param <V> the value's type
   */
  record Ignore<V>(@Nullable V value) implements Load<V> {}

  /**
   * Fail every waiter.
   *
   * @param error the failure, the cause of each waiter's {@link LoadFailedException}
   * @param <V> the value's type
   */
  record Fail<V>(Throwable error) implements Load<V> {
    /**
     * Checks the error.
     *
     * @throws NullPointerException if {@code error} is null
     */
    public Fail {
      Require.nonNull(error, "error");
    }
  }
}
