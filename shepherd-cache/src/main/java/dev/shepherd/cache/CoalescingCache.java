package dev.shepherd.cache;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.Require;
import dev.shepherd.core.Ticker;
import java.io.InterruptedIOException;
import java.nio.channels.ClosedByInterruptException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import java.util.function.ToIntBiFunction;
import org.jspecify.annotations.Nullable;

/**
 * A cache that runs at most one load per missing key at a time and hands its result to every caller
 * that asked for that key meanwhile, on Caffeine storage. The load is carried out by a
 * {@link Courier}: the part of the cache that decides where and when a loader runs (in this JVM by
 * default, or coordinated across JVMs); the name comes from Cachex, the Elixir cache whose
 * {@code fetch} this follows.
 *
 * <pre>{@code
 * CoalescingCache<Long, User> users = CoalescingCache.<Long, User>builder()
 *     .maximumSize(10_000)
 *     .timeToLive(Duration.ofMinutes(5))
 *     .cacheFailuresFor(Duration.ofSeconds(2))
 *     .build();
 *
 * Fetched<User> fetched = users.fetch(42L, id -> Load.commit(repository.find(id)), Duration.ofSeconds(1));
 * User user = fetched.value();   // fetched.source(): HIT, LOADED, JOINED or STALE
 * }</pre>
 *
 * <h2>What a fetch does</h2>
 *
 * <ul>
 *   <li><b>Hit</b>: a fresh stored value is returned as it is stored, without a lock and without
 *       allocating beyond Caffeine's own {@code getIfPresent}.
 *   <li><b>Miss</b>: the first caller of a missing key starts a load (the leader, answered
 *       {@link Fetched.Source#LOADED}); every caller of that key until the load ends joins it
 *       ({@link Fetched.Source#JOINED}). The loader runs once, after storage was checked once
 *       more: on the leader's own thread when it called {@link #fetch(Object, Loader)} without a
 *       timeout (it waits for the whole load anyway; see {@link Builder#loadOnCallingThread}),
 *       on the {@link Builder#executor executor} otherwise. Each caller waits with its own
 *       timeout; the load itself is bounded by the {@link Builder#loadTimeout load timeout}.
 *   <li><b>Failure</b>: shared, never repeated per caller. Each waiter gets its own
 *       {@link LoadFailedException} (own stack trace, the loader's error as cause). With
 *       {@link Builder#cacheFailuresFor} the failure is kept and answers callers without a load;
 *       with {@link Builder#serveStaleOnError} an expired value is answered
 *       {@link Fetched.Source#STALE} instead of the failure.
 *   <li><b>Leaving</b>: a waiter whose timeout passes, whose thread is interrupted, or whose async
 *       future is cancelled leaves alone; the load goes on and is stored. With
 *       {@link Builder#cancelWhenAbandoned(boolean)}, when the last waiter leaves the loader is
 *       interrupted and nothing is stored.
 * </ul>
 *
 * <h2>Invalidation during a load</h2>
 *
 * The rule: <b>{@link #invalidate} of a key whose load is running lets that load answer the callers
 * already waiting on it, but never stores its result</b> (neither value nor kept failure), and
 * detaches it from the key: a fetch that starts after {@code invalidate} returned does not join it
 * but starts a new load. The reason: the running load may have read the source before the change
 * that prompted the invalidation, so storing it, or handing it to callers who came after the
 * invalidation, would bring back the data the invalidation removed; answering the callers that were
 * already waiting is what they would have got just before the invalidation. So a caller that writes
 * the source, invalidates, then fetches always sees a value loaded after its write (the cache is
 * linearizable for fetch and invalidate, and a test checks this). This is the one case where two
 * loads of a key may run at once: the detached one, which can no longer store, and the new one
 * (Caffeine's {@code AsyncCache} does the same).
 *
 * <h2>Threads and time</h2>
 *
 * All methods are thread-safe. Time comes from the {@link Builder#ticker ticker} (expiry, timeouts,
 * load timeouts); with a fake ticker, call {@link #cleanUp()} after advancing it so parked callers
 * read it again. Async futures are completed in the thread that ends the load (usually the
 * loader's): dependent stages without an executor run there. When the timer that enforces the
 * load timeout ends a load, its futures are completed on a new virtual thread, never on that timer
 * thread, which watches the load timeouts of every cache in the JVM: a dependent that blocks delays
 * no other load's timeout.
 *
 * @param <K> the key's type
 * @param <V> the value's type
 */
public final class CoalescingCache<K, V> {

  /*
   * What a hit costs, and why. A hit is map.get on Caffeine's own map (the bounded cache object
   * itself, one call fewer than Cache.getIfPresent), then a type test on what it returns:
   *   - Caffeine's part, the same as its getIfPresent: the key's hashCode, the hash table's slot, its
   *     node, Caffeine's node (value; with expiry its expiry time and one clock read), and the read
   *     recorded for W-TinyLFU eviction (a store into a striped ring buffer after a CAS on its
   *     tail; a full buffer schedules a drain on the maintenance executor).
   *   - Shepherd's part: two fields of this object (map, recordStats), and the header of the stored
   *     answer for the type test Fetched-or-Entry. That header is the one cache line Caffeine's own
   *     getIfPresent does not read (it returns the value's reference without touching it); the
   *     answer is allocated inside Caffeine's compute, right before Caffeine's node, so it usually
   *     shares or neighbours the node's line. With statistics, one LongAdder increment (a CAS on a
   *     cell picked by the thread's probe), which is what Caffeine's recordStats() costs too.
   *   - No clock read unless Caffeine's expiry is on (a default TTL, kept failures or stale grace);
   *     no lock; no allocation: a value with the default time to live and no stale grace is stored
   *     as its Fetched(value, HIT) answer itself, so the hit returns the stored object (JMH -prof gc:
   *     0 B/op; aHitAllocatesNothing). A value with its own TTL or stale grace is an Entry checked
   *     on read (a second object and, when Caffeine's expiry is off, a clock read).
   * Wrapping every answer in an Entry cost a second, larger object per key and its cache lines on
   * every hit. The LongAdder is exact (a plain striped counter was tried and measured no faster
   * single-threaded, see benchmarks/sections/cache.md); its atomic increment is a large share of a
   * 5 ns read: hence recordStats. Profiling here: JMH -prof gc works; this virtual machine exposes
   * no hardware counters to perf (cycles "not supported") and has no hsdis, so -prof perfasm and
   * perfnorm do not run; the attribution above is from the code of both and HitPathProbe.
   *
   * Coalescing lives in a separate map (key -> Flight) instead of Caffeine's compute: compute holds
   * a bin lock for the whole load, so nobody can time out, be interrupted or leave, and a failure is
   * seen only by the thread that ran it while every blocked thread runs the loader again.
   *
   * Ordering that makes "one load per missing key" hold: a flight stores its result before it
   * leaves the map, and the courier of a new flight reads storage again before loading. A caller
   * who missed storage either finds the old flight (and joins it) or creates a new one whose courier
   * then sees the stored value.
   */

  private static final System.Logger LOG = System.getLogger(CoalescingCache.class.getName());

