package dev.shepherd.cache;

import dev.shepherd.core.internal.Require;
import dev.shepherd.core.Ticker;
import java.time.Duration;
import java.util.concurrent.Executor;
import java.util.function.ToIntBiFunction;
import org.jspecify.annotations.Nullable;

/**
 * The settings of a {@link CoalescingCache}, as its {@link CoalescingCache.Builder builder} made
 * them: immutable, readable through {@link CoalescingCache#config()} (to log them, export them as
 * metrics tags, or compare two caches). Every component is the builder option of the same name; see
 * there for its meaning and default.
 *
 * @param maximumSize the bound on stored entries, or -1 when unbounded or bounded by weight
 * @param maximumWeight the bound on the total weight, or -1 without a {@code weigher}
 * @param weigher the weight of one value, or null
 * @param timeToLive how long a loaded value is fresh, or null for forever
 * @param ticker the time source of expiry and timeouts
 * @param executor where loaders run when the courier is the local one
 * @param courier who carries out each load (the local courier on {@code executor} unless one was
 *     set)
 * @param cacheFailuresFor how long a failure is kept, or null when failures are not kept
 * @param serveStaleOnError how long after expiry a value may answer a failed load, or null when off
 * @param cancelWhenAbandoned whether a load whose waiters all left is cancelled
 * @param loadTimeout the longest a load may run
 * @param recordStats whether the counters of {@link CoalescingCache#stats()} are kept
 * @param loadOnCallingThread whether a caller that starts a load with the blocking
 *     {@link CoalescingCache#fetch(Object, Loader) fetch} without a timeout runs the loader on its
 *     own thread (only with the local courier)
 * @param <K> the key's type
 * @param <V> the value's type
 */
public record CacheConfig<K, V>(
    long maximumSize,
    long maximumWeight,
    @Nullable ToIntBiFunction<? super K, ? super V> weigher,
    @Nullable Duration timeToLive,
    Ticker ticker,
    Executor executor,
    Courier courier,
    @Nullable Duration cacheFailuresFor,
    @Nullable Duration serveStaleOnError,
    boolean cancelWhenAbandoned,
    Duration loadTimeout,
    boolean recordStats,
    boolean loadOnCallingThread) {

  /**
   * Checks the settings as the builder does.
   *
   * @throws NullPointerException if a required component is null
   * @throws IllegalArgumentException if a bound is below -1, or a duration is zero or negative
   * @throws IllegalStateException if a maximum size and a weigher are both set, a weigher comes
   *     without a maximum weight, or {@code loadOnCallingThread} comes with a courier other than
   *     {@link Courier#local(Executor)}
   */
  public CacheConfig {
    Require.atLeast(maximumSize, -1L, "maximumSize");
    Require.atLeast(maximumWeight, -1L, "maximumWeight");
    Require.state(weigher == null || maximumSize < 0L, "maximumSize cannot be combined with a weigher");
    Require.state((weigher == null) == (maximumWeight < 0L),
        "a weigher and a maximumWeight go together");
    if (timeToLive != null) {
      Require.positive(timeToLive, "timeToLive");
    }
    Require.nonNull(ticker, "ticker");
    Require.nonNull(executor, "executor");
    Require.nonNull(courier, "courier");
    if (cacheFailuresFor != null) {
      Require.positive(cacheFailuresFor, "cacheFailuresFor");
    }
    if (serveStaleOnError != null) {
      Require.positive(serveStaleOnError, "serveStaleOnError");
    }
    Require.positive(loadTimeout, "loadTimeout");
    Require.state(!loadOnCallingThread || courier instanceof LocalCourier,
        "loadOnCallingThread needs the local courier: a courier of its own decides where loads run");
  }

  /**
   * The settings without {@code loadOnCallingThread} (as before it existed): every load runs where
   * the courier puts it.
   *
   * @param maximumSize the bound on stored entries, or -1 when unbounded or bounded by weight
   * @param maximumWeight the bound on the total weight, or -1 without a {@code weigher}
   * @param weigher the weight of one value, or null
   * @param timeToLive how long a loaded value is fresh, or null for forever
   * @param ticker the time source of expiry and timeouts
   * @param executor where loaders run when the courier is the local one
   * @param courier who carries out each load
   * @param cacheFailuresFor how long a failure is kept, or null when failures are not kept
   * @param serveStaleOnError how long after expiry a value may answer a failed load, or null
   * @param cancelWhenAbandoned whether a load whose waiters all left is cancelled
   * @param loadTimeout the longest a load may run
   * @param recordStats whether the counters of {@link CoalescingCache#stats()} are kept
   * @throws NullPointerException if a required component is null
   * @throws IllegalArgumentException if a bound is below -1, or a duration is zero or negative
   * @throws IllegalStateException if a maximum size and a weigher are both set, or a weigher comes
   *     without a maximum weight
   */
  public CacheConfig(
      long maximumSize,
      long maximumWeight,
      @Nullable ToIntBiFunction<? super K, ? super V> weigher,
      @Nullable Duration timeToLive,
      Ticker ticker,
      Executor executor,
      Courier courier,
      @Nullable Duration cacheFailuresFor,
      @Nullable Duration serveStaleOnError,
      boolean cancelWhenAbandoned,
      Duration loadTimeout,
      boolean recordStats) {
    this(maximumSize, maximumWeight, weigher, timeToLive, ticker, executor, courier,
        cacheFailuresFor, serveStaleOnError, cancelWhenAbandoned, loadTimeout, recordStats, false);
  }
}
