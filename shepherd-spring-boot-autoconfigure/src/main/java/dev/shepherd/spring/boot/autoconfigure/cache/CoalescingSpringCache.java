package dev.shepherd.spring.boot.autoconfigure.cache;

import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.cache.FetchTimeoutException;
import dev.shepherd.cache.Fetched;
import dev.shepherd.cache.Load;
import dev.shepherd.cache.LoadFailedException;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;
import org.springframework.cache.support.AbstractValueAdaptingCache;

/**
 * A Spring {@link org.springframework.cache.Cache} over a {@link CoalescingCache}: {@link
 * #get(Object, Callable)}, which {@code @Cacheable(sync = true)} calls, runs the loader once for
 * every caller that misses the key at the same time, and hands its failure to all of them instead of
 * running it again for each; with {@code cacheFailuresFor} the failure is also kept for later
 * callers.
 *
 * <p>Null values are stored as Spring's {@code NullValue} when allowed. A clustered cache with the
 * default key codec refuses a key that is not a {@code String}, {@code Long}, {@code Integer} or
 * {@code UUID} in every method, with an {@code IllegalArgumentException} naming the cache and the
 * key's class. Thread-safe.
 */
public final class CoalescingSpringCache extends AbstractValueAdaptingCache {

  private final String name;
  private final CoalescingCache<Object, Object> cache;
  private final @Nullable Duration waitTimeout;
  private final @Nullable Consumer<Object> keyCheck;

  /**
   * Creates a cache.
   *
   * @param name the cache name
   * @param cache the coalescing cache holding the values
   * @param allowNullValues whether null values are stored
   * @param waitTimeout how long one caller waits for a load, or null for no bound
   */
  public CoalescingSpringCache(String name, CoalescingCache<Object, Object> cache, boolean allowNullValues,
      @Nullable Duration waitTimeout) {
    this(name, cache, allowNullValues, waitTimeout, null);
  }

  /** Creates a cache whose every key passes {@code keyCheck} first (a clustered cache refuses keys it cannot send to Redis). */
  CoalescingSpringCache(String name, CoalescingCache<Object, Object> cache, boolean allowNullValues,
      @Nullable Duration waitTimeout, @Nullable Consumer<Object> keyCheck) {
    super(allowNullValues);
    this.name = name;
    this.cache = cache;
    this.waitTimeout = waitTimeout;
    this.keyCheck = keyCheck;
  }

  private Object checked(Object key) {
    if (keyCheck != null) {
      keyCheck.accept(key);
    }
    return key;
  }

  @Override
  public String getName() {
    return name;
  }

  /**
   * Returns the coalescing cache.
   *
   * @return the {@link CoalescingCache}
   */
  @Override
  public CoalescingCache<Object, Object> getNativeCache() {
    return cache;
  }

  @Override
  protected @Nullable Object lookup(Object key) {
    return cache.getIfPresent(checked(key));
  }

  /**
   * Returns the value of {@code key}, loading it with {@code valueLoader} once for every caller that
   * misses it at the same time.
   *
   * @throws ValueRetrievalException with the loader's exception as cause when the load failed (the
   *     same failure for every caller of that load), or when this caller's wait timed out or was
   *     interrupted
   */
  @Override
  @SuppressWarnings("unchecked")
  public <T> @Nullable T get(Object key, Callable<T> valueLoader) {
    checked(key);
    try {
      Fetched<Object> fetched = waitTimeout == null
          ? cache.fetch(key, k -> Load.commit(toStoreValue(valueLoader.call())))
          : cache.fetch(key, k -> Load.commit(toStoreValue(valueLoader.call())), waitTimeout);
      return (T) fromStoreValue(fetched.value());
    } catch (LoadFailedException e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      throw new ValueRetrievalException(key, valueLoader, cause);
    } catch (FetchTimeoutException e) {
      throw new ValueRetrievalException(key, valueLoader, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ValueRetrievalException(key, valueLoader, e);
    }
  }

  /**
   * Returns the stored value of {@code key} as a completed future, without loading.
   *
   * @return the value (a {@code ValueWrapper} when null values are allowed), or null on a miss
   */
  @Override
  public @Nullable CompletableFuture<?> retrieve(Object key) {
    Object stored = lookup(key);
    if (stored == null) {
      return null;
    }
    return CompletableFuture.completedFuture(isAllowNullValues() ? toValueWrapper(stored) : fromStoreValue(stored));
  }

  /**
   * Returns the value of {@code key}, loading it with {@code valueLoader} once for every caller that
   * misses it at the same time ({@code @Cacheable(sync = true)} on a method returning a
   * {@code CompletableFuture}). The loader's future is awaited on the cache's loader thread (a
   * virtual thread by default).
   *
   * @return a future of the value; it fails with the loader's exception, shared by every caller
   */
  @Override
  @SuppressWarnings("unchecked")
  public <T> CompletableFuture<T> retrieve(Object key, Supplier<CompletableFuture<T>> valueLoader) {
    checked(key);
    return cache.fetchAsync(key, k -> {
      try {
        return Load.commit(toStoreValue(valueLoader.get().join()));
      } catch (CompletionException e) {
        throw e.getCause() instanceof Exception cause ? cause : e;
      }
    }).handle((fetched, failure) -> {
      if (failure == null) {
        return (T) fromStoreValue(fetched.value());
      }
      Throwable cause = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
      if (cause instanceof LoadFailedException && cause.getCause() != null) {
        cause = cause.getCause();
      }
      throw cause instanceof RuntimeException runtime ? runtime : new CompletionException(cause);
    });
  }

  @Override
  public void put(Object key, @Nullable Object value) {
    cache.put(checked(key), toStoreValue(value));
  }

  @Override
  public void evict(Object key) {
    cache.invalidate(checked(key));
  }

  @Override
  public void clear() {
    cache.invalidateAll();
  }
}