  /**
   * Each value is either the {@link Fetched} a hit answers (a value with the default time to live
   * and no stale grace: nothing to check on read) or an {@link Entry} (a kept failure, a value with
   * its own time to live or with stale grace).
   */
  private final Cache<K, Object> storage;
  /**
   * Caffeine's own map behind {@link #storage} (the cache object itself, not a view): a hit reads it
   * directly, one call and one object fewer than {@code storage.getIfPresent}, with the same
   * expiry check and the same read recorded for eviction.
   */
  private final ConcurrentMap<K, Object> map;
  private final ConcurrentHashMap<K, Flight<K, V>> flights = new ConcurrentHashMap<>();
  private final Ticker ticker;
  private final CacheConfig<K, V> config;
  private final Courier courier;
  private final long defaultTtlNanos;
  private final long graceNanos;
  private final long failureTtlNanos;
  private final long loadTimeoutNanos;
  private final Duration loadTimeout;
  private final boolean cancelWhenAbandoned;
  /** Whether a blocking, untimed leader runs its own load ({@link Builder#loadOnCallingThread}). */
  private final boolean loadOnCallingThread;
  private final FlightOwner<K, V> owner = new Owner();
  /**
   * Whether a hit must check the entry's time to live itself: when stale grace keeps expired values
   * in storage, or when Caffeine's expiry is off (see buildStorage).
   */
  private final boolean checkOnRead;

  /**
   * How long Caffeine's fixed expiry keeps any entry (the default time to live plus stale grace),
   * or {@link Long#MAX_VALUE} when there is no default time to live and Caffeine's variable expiry
   * (or none) is used instead: see {@link #expiry(CacheConfig)}.
   */
  private final long horizonNanos;

  /** Whether the counters of {@link #stats()} are kept ({@link Builder#recordStats}). */
  private final boolean recordStats;

  private final LongAdder hits = new LongAdder();
  private final LongAdder loads = new LongAdder();
  private final LongAdder joins = new LongAdder();
  private final LongAdder failures = new LongAdder();
  private final LongAdder cachedFailures = new LongAdder();
  private final LongAdder timeouts = new LongAdder();
  private final LongAdder abandoned = new LongAdder();
  private final LongAdder staleAnswers = new LongAdder();

  private CoalescingCache(CacheConfig<K, V> b) {
    this.config = b;
    this.ticker = b.ticker();
    this.courier = b.courier();
    Duration ttl = b.timeToLive();
    this.defaultTtlNanos = ttl == null ? Long.MAX_VALUE : Durations.toNanosSaturated(ttl);
    Duration grace = b.serveStaleOnError();
    this.graceNanos = grace == null ? 0L : Durations.toNanosSaturated(grace);
    Duration failureTtl = b.cacheFailuresFor();
    this.failureTtlNanos = failureTtl == null ? 0L : Durations.toNanosSaturated(failureTtl);
    this.loadTimeout = b.loadTimeout();
    this.loadTimeoutNanos = Durations.toNanosSaturated(b.loadTimeout());
    this.cancelWhenAbandoned = b.cancelWhenAbandoned();
    this.loadOnCallingThread = b.loadOnCallingThread();
    this.horizonNanos =
        ttl == null ? Long.MAX_VALUE : Durations.saturatedAdd(defaultTtlNanos, graceNanos);
    this.checkOnRead = expiry(b) != ExpiryPolicy.VARIABLE || graceNanos > 0L;
    this.recordStats = b.recordStats();
    this.storage = buildStorage(b, defaultTtlNanos, horizonNanos);
    this.map = storage.asMap();
    this.courier.attach(new CourierHost(ttl, failureTtl));
  }

  /**
   * Returns the settings this cache was built with.
   *
   * @return the immutable configuration
   */
  public CacheConfig<K, V> config() {
    return config;
  }

  /** The cache's side of its link with the courier. */
  private final class CourierHost implements Courier.Host<K, V> {
    private final @Nullable Duration timeToLive;
    private final @Nullable Duration failureTtl;

    CourierHost(@Nullable Duration timeToLive, @Nullable Duration failureTtl) {
      this.timeToLive = timeToLive;
      this.failureTtl = failureTtl;
    }

    @Override
    public void invalidateLocally(K key) {
      removeLocally(Require.nonNull(key, "key"));
    }

    @Override
    public void invalidateAllLocally() {
      removeAllLocally();
    }

    @Override
    public @Nullable Duration timeToLive() {
      return timeToLive;
    }

    @Override
    public @Nullable Duration cacheFailuresFor() {
      return failureTtl;
    }
  }

  /** Which of Caffeine's expiry policies storage uses. */
  private enum ExpiryPolicy {
    /** No expiry: hits read no clock; values with their own time to live are checked on read. */
    NONE,
    /**
     * {@code expireAfterWrite(timeToLive + stale grace)}: one clock read per hit and nothing more,
     * Caffeine's cheapest expiry. Entries that live shorter (their own time to live, kept
     * failures) are checked on read; none lives longer.
     */
    FIXED,
    /** {@code expireAfter}: each entry its own lifetime, at a cost on every read (see below). */
    VARIABLE
  }

  /*
   * Caffeine's expiry costs a clock read on every read (about 25 ns on a virtual machine, more than
   * the rest of a hit), so it is on only when the builder asks for expiry: a default time to live,
   * negative caching or stale grace. Without it, a value committed with its own time to live is
   * checked on read (a field test for every other entry) and replaced by the next load.
   *
   * With a default time to live, storage uses Caffeine's fixed expiry: every entry lives at most
   * the default (plus stale grace), entries meant to live shorter are checked on read, and a hit on
   * a value with the default time to live costs what Caffeine's own expireAfterWrite hit costs.
   * Caffeine's variable expiry would let a value outlive the default, but it costs about twice as
   * much per hit (its maintenance moves the read entry in a timer wheel, measured in
   * CacheHitBenchmark as caffeineVariableGetIfPresent), so it is used only without a default time
   * to live, when kept failures or stale values must expire on their own.
   */
  private static ExpiryPolicy expiry(CacheConfig<?, ?> b) {
    if (b.timeToLive() != null) {
      return ExpiryPolicy.FIXED;
    }
    return b.cacheFailuresFor() != null || b.serveStaleOnError() != null
        ? ExpiryPolicy.VARIABLE
        : ExpiryPolicy.NONE;
  }

  private static <K, V> Cache<K, Object> buildStorage(
      CacheConfig<K, V> b, long defaultTtlNanos, long horizonNanos) {
    Ticker t = b.ticker();
    @SuppressWarnings("ReferenceEquality") // identity: is it the system ticker itself?
    boolean systemTicker = t == Ticker.system();
    // Caffeine's own system ticker when ours is the system one: a call it can inline.
    Caffeine<Object, Object> caffeine =
        Caffeine.newBuilder()
            .ticker(
                systemTicker
                    ? com.github.benmanes.caffeine.cache.Ticker.systemTicker()
                    : t::read);
    if (b.maximumSize() >= 0L) {
      caffeine.maximumSize(b.maximumSize());
    }
    ToIntBiFunction<? super K, ? super V> weigher = b.weigher();
    if (weigher != null) {
      Caffeine<K, Object> weighed =
          caffeine
              .maximumWeight(b.maximumWeight())
              .weigher(
                  (K key, Object stored) -> {
                    if (stored instanceof Fetched<?>) {
                      return weigher.applyAsInt(key, CoalescingCache.<V>asHit(stored).value());
                    }
                    Entry<V> entry = Require.nonNull(entryOf(stored), "entry");
                    return entry.value == null || entry.failure != null
                        ? 1
                        : weigher.applyAsInt(key, entry.value);
                  });
      return switch (expiry(b)) {
        case NONE -> weighed.build();
        case FIXED -> weighed.expireAfterWrite(Duration.ofNanos(horizonNanos)).build();
        case VARIABLE -> weighed.expireAfter(new EntryExpiry<K>(defaultTtlNanos)).build();
      };
    }
    return switch (expiry(b)) {
      case NONE -> caffeine.build();
      case FIXED -> caffeine.expireAfterWrite(Duration.ofNanos(horizonNanos)).build();
      case VARIABLE -> caffeine.expireAfter(new EntryExpiry<K>(defaultTtlNanos)).build();
    };
  }

  /** A stored object or an answer known to be a {@link Fetched}, as this cache's type. */
  @SuppressWarnings("unchecked") // storage holds only this cache's Fetched<V> and Entry<V>
  private static <V> Fetched<V> asHit(Object stored) {
    return (Fetched<V>) stored;
  }

  /** The stored object if it is an {@link Entry}; null if it is a {@link Fetched} or null. */
  @SuppressWarnings("unchecked") // storage holds only this cache's Fetched<V> and Entry<V>
  private static <V> @Nullable Entry<V> entryOf(@Nullable Object stored) {
    return stored instanceof Entry<?> entry ? (Entry<V>) entry : null;
  }

  /**
   * What storage keeps for a value stored at {@code now}: the hit answer itself when it can. A time
   * to live longer than the default is cut to it (fixed expiry keeps nothing longer).
   */
  private Object stored(V value, long now, long ttlNanos) {
    long ttl = Math.min(ttlNanos, defaultTtlNanos);
    return graceNanos == 0L && ttl == defaultTtlNanos
        ? new Fetched<>(value, Fetched.Source.HIT)
        : Entry.value(value, now, ttl, graceNanos);
  }

  /**
   * The stored entry if it still counts at {@code now}: a kept failure is dropped once its own time
   * is up (fixed expiry keeps it as long as a value), a value entry is returned as it is.
   */
  private @Nullable Entry<V> live(@Nullable Entry<V> entry) {
    if (entry == null || entry.failure == null || horizonNanos == Long.MAX_VALUE) {
      return entry;
    }
    return entry.storageRemainingAt(ticker.read()) > 0L ? entry : null;
  }

  /** Whether a stored object is a value still fresh at {@code now} (a stored hit always is). */
  private static boolean isFreshValue(Object stored, long now) {
    if (stored instanceof Entry<?> entry) {
      return entry.failure == null && entry.isFreshAt(now);
    }
    return true;
  }

  /**
   * Tells Caffeine how long each entry lives: its value's time to live plus grace, or its failure's;
   * a stored hit lives the default time to live (it is stored only when that is its time to live).
   */
  private static final class EntryExpiry<K> implements Expiry<K, Object> {
    private final long defaultTtlNanos;

    EntryExpiry(long defaultTtlNanos) {
      this.defaultTtlNanos = defaultTtlNanos;
    }

    @Override
    public long expireAfterCreate(K key, Object stored, long currentTime) {
      return stored instanceof Entry<?> entry
          ? entry.storageRemainingAt(currentTime)
          : defaultTtlNanos;
    }

    @Override
    public long expireAfterUpdate(K key, Object stored, long currentTime, long currentDuration) {
      return expireAfterCreate(key, stored, currentTime);
    }

    @Override
    public long expireAfterRead(K key, Object stored, long currentTime, long currentDuration) {
      return currentDuration;
    }
  }

  /**
   * Returns a builder with the defaults: unbounded size, values never expire, system ticker, the
   * JVM's shared loader threads (see {@link Builder#executor}), no negative caching, no stale serving, loads not cancelled when
   * abandoned, load timeout of one minute, statistics recorded.
   *
   * @param <K> the key's type
   * @param <V> the value's type
   * @return a new builder
   */
  public static <K, V> Builder<K, V> builder() {
    return new Builder<>();
  }

  /**
   * Returns the value of {@code key}, loading it with {@code loader} if it is missing, and waiting at
   * most until the load ends (bounded by the {@link Builder#loadTimeout load timeout}). A call that
   * starts the load runs the loader on its own thread unless {@link Builder#loadOnCallingThread} is
   * off; it then returns when its loader does, even past the load timeout if the loader ignores
   * the interrupt sent at it.
   *
   * @param key the key
   * @param loader loads the value if the key is missing and no load is running for it
   * @return the value and its source
   * @throws NullPointerException if an argument is null
   * @throws LoadFailedException if the load this call waited on failed (or timed out), or a kept
   *     failure answered it
   * @throws InterruptedException if the thread was interrupted while waiting (or, running the
   *     loader itself, its loader failed after the interrupt); only this caller leaves the load
   */
  public Fetched<V> fetch(K key, Loader<? super K, ? extends V> loader) throws InterruptedException {
    Object stored = map.get(Require.nonNull(key, "key"));
    Require.nonNull(loader, "loader");
    if (stored instanceof Fetched<?>) {
      if (recordStats) {
        hits.increment();
      }
      return asHit(stored);
    }
    Object answer = entryHitOrMiss(key, loader, live(entryOf(stored)), null);
    if (answer instanceof Flight.Failure<?> failed) {
      // Made here, in the caller's own frame, not deeper in the wait: see answer().
      throw new LoadFailedException(failed.error(), failed.message());
    }
    return asHit(answer);
  }

  /**
   * Returns the value of {@code key}, loading it with {@code loader} if it is missing, waiting at
   * most {@code timeout}. When the timeout passes this caller leaves; the load goes on for the
   * others and is stored when it ends.
   *
   * @param key the key
   * @param loader loads the value if the key is missing and no load is running for it
   * @param timeout how long this caller waits for a load
   * @return the value and its source
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if {@code timeout} is zero or negative
   * @throws FetchTimeoutException if the timeout passed before the load ended
   * @throws LoadFailedException if the load failed (or timed out), or a kept failure answered it
   * @throws InterruptedException if the thread was interrupted while waiting; only this caller
   *     leaves the load
   */
  public Fetched<V> fetch(K key, Loader<? super K, ? extends V> loader, Duration timeout)
      throws InterruptedException {
    Object stored = map.get(Require.nonNull(key, "key"));
    Require.nonNull(loader, "loader");
    Require.positive(timeout, "timeout");
    if (stored instanceof Fetched<?>) {
      if (recordStats) {
        hits.increment();
      }
      return asHit(stored);
    }
    Object answer = entryHitOrMiss(key, loader, live(entryOf(stored)), timeout);
    if (answer instanceof Flight.Failure<?> failed) {
      throw new LoadFailedException(failed.error(), failed.message());
    }
    return asHit(answer);
  }

  /**
   * Returns a future of the value of {@code key}, loading it with {@code loader} if it is missing.
   * The future is already complete on a hit. Cancelling it (or completing it, or {@code orTimeout})
   * makes this caller, and only this caller, leave the load. It is completed in the thread that ends
   * the load, where dependent stages added without an executor run; when the load timeout's timer
   * ends the load, in a new virtual thread (see "Threads and time" above).
   *
   * @param key the key
   * @param loader loads the value if the key is missing and no load is running for it
   * @return a future of the value and its source; it fails with {@link LoadFailedException} if the
   *     load fails
   * @throws NullPointerException if an argument is null
   */
  public CompletableFuture<Fetched<V>> fetchAsync(K key, Loader<? super K, ? extends V> loader) {
    Object stored = map.get(Require.nonNull(key, "key"));
    Require.nonNull(loader, "loader");
    if (stored instanceof Fetched<?>) {
      if (recordStats) {
        hits.increment();
      }
      return CompletableFuture.completedFuture(asHit(stored));
    }
    Entry<V> entry = live(entryOf(stored));
    if (entry != null) {
      Fetched<V> hit = entryHit(entry);
      if (hit != null) {
        return CompletableFuture.completedFuture(hit);
      }
      if (entry.failure != null) {
        try {
          return CompletableFuture.completedFuture(answerFromKeptFailure(key, entry));
        } catch (LoadFailedException e) {
          return CompletableFuture.failedFuture(e);
        }
      }
    }
    return joinAsync(key, loader, false);
  }

  /**
   * Loads {@code key} again in the background while callers keep getting the stored value; if a load
   * of the key is already running, joins it instead of starting another.
   *
   * <p>A failed refresh leaves a fresh stored value in place (and fails the returned future).
   * Cancelling the future makes this refresh leave the load like any other waiter.
   *
   * @param key the key
   * @param loader loads the new value
   * @return a future of the new value ({@link Fetched.Source#LOADED} if this call started the load,
   *     {@link Fetched.Source#JOINED} if it joined one)
   * @throws NullPointerException if an argument is null
   */
  public CompletableFuture<Fetched<V>> refresh(K key, Loader<? super K, ? extends V> loader) {
    Require.nonNull(key, "key");
    Require.nonNull(loader, "loader");
    return joinAsync(key, loader, true);
  }

  /**
   * Returns the fresh stored value of {@code key} without loading.
   *
   * @param key the key
   * @return the value, or null if it is missing, expired or a kept failure
   * @throws NullPointerException if {@code key} is null
   */
  public @Nullable V getIfPresent(K key) {
    return freshValue(Require.nonNull(key, "key"));
  }

  /**
   * Stores a value with the default time to live, as a load would. A load of the key that is
   * running answers its waiters with what it loaded (they asked before this value existed) but
   * does not store it, so it cannot overwrite this newer value when it ends (the write-through
   * race: read the source, the application writes and puts, the load commits). Then the courier
   * hears of it ({@link Courier#stored}): one shared with other JVMs removes the key's older value
   * from the shared tier and from the other JVMs before this method returns (they load the new
   * value at their next fetch; the value itself is not sent to them).
   *
   * @param key the key
   * @param value the value
   * @throws NullPointerException if an argument is null
   */
  public void put(K key, V value) {
    Require.nonNull(key, "key");
    Require.nonNull(value, "value");
    replaceLocally(key, stored(value, ticker.read(), defaultTtlNanos));
    courier.stored(key);
  }

  /**
   * Removes the stored value or kept failure of {@code key}. If a load of the key is running, its
   * waiters still get its result but it is not stored (see the class comment for why). Then the
   * courier hears of it ({@link Courier#invalidated}): one shared with other JVMs removes the key
   * there too before this method returns.
   *
   * @param key the key
   * @throws NullPointerException if {@code key} is null
   */
  public void invalidate(K key) {
    removeLocally(Require.nonNull(key, "key"));
    courier.invalidated(key);
  }

  private void removeLocally(K key) {
    replaceLocally(key, null);
  }

  /**
   * Stores {@code entry} for {@code key} (removes it when null) and, in the same compute, detaches
   * a running load of the key so that it cannot store its older result over this change.
   */
  private void replaceLocally(K key, @Nullable Object entry) {
    storage
        .asMap()
        .compute(
            key,
            (k, old) -> {
              Flight<K, V> flight = flights.get(k);
              if (flight != null) {
                flight.markInvalidated();
                flights.remove(k, flight);
              }
              return entry;
            });
  }

  /**
   * Removes every stored value and kept failure; every load running at the time of the call answers
   * its waiters but does not store.
   */
  public void invalidateAll() {
    removeAllLocally();
    courier.invalidatedAll();
  }

  private void removeAllLocally() {
    flights.forEach(
        (key, flight) -> {
          flight.markInvalidated();
          flights.remove(key, flight);
        });
    storage.invalidateAll();
  }

  /**
   * Returns the approximate number of stored entries (values and kept failures).
   *
   * @return the estimated size
   */
  public long estimatedSize() {
    return storage.estimatedSize();
  }

  /**
   * Returns the number of callers waiting on the running load of {@code key}.
   *
   * @param key the key
   * @return the waiter count, 0 if no load is running
   * @throws NullPointerException if {@code key} is null
   */
  public int waitingCallers(K key) {
    Flight<K, V> flight = flights.get(Require.nonNull(key, "key"));
    return flight == null ? 0 : flight.waiterCount();
  }

  private void count(LongAdder counter) {
    if (recordStats) {
      counter.increment();
    }
  }

  /**
   * Returns a snapshot of the counters. With {@link Builder#recordStats(boolean) recordStats(false)}
   * nothing is counted and every counter stays zero.
   *
   * @return the statistics since the cache was built
   */
  public CacheStats stats() {
    return new CacheStats(
        hits.sum(),
        loads.sum(),
        joins.sum(),
        failures.sum(),
        cachedFailures.sum(),
        timeouts.sum(),
        abandoned.sum(),
        staleAnswers.sum());
  }

  /**
   * Performs pending maintenance now: Caffeine's expiry and eviction, loads past the load timeout,
   * and a wake-up of every parked caller so it reads the ticker again. Never needed with the system
   * ticker; tests call it after advancing a fake ticker.
   */
  public void cleanUp() {
    storage.cleanUp();
    flights.values().forEach(Flight::wakeWaiters);
  }

  @Override
  public String toString() {
    return "CoalescingCache[size=" + storage.estimatedSize() + ", loading=" + flights.size() + "]";
  }

  // ---- miss path ----

  /** The answer of a stored entry that is a hit (counted), or null if it is not one. */
  private @Nullable Fetched<V> entryHit(Entry<V> entry) {
    Fetched<V> hit = entry.hit;
    if (hit != null
        && (!checkOnRead || entry.ttlNanos == Long.MAX_VALUE || entry.isFreshAt(ticker.read()))) {
      count(hits);
      return hit;
    }
    return null;
  }

  /** A {@link Fetched} answer, or the {@link Flight.Failure} the caller throws. */
  private Object entryHitOrMiss(
      K key,
      Loader<? super K, ? extends V> loader,
      @Nullable Entry<V> entry,
      @Nullable Duration timeout)
      throws InterruptedException {
    if (entry != null) {
      Fetched<V> hit = entryHit(entry);
      if (hit != null) {
        return hit;
      }
    }
    return miss(key, loader, entry, timeout);
  }

  private Object miss(
      K key,
      Loader<? super K, ? extends V> loader,
      @Nullable Entry<V> entry,
      @Nullable Duration timeout)
      throws InterruptedException {
    if (entry != null && entry.failure != null) {
      return answerFromKeptFailure(key, entry);
    }
    // An untimed caller reads no clock for its own deadline.
    long start = timeout == null ? 0L : ticker.read();
    long timeoutNanos = timeout == null ? Long.MAX_VALUE : Durations.toNanosSaturated(timeout);
    Thread me = Thread.currentThread();
    for (; ; ) {
      Flight<K, V> flight = flights.get(key);
      Flight.Waiter<V> node = null;
      if (flight == null) {
        Flight.Waiter<V> leader = new Flight.Waiter<>(me, null, true);
        Flight<K, V> created = new Flight<>(owner, key, loader, false, leader);
        boolean here = timeout == null && loadOnCallingThread && mayLoadOn(me);
        if (here) {
          // Before it is published, so without contention: once callers join it, a virtual leader
          // that waited for the flight's lock would wait behind every one of them.
          created.claimForCaller();
          created.armTimer();
        }
        flight = flights.putIfAbsent(key, created);
        if (flight != null && here) {
          created.cancelTimer(); // another caller's flight won: this one was never seen
        }
        if (flight == null) {
          flight = created;
          node = leader;
          if (here) {
            if (created.isDone()) {
              // Its load timeout ended it before it was published (a pause longer than the load
              // timeout): its removal from the map came first and missed it.
              flights.remove(key, created);
            }
            if (!created.runOnCaller(leader)) {
              // Its own interrupt ended its attempt and it left; the others get a load elsewhere.
              if (!created.isDone()) {
                dispatch(created);
              }
              Thread.interrupted();
              throw new InterruptedException("interrupted while loading key " + key);
            }
          } else {
            dispatch(created);
          }
        }
      }
      if (node == null) {
        node = new Flight.Waiter<>(me, null, false);
        if (!flight.join(node)) {
          Flight.Outcome<V> ended = Require.nonNull(flight.outcome(), "outcome");
          if (ended instanceof Flight.Abandoned<V>) {
            flights.remove(key, flight);
            continue;
          }
          return Require.nonNull(answer(ended, false), "answer");
        }
        count(joins);
      }
      Object answer = await(key, flight, node, start, timeoutNanos, timeout);
      if (answer != null) {
        return answer;
      }
    }
  }

  /**
   * Whether {@code thread} may run a loader itself: a platform thread always; a virtual one from
   * Java 24 on, where blocking inside {@code synchronized} no longer pins its carrier.
   */
  private static boolean mayLoadOn(Thread thread) {
    return !thread.isVirtual() || VIRTUAL_THREADS_UNPIN;
  }

  private static final boolean VIRTUAL_THREADS_UNPIN = Runtime.version().feature() >= 24;

  private @Nullable Object await(
      K key,
      Flight<K, V> flight,
      Flight.Waiter<V> node,
      long start,
      long timeoutNanos,
      @Nullable Duration timeout)
      throws InterruptedException {
    boolean interrupted = false;
    try {
      for (; ; ) {
        Flight.Outcome<V> ended = flight.outcome();
        if (ended != null) {
          return answer(ended, node.leader);
        }
        long remaining =
            timeoutNanos == Long.MAX_VALUE
                ? Long.MAX_VALUE
                : timeoutNanos - Math.max(0L, ticker.read() - start);
        if (remaining <= 0L) {
          if (flight.leave(node)) {
            count(timeouts);
            throw new FetchTimeoutException(key, Require.nonNull(timeout, "timeout"));
          }
          continue;
        }
        long loadRemaining = flight.loadRemainingNanos();
        if (loadRemaining == 0L) {
          flight.expireIfOverdue();
          continue;
        }
        if (remaining == Long.MAX_VALUE) {
          // Untimed: the flight's timer enforces the load timeout, so no timer task per waiter.
          LockSupport.park(flight);
        } else {
          LockSupport.parkNanos(flight, Math.min(remaining, loadRemaining));
        }
        if (Thread.interrupted()) {
          if (flight.leave(node)) {
            throw new InterruptedException("interrupted while waiting for the load of key " + key);
          }
          interrupted = true;
        }
      }
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private CompletableFuture<Fetched<V>> joinAsync(
      K key, Loader<? super K, ? extends V> loader, boolean refresh) {
    for (; ; ) {
      WaiterFuture<V> future = new WaiterFuture<>();
      Flight<K, V> flight = flights.get(key);
      if (flight == null) {
        Flight.Waiter<V> leader = new Flight.Waiter<>(null, future, true);
        Flight<K, V> created = new Flight<>(owner, key, loader, refresh, leader);
        future.attach(created, leader);
        flight = flights.putIfAbsent(key, created);
        if (flight == null) {
          dispatch(created);
          return future;
        }
      }
      Flight.Waiter<V> node = new Flight.Waiter<>(null, future, false);
      future.attach(flight, node);
      if (flight.join(node)) {
        count(joins);
        return future;
      }
      Flight.Outcome<V> ended = Require.nonNull(flight.outcome(), "outcome");
      if (ended instanceof Flight.Abandoned<V>) {
        flights.remove(key, flight);
        continue;
      }
      deliver(future, ended, false);
      return future;
    }
  }

  private void dispatch(Flight<K, V> flight) {
    flight.armTimer();
    try {
      courier.dispatch(flight);
    } catch (RuntimeException | Error e) {
      flight.complete(Load.fail(e));
    }
  }

  private Fetched<V> answerFromKeptFailure(K key, Entry<V> entry) {
    V stale = entry.staleValueAt(ticker.read());
    if (stale != null) {
      count(staleAnswers);
      return new Fetched<>(stale, Fetched.Source.STALE);
    }
    count(cachedFailures);
    throw new LoadFailedException(key, Require.nonNull(entry.failure, "failure"));
  }

  /** The answer for one waiter; null for an abandoned flight (the caller starts over). */
  private @Nullable Fetched<V> resolve(Flight.Outcome<V> outcome, boolean leader) {
    if (outcome instanceof Flight.Failure<V> failure) {
      throw new LoadFailedException(failure.error(), failure.message());
    }
    Object answer = answer(outcome, leader);
    return answer == null ? null : asHit(answer);
  }

  /**
   * The answer for one blocking waiter: a {@link Fetched}, the {@link Flight.Failure} itself (the
   * public {@code fetch} makes the waiter's exception from it, so that its stack trace starts at the
   * caller's call and the throw does not unwind through the wait's frames), or null for an abandoned
   * flight (the caller starts over).
   */
  private @Nullable Object answer(Flight.Outcome<V> outcome, boolean leader) {
    return switch (outcome) {
      case Flight.Value<V> value -> {
        Fetched<V> answer = leader ? value.leaderAnswer() : value.joinerAnswer();
        if (answer.source() == Fetched.Source.STALE) {
          count(staleAnswers);
        }
        yield answer;
      }
      case Flight.Failure<V> failure -> failure;
      case Flight.Abandoned<V> ignored -> null;
    };
  }

  // ---- what a Flight may ask of its cache ----

  /** The cache's side of the seam with its flights (see {@link FlightOwner}). */
  private final class Owner implements FlightOwner<K, V> {
    @Override
    public long now() {
      return ticker.read();
    }

    @Override
    public long loadTimeoutNanos() {
      return loadTimeoutNanos;
    }

    @Override
    public Duration loadTimeout() {
      return loadTimeout;
    }

    @Override
    public boolean cancelWhenAbandoned() {
      return cancelWhenAbandoned;
    }

    @Override
    public @Nullable V freshValue(K key) {
      return CoalescingCache.this.freshValue(key);
    }

    @Override
    public void loadStarted() {
      count(loads);
    }

    @Override
    public Flight.Outcome<V> settle(Flight<K, V> flight, Load<? extends V> load) {
      return CoalescingCache.this.settle(flight, load);
    }

    @Override
    public void ended(Flight<K, V> flight, boolean abandoned) {
      if (abandoned) {
        count(CoalescingCache.this.abandoned);
      }
      flights.remove(flight.key(), flight);
    }

    @Override
    public ScheduledFuture<?> scheduleLoadTimeout(Flight<K, V> flight, long delayNanos) {
      return Timer.INSTANCE.schedule(
          () -> {
            if (!flight.expireIfOverdue(true) && !flight.isDone()) {
              // The ticker is not the clock (a fake one in a test): check again later.
              flight.armTimer(true);
            }
          },
          Math.max(1L, delayNanos),
          TimeUnit.NANOSECONDS);
    }

    @Override
    public void deliver(WaiterFuture<V> future, Flight.Outcome<V> outcome, boolean leader, K key) {
      CoalescingCache.this.deliver(future, outcome, leader);
    }
  }

  private void deliver(WaiterFuture<V> future, Flight.Outcome<V> outcome, boolean leader) {
    try {
      Fetched<V> answer = resolve(outcome, leader);
      if (answer != null) {
        future.deliver(answer);
      }
    } catch (LoadFailedException e) {
      future.deliverFailure(e);
    }
  }

  private @Nullable V freshValue(K key) {
    Object stored = map.get(key);
    if (stored instanceof Fetched<?>) {
      return CoalescingCache.<V>asHit(stored).value();
    }
    Entry<V> entry = entryOf(stored);
    if (entry != null && entry.hit != null && entry.isFreshAt(ticker.read())) {
      return entry.value;
    }
    return null;
  }

  /**
   * Turns the loader's instruction into the flight's outcome, writing storage. Runs under the
   * flight's lock, exactly once per flight.
   */
  private Flight.Outcome<V> settle(Flight<K, V> flight, Load<? extends V> load) {
    K key = flight.key();
    long now = ticker.read();
    Load<? extends V> instruction = load;
    V value =
        switch (instruction) {
          case Load.Commit<? extends V> commit -> commit.value();
          case Load.Ignore<? extends V> ignore -> ignore.value();
          case Load.Fail<? extends V> fail -> null;
        };
    if (value == null && !(instruction instanceof Load.Fail<? extends V>)) {
      instruction =
          Load.fail(new NullPointerException("loader returned a null value for key " + key));
    }
    switch (instruction) {
      case Load.Commit<? extends V> commit -> {
        V committed = Require.nonNull(value, "value");
        Duration ttl = commit.ttl();
        long ttlNanos = ttl == null ? defaultTtlNanos : Durations.toNanosSaturated(ttl);
        // The stored answer is made inside compute, right before Caffeine makes its node for a new
        // key, so the two sit side by side in memory and a hit's read of the answer's header
        // usually finds it in a cache line the lookup has just brought in.
        if (!flight.isInvalidated()) {
          try {
            map.compute(
                key,
                (k, old) -> {
                  if (flight.isInvalidated()) {
                    throw new Unchanged(); // invalidated meanwhile: old is a newer entry
                  }
                  return stored(committed, now, ttlNanos);
                });
          } catch (Unchanged leftAsItWas) {
            // The newer entry keeps its own write time.
          }
        }
        return new Flight.Value<>(committed, Fetched.Source.LOADED, Fetched.Source.JOINED);
      }
      case Load.Ignore<? extends V> ignore -> {
        return new Flight.Value<>(
            Require.nonNull(value, "value"), Fetched.Source.LOADED, Fetched.Source.JOINED);
      }
      case Load.Fail<? extends V> fail -> {
        count(failures);
        Throwable error = fail.error();
        if (LOG.isLoggable(System.Logger.Level.DEBUG)) {
          LOG.log(System.Logger.Level.DEBUG, "load of key " + key + " failed", error);
        }
        // Read without side effects; Caffeine's compute runs only when a failure is to be kept.
        Object old = storage.policy().getIfPresentQuietly(key);
        Entry<V> oldEntry = entryOf(old);
        V stale =
            oldEntry != null && graceNanos > 0L && !oldEntry.isFreshAt(now)
                ? oldEntry.staleValueAt(now)
                : null;
        if (failureTtlNanos > 0L
            && isKeepable(flight, error)
            && !flight.isInvalidated()
            && (old == null || !isFreshValue(old, now))) {
          try {
            map.compute(
                key,
                (k, current) -> {
                  if (flight.isInvalidated() || (current != null && isFreshValue(current, now))) {
                    // Invalidated, or a fresh value stored since the read: leave it as it is.
                    throw new Unchanged();
                  }
                  return Entry.failure(
                      error, graceNanos > 0L ? entryOf(current) : null, now, failureTtlNanos);
                });
          } catch (Unchanged leftAsItWas) {
            // The entry keeps its own write time.
          }
        }
        if (stale != null) {
          return new Flight.Value<>(stale, Fetched.Source.STALE, Fetched.Source.STALE);
        }
        return new Flight.Failure<>(error, LoadFailedException.message(key, error));
      }
    }
  }

  /**
   * Whether a failure may be kept by {@link Builder#cacheFailuresFor}: not when it says nothing
   * about the key but about the thread or the machine that loaded it, and the next load may well
   * succeed: an interrupt (the loader's thread interrupted from outside, or an
   * {@link InterruptedException}, {@link InterruptedIOException} or
   * {@link ClosedByInterruptException} anywhere in the causes), a
   * {@link VirtualMachineError}, or a {@link RejectedExecutionException}.
   */
  private static boolean isKeepable(Flight<?, ?> flight, Throwable error) {
    if (flight.loaderInterrupted()) {
      return false;
    }
    Throwable t = error;
    for (int depth = 0; t != null && depth < 32; depth++, t = t.getCause()) {
      if (t instanceof InterruptedException
          || t instanceof InterruptedIOException
          || t instanceof ClosedByInterruptException
          || t instanceof VirtualMachineError
          || t instanceof RejectedExecutionException) {
        return false;
      }
    }
    return true;
  }

  /**
   * Thrown inside a Caffeine {@code compute} to leave the entry as it is. Returning the old value
   * instead is not a no-op: Caffeine counts it as a write and, with fixed expiry
   * ({@code expireAfterWrite}), restarts the entry's time to live, so a failed refresh every few
   * seconds would keep a value fresh for ever. Thrown only when the entry changed between the read
   * that decided to write and the write itself; made without a stack trace.
   */
  private static final class Unchanged extends RuntimeException {
    private static final long serialVersionUID = 1L;

    Unchanged() {
      super(null, null, false, false);
    }
  }

  /**
   * The shared daemon timer for load timeouts: one task per running load (not per waiter), cancelled
   * when the load ends. A task only fails the flight and unparks its blocking waiters; futures are
   * completed off this thread (see {@link Flight#expireIfOverdue(boolean)}).
   */
  private static final class Timer {
    static final ScheduledThreadPoolExecutor INSTANCE = create();

    private static ScheduledThreadPoolExecutor create() {
      ThreadFactory factory =
          Thread.ofPlatform().daemon().name("shepherd-cache-timer").factory();
      ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1, factory);
      timer.setRemoveOnCancelPolicy(true);
      return timer;
    }
  }

  /**
   * Builds a {@link CoalescingCache}. Not thread-safe; {@link #build()} copies the settings, so a
   * builder may be reused.
   *
   * @param <K> the key's type
   * @param <V> the value's type
   */
  public static final class Builder<K, V> {

    private long maximumSize = -1L;
    private long maximumWeight = -1L;
    private @Nullable ToIntBiFunction<? super K, ? super V> weigher;
    private @Nullable Duration timeToLive;
    private Ticker ticker = Ticker.system();
    private Executor executor = LoaderThreads.SHARED;
    private @Nullable Courier courier;
    private @Nullable Duration failureTtl;
    private @Nullable Duration staleGrace;
    private boolean cancelWhenAbandoned;
    private Duration loadTimeout = Duration.ofMinutes(1);
    private boolean recordStats = true;
    private @Nullable Boolean loadOnCallingThread;

    private Builder() {}

    /**
     * Bounds the number of stored entries (values and kept failures); Caffeine evicts by its
     * W-TinyLFU policy beyond it. Default: unbounded. Exclusive with {@link #weigher}.
     *
     * @param maximumSize the bound, zero or more
     * @return this builder
     * @throws IllegalArgumentException if negative
     * @throws IllegalStateException if a weigher is set
     */
    public Builder<K, V> maximumSize(long maximumSize) {
      Require.atLeast(maximumSize, 0L, "maximumSize");
      Require.state(weigher == null, "maximumSize cannot be combined with a weigher");
      this.maximumSize = maximumSize;
      return this;
    }

    /**
     * Bounds the total weight of stored values; a kept failure weighs 1. Default: unbounded.
     * Exclusive with {@link #maximumSize}.
     *
     * @param maximumWeight the bound, zero or more
     * @param weigher the weight of one value, zero or more, computed once when it is stored
     * @return this builder
     * @throws NullPointerException if {@code weigher} is null
     * @throws IllegalArgumentException if {@code maximumWeight} is negative
     * @throws IllegalStateException if a maximum size is set
     */
    public Builder<K, V> weigher(long maximumWeight, ToIntBiFunction<? super K, ? super V> weigher) {
      Require.atLeast(maximumWeight, 0L, "maximumWeight");
      Require.nonNull(weigher, "weigher");
      Require.state(maximumSize < 0L, "a weigher cannot be combined with maximumSize");
      this.maximumWeight = maximumWeight;
      this.weigher = weigher;
      return this;
    }

    /**
     * Sets how long a loaded value stays fresh, unless its loader returned
     * {@link Load#commit(Object, Duration)} with a shorter time. Default: forever.
     *
     * <p>It is also the longest any entry is kept (plus the {@link #serveStaleOnError stale grace}):
     * a loader's own time to live can shorten it but not lengthen it, and a failure kept by
     * {@link #cacheFailuresFor} for longer is dropped at it. Set it to the longest time a value may
     * live. This is Caffeine's fixed expiry ({@code expireAfterWrite}), whose hit costs one clock
     * read; letting single entries outlive it would need Caffeine's variable expiry, which costs
     * about twice as much on every hit.
     *
     * <p>Setting it (or {@link #cacheFailuresFor} or {@link #serveStaleOnError}) turns on Caffeine's
     * expiry, which removes expired entries on time and costs a clock read per hit. Without any of
     * them, hits read no clock; a value committed with its own time to live is then checked on read,
     * answered as a miss once expired and replaced by the next load, and otherwise stays in memory
     * until size eviction or {@link CoalescingCache#invalidate}: set a time to live (even a long one)
     * when an unbounded cache holds many such values.
     *
     * @param timeToLive the time to live
     * @return this builder
     * @throws NullPointerException if null
     * @throws IllegalArgumentException if zero or negative
     */
    public Builder<K, V> timeToLive(Duration timeToLive) {
      this.timeToLive = Require.positive(timeToLive, "timeToLive");
      return this;
    }

    /**
     * Sets the time source for expiry, timeouts and load timeouts. Default: {@link Ticker#system()}.
     * A test passes a fake ticker, advances it and calls {@link CoalescingCache#cleanUp()}.
     *
     * @param ticker the ticker
     * @return this builder
     * @throws NullPointerException if null
     */
    public Builder<K, V> ticker(Ticker ticker) {
      this.ticker = Require.nonNull(ticker, "ticker");
      return this;
    }

    /**
     * Sets where loaders run (through {@link Courier#local(Executor)}) when the caller that starts
     * the load does not run it itself (see {@link #loadOnCallingThread}): {@code fetchAsync},
     * {@code refresh}, {@code fetch} with a timeout. Ignored if a {@link #courier} is set. Setting
     * it turns {@link #loadOnCallingThread} off unless that is set too: your executor then runs
     * every load.
     *
     * <p>Default: the JVM's shared loader threads. A load starts at once on a pooled daemon
     * platform thread ({@code shepherd-cache-loader-N}) while fewer than 2 per core (at least 8)
     * loads run on them, and on a new virtual thread beyond that; idle platform threads end after
     * 30 s. Platform threads come first because a virtual thread is never preempted: while every
     * carrier runs virtual threads that do not block, a virtual loader waits until one of them
     * ends, and every caller of the key waits with it; the operating system gives a platform
     * thread a core within its time slice (and before Java 24 a virtual loader that blocks inside
     * {@code synchronized} pins its carrier). The price is start latency when every core is busy:
     * in StampedeBenchmark (10,000 virtual callers, 2 cores, Java 25) a platform loader thread
     * starts about 2.3 ms after the release, a virtual one about 1 ms; the leader that runs its
     * own load starts it at once. Virtual threads take over past the bound so that loaders that
     * block never need a platform thread each.
     *
     * <p>An executor of your own must start each task without waiting behind other loads (a
     * queue of loads behind a busy thread delays every caller of every key in it).
     *
     * <p>{@code Runnable::run} runs every load on the thread of the caller that starts it, its
     * timed and async calls included. The price: that caller cannot leave its load. Its timeout
     * is not honoured until the loader returns, and interrupting its thread interrupts the loader,
     * whose failure then reaches every waiter (it is not kept by {@link #cacheFailuresFor}, and
     * the thread's interrupt status stays set). {@link #loadOnCallingThread} gets the start
     * without these costs.
     *
     * @param executor the executor
     * @return this builder
     * @throws NullPointerException if null
     */
    public Builder<K, V> executor(Executor executor) {
      this.executor = Require.nonNull(executor, "executor");
      return this;
    }

    /**
     * Sets the courier that carries out each load. Default: {@link Courier#local(Executor)} on the
     * {@link #executor}.
     *
     * @param courier the courier
     * @return this builder
     * @throws NullPointerException if null
     */
    public Builder<K, V> courier(Courier courier) {
      this.courier = Require.nonNull(courier, "courier");
      return this;
    }

    /**
     * Keeps a failed load's failure for {@code ttl}: fetches within it get the failure (or a stale
     * value, see {@link #serveStaleOnError}) without a load. Default: failures are not kept. With a
     * {@link #timeToLive default time to live}, a failure is kept at most that long (plus the stale
     * grace). Never kept, because they say nothing about the key: a failure caused by an interrupt
     * (the loader's thread interrupted from outside, or an {@link InterruptedException},
     * {@link InterruptedIOException} or {@link ClosedByInterruptException}
     * among its causes), a {@link VirtualMachineError} such as {@link OutOfMemoryError}, or a
     * {@link RejectedExecutionException} from the executor; such a failure
     * still reaches the waiters of its load, and the next fetch loads again.
     *
     * @param ttl how long a failure is kept
     * @return this builder
     * @throws NullPointerException if null
     * @throws IllegalArgumentException if zero or negative
     */
    public Builder<K, V> cacheFailuresFor(Duration ttl) {
      this.failureTtl = Require.positive(ttl, "cacheFailuresFor");
      return this;
    }

    /**
     * Keeps each value for {@code grace} after it expires; when a load of its key fails (or times
     * out) within that time, every waiter gets the old value marked {@link Fetched.Source#STALE}
     * instead of the failure. An expired value is never answered as a hit: it triggers a load.
     * Default: off.
     *
     * @param grace how long after expiry a value may still be served on error
     * @return this builder
     * @throws NullPointerException if null
     * @throws IllegalArgumentException if zero or negative
     */
    public Builder<K, V> serveStaleOnError(Duration grace) {
      this.staleGrace = Require.positive(grace, "serveStaleOnError");
      return this;
    }

    /**
     * When on, a load whose waiters all left (timeout, interrupt, cancelled future) is cancelled:
     * its loader thread is interrupted and nothing is stored. Default: off, so a load whose callers
     * gave up still fills the cache for the next ones.
     *
     * @param cancel whether to cancel abandoned loads
     * @return this builder
     */
    public Builder<K, V> cancelWhenAbandoned(boolean cancel) {
      this.cancelWhenAbandoned = cancel;
      return this;
    }

    /**
     * Bounds how long one load may run: past it every waiter gets a {@link LoadFailedException}
     * caused by a {@link java.util.concurrent.TimeoutException}, the loader is interrupted, the
     * failure is handled like any other (kept, or answered stale) and the next fetch loads again.
     * This is what keeps a loader that never returns from holding its key forever. Default: one
     * minute.
     *
     * @param timeout the longest a load may run
     * @return this builder
     * @throws NullPointerException if null
     * @throws IllegalArgumentException if zero or negative
     */
    public Builder<K, V> loadTimeout(Duration timeout) {
      this.loadTimeout = Require.positive(timeout, "loadTimeout");
      return this;
    }

    /**
     * Whether the cache keeps the counters of {@link CoalescingCache#stats()}. Default: on, as
     * so that hit counts are there without setup. Off, nothing is counted and every counter of a
     * snapshot stays zero; that saves the hit counter's atomic increment (a {@code LongAdder}), which
     * is measurable on a hit of a few nanoseconds. Caffeine's equivalent is its opt-in
     * {@code recordStats()}: compare a cache with statistics off against a Caffeine cache without
     * {@code recordStats()}, and one with statistics on against one with it.
     *
     * @param record whether to count hits, loads, joins, failures, timeouts and the rest
     * @return this builder
     */
    public Builder<K, V> recordStats(boolean record) {
      this.recordStats = record;
      return this;
    }

    /**
     * Whether a caller that starts a load with the blocking {@link CoalescingCache#fetch(Object,
     * Loader) fetch(key, loader)}, the one without a timeout of its own, runs the loader on its own
     * thread instead of handing it to the {@link #executor}. That caller waits for the whole load
     * anyway; running it itself starts the load at once, where a handed-off load waits for its
     * thread to be scheduled: under a stampede that keeps every core busy, about 2 ms on a 2-core
     * machine. In StampedeBenchmark (10,000 virtual callers of one cold key, 20 ms loader, 2
     * cores) the loader starts about 0.1 ms after the release, as Guava's {@code LoadingCache}'s
     * (which always loads on the caller's thread, as Caffeine's synchronous {@code get} does),
     * and the last caller was answered at or before Guava's in 10 of 12 runs (0.986x on
     * average; BENCHMARKS.md). Every other load still runs on the
     * executor: {@link CoalescingCache#fetchAsync}, {@link CoalescingCache#refresh}, and a
     * {@code fetch} with a timeout (whose caller must be able to leave at it).
     *
     * <p>What stays the same for every other caller of the key: they join the load with their own
     * timeouts and interrupts, and the load timeout answers them at its deadline. What differs for
     * the caller that runs it:
     *
     * <ul>
     *   <li>The loader sees that caller's thread: its thread locals (a Spring transaction bound to
     *       the thread, a logging context, a security context). A loader that must not read inside
     *       the caller's transaction (it would cache what that transaction has not committed) needs
     *       this off, or a loader that opens its own transaction.
     *   <li>Interrupting that caller interrupts its loader. If the loader then fails, the caller
     *       throws {@link InterruptedException} as any interrupted waiter does, the failure is not
     *       handed to anyone, and the load starts again on the executor for the callers still
     *       waiting (or is dropped, with {@link #cancelWhenAbandoned} and nobody left): the loader
     *       has then run twice. A loader that finishes despite the interrupt answers everyone.
     *   <li>At the load timeout the loader is interrupted and the other callers are answered with
     *       the timeout; that caller returns when its loader does, so a loader that ignores
     *       interrupts holds it past the load timeout.
     * </ul>
     *
     * <p>On Java 21 to 23 a virtual-thread caller always hands the load to the executor: a loader
     * that blocks inside {@code synchronized} there would pin that caller's carrier thread.
     *
     * <p>Default: on when neither {@link #executor} nor {@link #courier} is set; off when either
     * is (your executor then runs every load). Needs the local courier: on with a {@link #courier}
     * of your own, {@link #build()} fails.
     *
     * @param onCallingThread whether the blocking, untimed leader runs its own load
     * @return this builder
     */
    public Builder<K, V> loadOnCallingThread(boolean onCallingThread) {
      this.loadOnCallingThread = onCallingThread;
      return this;
    }

    /**
     * Returns the settings so far as an immutable configuration, as {@link #build()} would use them
     * (the local courier on the executor unless a courier was set).
     *
     * @return the configuration
     * @throws IllegalStateException if the settings contradict each other (see
     *     {@link CacheConfig})
     */
    public CacheConfig<K, V> config() {
      boolean onCallingThread =
          loadOnCallingThread != null
              ? loadOnCallingThread
              : courier == null && executor == LoaderThreads.SHARED;
      return new CacheConfig<>(
          maximumSize,
          maximumWeight,
          weigher,
          timeToLive,
          ticker,
          executor,
          courier != null ? courier : Courier.local(executor),
          failureTtl,
          staleGrace,
          cancelWhenAbandoned,
          loadTimeout,
          recordStats,
          onCallingThread);
    }

    /**
     * Builds the cache from {@link #config()}.
     *
     * @return a new cache
     */
    public CoalescingCache<K, V> build() {
      return new CoalescingCache<>(config());
    }
  }

}
