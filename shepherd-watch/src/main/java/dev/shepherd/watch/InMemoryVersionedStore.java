package dev.shepherd.watch;

import com.google.errorprone.annotations.concurrent.GuardedBy;
import dev.shepherd.core.Ticker;
import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.Require;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * A key-value store in memory whose reads can block until a key changes, versioned like Consul's
 * KV store; it is a {@link WatchSource} of {@code Optional<V>} (empty when the key is absent).
 *
 * <pre>{@code
 * InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
 * long index = store.put("db/url", "jdbc:postgresql://10.0.0.1/app");
 * Versioned<Optional<String>> now = store.fetch("db/url", 0, Duration.ofSeconds(1));   // at once
 * // blocks up to 5 s until db/url is written again:
 * Versioned<Optional<String>> next = store.fetch("db/url", now.index(), Duration.ofSeconds(5));
 * }</pre>
 *
 * <h2>Indexes</h2>
 *
 * <ul>
 *   <li>The store has one write counter that starts at 1; every {@link #put} and {@link #delete}
 *       increments it and stamps the key with the new value (its modify index), so indexes only
 *       grow and a key's index is the index of its last write.
 *   <li>A deleted key keeps its delete index in a tombstone, so a watcher of it is woken only by
 *       a write of that key. Tombstones are reaped, oldest first, once older than the tombstone
 *       TTL (default 15 minutes) or when there are more than the maximum (default 10,000); see
 *       {@link Builder}.
 *   <li>A key without an entry (never written, or deleted and its tombstone reaped) has the reap
 *       floor as its index: the highest delete index reaped so far, or 1 if none was. So a
 *       reaped key's index never goes backwards: it is its delete index while the tombstone lives
 *       and the floor afterwards, which is at least that (tombstones are reaped in index order).
 *   <li>{@link #wipe()} forgets everything and restarts the counter at 1: every watcher then sees
 *       its index go backwards, as after a Consul data loss, and starts again from 0.
 * </ul>
 *
 * <h2>Tombstones and their reaping</h2>
 *
 * <p>Without reaping, every key written and deleted once would stay in memory for ever, and a
 * writer (through {@link BlockingQueryServlet}'s write path, or an application) could grow the
 * store without bound with unique keys. Consul has the same problem and the same answer: its KV
 * deletes leave tombstones in a "graveyard" ({@code agent/consul/state/graveyard.go}) that a
 * tombstone GC reaps once they are older than {@code TombstoneTTL}, 15 minutes by default
 * ({@code agent/consul/state/tombstone_gc.go}: "the tombstones allow queries to provide monotonic
 * index values within the TTL window"); reaping deletes the stones but not the tombstone table's
 * index, and {@code kvsGetTxn} answers every key, absent ones too, with {@code kvsMaxIndex}, the
 * highest index of the KV and tombstone tables ({@code agent/consul/state/kvs_ce.go}), so a
 * reaped key's index never goes backwards. The floor here is that table index cut down to what
 * is needed: the highest reaped delete index. Consul's {@code kvsListTxn} takes a prefix's index
 * from its entries and its live tombstones only, so it can go back when the tombstone of the
 * prefix's last delete is reaped; here a prefix's index is never below the floor.
 *
 * <p>Reaping is incremental: each write reaps at most a few tombstones (a recursive delete also
 * as many as it made), oldest first, under the write lock it already holds; so no write pays for
 * the whole graveyard, and the number of tombstones never exceeds the maximum. A store that
 * nobody writes keeps its expired tombstones until the next writes (they no longer grow).
 * Reaping wakes nobody: nothing a watcher could see changed.
 *
 * <p>The one observable effect: the index of a key without an entry is the floor, which rises as
 * tombstones are reaped. A blocked read of such a key is not woken by a reap, but when its wait
 * ends it answers the risen index (still absent), so a {@link Watcher} publishes the absent value
 * once more; a prefix's index (see {@code list}) includes the floor too, for the same reason.
 * Consul does the same, and more often: an absent key there answers the whole KV table's index.
 *
 * <p>{@code fetch(key, minIndex, maxWait)} answers at once when the key's index differs from
 * {@code minIndex} (greater: a change; smaller: the store was wiped), and otherwise blocks until
 * the key is written or {@code maxWait} passes. {@link #whenChanged(String, long)} is the
 * non-blocking form used by {@link BlockingQueryServlet}.
 *
 * <h2>Lock, readers and who wakes whom</h2>
 *
 * <p>Thread-safe. Writes (and the reaping they do, and {@link #wipe()}) are serialised by one
 * lock; a write completes the waiters of the written key and of every waiting prefix of it after
 * releasing the lock, and nothing else wakes a waiter (a reap does not; a wipe wakes all). The
 * blocking reads of one key ({@link #whenChanged}) check and register under the lock, which they
 * hold for O(log n).
 *
 * <p>Reads of a prefix ({@code list}, {@code whenPrefixChanged}, {@link #keys()}) scan every key
 * under it, and a flood of them ({@code ?recurse} over HTTP on a large prefix) must not stall the
 * writes, so they scan without the lock, seqlock style: the entries are in a concurrent sorted
 * map, each write makes the write sequence odd before it changes the entries or the reap floor
 * and even again after; a scan that read the same even sequence before and after saw no write,
 * so its list and its index are one snapshot (a watcher never gets an index whose list misses a
 * write at or below it, which would lose that change). A scan that saw the sequence move is
 * retried; after a few tries the reader scans under the lock, so readers cannot starve (and
 * writers then wait for one scan only). {@code whenPrefixChanged} scans for the index only, and
 * takes the lock just to register, after checking that the sequence has not moved since its scan.
 * A write finds the waiting prefixes of its key by the prefix lengths that have waiters, not by
 * walking every waiting prefix.
 *
 * @param <V> the type of values
 */
public final class InMemoryVersionedStore<V> implements WatchSource<Optional<V>> {

  private final ReentrantLock lock = new ReentrantLock();
  /** Written under lock inside an odd write sequence; read by anyone (see the class comment). */
  private final ConcurrentSkipListMap<String, Entry<V>> entries = new ConcurrentSkipListMap<>();
  /** Odd while a write changes {@code entries} or {@code reapedIndex}; only writers change it. */
  private final AtomicLong writeSequence = new AtomicLong();
  // Guarded by lock.
  @GuardedBy("lock") private final HashMap<String, List<Waiter<V>>> waiters = new HashMap<>();
  @GuardedBy("lock") private final HashMap<String, List<PrefixWaiter>> prefixWaiters = new HashMap<>();
  /** How many waiting prefixes (keys of {@code prefixWaiters}) have each length. */
  @GuardedBy("lock") private final TreeMap<Integer, Integer> prefixLengths = new TreeMap<>();
  @GuardedBy("lock") private long index = 1L;
  /** Tombstones in delete order; an element whose key was written again since is stale. */
  @GuardedBy("lock") private final ArrayDeque<Tombstone> graveyard = new ArrayDeque<>();
  /** The highest delete index reaped since the last wipe, 0 if none; written as entries are. */
  private volatile long reapedIndex;
  private final AtomicLong reads = new AtomicLong();
  /** Test hook run after each entry a prefix scan visits; null in production. */
  private volatile @Nullable Runnable scanHook;
  private final long tombstoneTtlNanos;
  private final int maxTombstones;
  private final Ticker ticker;

  /** Tombstones a write reaps at most besides those it made; 2 would keep pace with deletes. */
  private static final int REAP_PER_WRITE = 4;

  /** Scans without the lock a prefix read tries before it scans under the lock. */
  private static final int OPTIMISTIC_SCANS = 3;

  /** The default of {@link Builder#tombstoneTtl}: Consul's {@code TombstoneTTL}. */
  static final Duration DEFAULT_TOMBSTONE_TTL = Duration.ofMinutes(15);

  /** The default of {@link Builder#maxTombstones}. */
  static final int DEFAULT_MAX_TOMBSTONES = 10_000;

  private InMemoryVersionedStore(Builder<V> builder) {
    this.tombstoneTtlNanos = Durations.toNanosSaturated(builder.tombstoneTtl);
    this.maxTombstones = builder.maxTombstones;
    this.ticker = builder.ticker;
  }

  /**
   * Creates an empty store, at index 1, with the default tombstone TTL and maximum.
   *
   * @param <V> the type of values
   * @return a new store
   */
  public static <V> InMemoryVersionedStore<V> create() {
    return InMemoryVersionedStore.<V>builder().build();
  }

  /**
   * Returns a builder of a store whose tombstone reaping can be set.
   *
   * @param <V> the type of values
   * @return a new builder
   */
  public static <V> Builder<V> builder() {
    return new Builder<>();
  }

  /**
   * Sets the value of a key and wakes its waiters.
   *
   * @param key the key, not empty
   * @param value the value
   * @return the new index of the key (and of the store)
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if {@code key} is empty
   */
  public long put(String key, V value) {
    Require.notEmpty(key, "key");
    Require.nonNull(value, "value");
    return write(key, value);
  }

  /**
   * Deletes a key and wakes its waiters; the key keeps the delete index until its tombstone is
   * reaped (see the class comment).
   *
   * @param key the key, not empty
   * @return the new index of the key (and of the store)
   * @throws NullPointerException if {@code key} is null
   * @throws IllegalArgumentException if {@code key} is empty
   */
  public long delete(String key) {
    Require.notEmpty(key, "key");
    return write(key, null);
  }

  private long write(String key, @Nullable V value) {
    return writeIf(key, value, -1L).orElseThrow();
  }

  /**
   * Sets the value of a key only if its modify index is {@code expectedIndex}, Consul's
   * check-and-set: {@code 0} means "only if the key is absent" (never written, or deleted).
   *
   * @param key the key, not empty
   * @param value the value
   * @param expectedIndex the modify index the key must have, or 0 for "absent"
   * @return the new index if written, empty if the key's index was another
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if {@code key} is empty or {@code expectedIndex} negative
   */
  public OptionalLong putIf(String key, V value, long expectedIndex) {
    Require.notEmpty(key, "key");
    Require.nonNull(value, "value");
    Require.atLeast(expectedIndex, 0L, "expectedIndex");
    return writeIf(key, value, expectedIndex);
  }

  /**
   * Deletes a key only if its modify index is {@code expectedIndex}; as in Consul, an expected
   * index of 0 never deletes.
   *
   * @param key the key, not empty
   * @param expectedIndex the modify index the key must have
   * @return the new index if deleted, empty otherwise
   * @throws NullPointerException if {@code key} is null
   * @throws IllegalArgumentException if {@code key} is empty or {@code expectedIndex} negative
   */
  public OptionalLong deleteIf(String key, long expectedIndex) {
    Require.notEmpty(key, "key");
    Require.atLeast(expectedIndex, 0L, "expectedIndex");
    if (expectedIndex == 0L) {
      return OptionalLong.empty();
    }
    return writeIf(key, null, expectedIndex);
  }

  /**
   * Deletes every present key that starts with {@code prefix} (all keys for an empty prefix) in
   * one write: they all get the same new index.
   *
   * @param prefix the prefix, possibly empty
   * @return the new index, or the store's index if nothing was deleted
   * @throws NullPointerException if {@code prefix} is null
   */
  public long deletePrefix(String prefix) {
    Require.nonNull(prefix, "prefix");
    List<Runnable> wakeups = new ArrayList<>();
    long next;
    lock.lock();
    try {
      List<String> present = new ArrayList<>();
      for (Map.Entry<String, Entry<V>> e : entries.tailMap(prefix, true).entrySet()) {
        if (!e.getKey().startsWith(prefix)) {
          break;
        }
        if (e.getValue().value() != null) {
          present.add(e.getKey());
        }
      }
      if (present.isEmpty()) {
        return index;
      }
      next = ++index;
      Versioned<Optional<V>> absent = new Versioned<>(Optional.empty(), next);
      long now = ticker.read();
      writeSequence.incrementAndGet(); // odd: entries change
      try {
        for (String key : present) {
          entries.put(key, new Entry<>(null, next, 0L));
          graveyard.addLast(new Tombstone(key, next, now));
        }
        reap(now, present.size() + REAP_PER_WRITE);
      } finally {
        writeSequence.incrementAndGet();
      }
      for (String key : present) {
        List<Waiter<V>> woken = waiters.remove(key);
        wakeups.add(() -> complete(woken, absent));
        collectPrefixWaiters(key, next, wakeups);
      }
    } finally {
      lock.unlock();
    }
    wakeups.forEach(Runnable::run);
    return next;
  }

  /** Writes (value null: deletes) if the key's index is expected (-1: always). */
  private OptionalLong writeIf(String key, @Nullable V value, long expectedIndex) {
    List<Waiter<V>> woken;
    Versioned<Optional<V>> answer;
    List<Runnable> wakeups = new ArrayList<>(1);
    lock.lock();
    try {
      Entry<V> previous = entries.get(key);
      if (expectedIndex >= 0L) {
        boolean present = previous != null && previous.value() != null;
        boolean matches = expectedIndex == 0L ? !present
            : previous != null && present && previous.modifyIndex() == expectedIndex;
        if (!matches) {
          return OptionalLong.empty();
        }
      }
      long next = ++index;
      long createIndex = value == null ? 0L
          : previous != null && previous.value() != null ? previous.createIndex() : next;
      long now = ticker.read();
      writeSequence.incrementAndGet(); // odd: entries change
      try {
        entries.put(key, new Entry<>(value, next, createIndex));
        if (value == null) {
          graveyard.addLast(new Tombstone(key, next, now));
        }
        reap(now, REAP_PER_WRITE);
      } finally {
        writeSequence.incrementAndGet();
      }
      answer = new Versioned<>(Optional.ofNullable(value), next);
      woken = waiters.remove(key);
      collectPrefixWaiters(key, next, wakeups);
    } finally {
      lock.unlock();
    }
    complete(woken, answer);
    wakeups.forEach(Runnable::run);
    return OptionalLong.of(answer.index());
  }

  /**
   * Under lock: reaps at most {@code budget} tombstones from the oldest, while they are expired
   * or more than the maximum, and raises the floor to the last one reaped. Wakes nobody. Called
   * inside an odd write sequence.
   */
  @GuardedBy("lock")
  private void reap(long now, int budget) {
    for (int i = 0; i < budget && !graveyard.isEmpty(); i++) {
      Tombstone oldest = graveyard.peekFirst();
      if (graveyard.size() <= maxTombstones && now - oldest.diedAtNanos() < tombstoneTtlNanos) {
        return;
      }
      graveyard.pollFirst();
      Entry<V> entry = entries.get(oldest.key());
      if (entry != null && entry.value() == null && entry.modifyIndex() == oldest.index()) {
        entries.remove(oldest.key());
        reapedIndex = Math.max(reapedIndex, oldest.index());
      } // else stale: the key was written again since
    }
  }

  /**
   * The index of a key without an entry, the reap floor (1 if nothing was reaped); read it under
   * the lock or inside a validated scan.
   */
  private long absentIndex() {
    return Math.max(1L, reapedIndex);
  }

  /** Under lock: removes the prefix waiters {@code key} wakes; their completion goes to the list. */
  @GuardedBy("lock")
  private void collectPrefixWaiters(String key, long newIndex, List<Runnable> wakeups) {
    if (prefixWaiters.isEmpty()) {
      return;
    }
    // O(distinct waiting lengths x key length), not O(waiting prefixes): look up only the key's
    // own prefixes, of the lengths some waiting prefix has.
    List<String> hit = new ArrayList<>(2);
    for (int length : prefixLengths.headMap(key.length(), true).keySet()) {
      String prefix = key.substring(0, length);
      if (prefixWaiters.containsKey(prefix)) {
        hit.add(prefix);
      }
    }
    for (String prefix : hit) {
      List<PrefixWaiter> list = removePrefix(prefix);
      wakeups.add(() -> list.forEach(w -> w.complete(newIndex)));
    }
  }

  /** Under lock: registers a waiter of {@code prefix}. */
  @GuardedBy("lock")
  private PrefixWaiter addPrefixWaiter(String prefix) {
    PrefixWaiter waiter = new PrefixWaiter(prefix);
    List<PrefixWaiter> list = prefixWaiters.get(prefix);
    if (list == null) {
      list = new ArrayList<>(2);
      prefixWaiters.put(prefix, list);
      prefixLengths.merge(prefix.length(), 1, Integer::sum);
    }
    list.add(waiter);
    return waiter;
  }

  /** Under lock: removes every waiter of {@code prefix}, which has some, and returns them. */
  @GuardedBy("lock")
  private List<PrefixWaiter> removePrefix(String prefix) {
    List<PrefixWaiter> list = Require.nonNull(prefixWaiters.remove(prefix), "waiters of prefix");
    prefixLengths.computeIfPresent(prefix.length(), (length, n) -> n == 1 ? null : n - 1);
    return list;
  }

  /**
   * Forgets every key and restarts the index at 1, like a Consul cluster that lost its data;
   * every waiter is woken with its key's new (lower) index.
   */
  public void wipe() {
    Map<String, List<Waiter<V>>> woken;
    List<List<PrefixWaiter>> prefixWoken;
    lock.lock();
    try {
      writeSequence.incrementAndGet(); // odd: entries change
      try {
        entries.clear();
        reapedIndex = 0L;
      } finally {
        writeSequence.incrementAndGet();
      }
      graveyard.clear();
      index = 1L;
      woken = new LinkedHashMap<>(waiters);
      waiters.clear();
      prefixWoken = new ArrayList<>(prefixWaiters.values());
      prefixWaiters.clear();
      prefixLengths.clear();
    } finally {
      lock.unlock();
    }
    Versioned<Optional<V>> absent = new Versioned<>(Optional.empty(), 1L);
    for (List<Waiter<V>> list : woken.values()) {
      complete(list, absent);
    }
    for (List<PrefixWaiter> list : prefixWoken) {
      list.forEach(w -> w.complete(1L));
    }
  }

  /**
   * Returns the current value of a key and its index, without blocking.
   *
   * @param key the key, not empty
   * @return the value (empty if absent) and the key's index
   * @throws NullPointerException if {@code key} is null
   * @throws IllegalArgumentException if {@code key} is empty
   */
  public Versioned<Optional<V>> get(String key) {
    Require.notEmpty(key, "key");
    lock.lock();
    try {
      return current(key);
    } finally {
      lock.unlock();
    }
  }

  /**
   * Returns the index at which the key was created (first written after being absent), or zero if
   * it is absent; Consul's {@code CreateIndex}.
   *
   * @param key the key, not empty
   * @return the create index, zero if absent
   * @throws NullPointerException if {@code key} is null
   * @throws IllegalArgumentException if {@code key} is empty
   */
  public long createIndex(String key) {
    Require.notEmpty(key, "key");
    lock.lock();
    try {
      Entry<V> entry = entries.get(key);
      return entry == null ? 0L : entry.createIndex();
    } finally {
      lock.unlock();
    }
  }

  /**
   * Returns the store's index: the index of its last write, 1 when empty.
   *
   * @return the store index
   */
  public long index() {
    lock.lock();
    try {
      return index;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Returns the keys currently present (not deleted), in no particular order.
   *
   * @return a snapshot of the keys
   */
  public List<String> keys() {
    return consistentScan(() -> {
      List<String> keys = new ArrayList<>();
      entries.forEach((k, e) -> {
        if (e.value() != null) {
          keys.add(k);
        }
      });
      return keys;
    });
  }

  /**
   * Returns how many fetches and {@code whenChanged} calls this store has answered or accepted;
   * lets tests and benchmarks count upstream queries at the source.
   *
   * @return the number of queries
   */
  public long queryCount() {
    return reads.get();
  }

  /**
   * Returns how many blocking queries are waiting right now, over all keys.
   *
   * @return the number of waiting queries
   */
  public int waitingQueries() {
    lock.lock();
    try {
      int n = 0;
      for (List<Waiter<V>> list : waiters.values()) {
        n += list.size();
      }
      for (List<PrefixWaiter> list : prefixWaiters.values()) {
        n += list.size();
      }
      return n;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Returns a future completed with the key's value as soon as its index differs from
   * {@code minIndex}; completed already if it differs now. Cancel the future to stop waiting (the
   * waiter is then removed).
   *
   * @param key the key, not empty
   * @param minIndex the index the caller has, zero or more
   * @return the future value and index
   * @throws NullPointerException if {@code key} is null
   * @throws IllegalArgumentException if {@code key} is empty or {@code minIndex} negative
   */
  public CompletableFuture<Versioned<Optional<V>>> whenChanged(String key, long minIndex) {
    Require.notEmpty(key, "key");
    Require.atLeast(minIndex, 0L, "minIndex");
    reads.incrementAndGet();
    Waiter<V> waiter;
    lock.lock();
    try {
      Versioned<Optional<V>> now = current(key);
      if (now.index() != minIndex) {
        return CompletableFuture.completedFuture(now);
      }
      waiter = new Waiter<>(key, this);
      waiters.computeIfAbsent(key, k -> new ArrayList<>(2)).add(waiter);
    } finally {
      lock.unlock();
    }
    return waiter;
  }

  /**
   * Returns the present keys under {@code prefix} in key order, with the prefix's index: the
   * highest modify index of any key under it, tombstones included (so a delete moves it), and at
   * least the reap floor (so reaping the tombstone of its last write does not move it back); 1
   * when no key under it was ever written and nothing was reaped.
   */
  Versioned<List<Listed<V>>> list(String prefix) {
    return consistentScan(() -> {
      List<Listed<V>> items = new ArrayList<>();
      long max = absentIndex();
      for (Map.Entry<String, Entry<V>> e : entries.tailMap(prefix, true).entrySet()) {
        if (!e.getKey().startsWith(prefix)) {
          break;
        }
        Entry<V> entry = e.getValue();
        max = Math.max(max, entry.modifyIndex());
        V value = entry.value();
        if (value != null) {
          items.add(new Listed<>(e.getKey(), value, entry.createIndex(), entry.modifyIndex()));
        }
        scanned();
      }
      return new Versioned<>(List.copyOf(items), max);
    });
  }

  /**
   * Returns the prefix's index as {@link #list} computes it, without building the list.
   */
  long prefixIndex(String prefix) {
    return consistentScan(() -> scanPrefixIndex(prefix));
  }

  /** Scans for the prefix's index; consistent only if validated (see {@link #consistentScan}). */
  private long scanPrefixIndex(String prefix) {
    long max = absentIndex();
    for (Map.Entry<String, Entry<V>> e : entries.tailMap(prefix, true).entrySet()) {
      if (!e.getKey().startsWith(prefix)) {
        break;
      }
      max = Math.max(max, e.getValue().modifyIndex());
      scanned();
    }
    return max;
  }

  /**
   * Runs {@code scan} without the lock until it ran with no write in between (the write sequence
   * even and unchanged), at most {@link #OPTIMISTIC_SCANS} times, then under the lock.
   */
  private <T> T consistentScan(Supplier<T> scan) {
    for (int attempt = 0; attempt < OPTIMISTIC_SCANS; attempt++) {
      long before = writeSequence.get();
      if ((before & 1L) != 0L) {
        Thread.onSpinWait(); // a write is under way
        continue;
      }
      T result = scan.get();
      if (writeSequence.get() == before) {
        return result;
      }
    }
    lock.lock();
    try {
      return scan.get();
    } finally {
      lock.unlock();
    }
  }

  /** Sets the test hook run after each entry a prefix scan visits. */
  void scanHook(@Nullable Runnable hook) {
    this.scanHook = hook;
  }

  private void scanned() {
    Runnable hook = scanHook;
    if (hook != null) {
      hook.run();
    }
  }

  /**
   * Returns a future completed with the prefix's new index (see {@link #list}) once it differs
   * from {@code minIndex}: at once if it differs now, else at the next write of a key under the
   * prefix (or a wipe). Cancel it to stop waiting.
   */
  CompletableFuture<Long> whenPrefixChanged(String prefix, long minIndex) {
    reads.incrementAndGet();
    for (int attempt = 0; attempt < OPTIMISTIC_SCANS; attempt++) {
      long before = writeSequence.get();
      if ((before & 1L) != 0L) {
        Thread.onSpinWait(); // a write is under way
        continue;
      }
      long now = scanPrefixIndex(prefix);
      if (writeSequence.get() != before) {
        continue;
      }
      if (now != minIndex) {
        return CompletableFuture.completedFuture(now);
      }
      lock.lock();
      try {
        if (writeSequence.get() == before) { // no write since the scan: the next one wakes it
          return addPrefixWaiter(prefix);
        }
      } finally {
        lock.unlock();
      }
    }
    lock.lock();
    try {
      long now = scanPrefixIndex(prefix);
      return now != minIndex ? CompletableFuture.completedFuture(now) : addPrefixWaiter(prefix);
    } finally {
      lock.unlock();
    }
  }

  /**
   * Returns a key's entry (empty if absent) with its index, read at once under one lock so the
   * create and modify indexes belong to the same write.
   */
  Versioned<Optional<Listed<V>>> lookup(String key) {
    lock.lock();
    try {
      Entry<V> entry = entries.get(key);
      if (entry == null) {
        return new Versioned<>(Optional.empty(), absentIndex());
      }
      V value = entry.value();
      return new Versioned<>(value == null ? Optional.empty()
          : Optional.of(new Listed<>(key, value, entry.createIndex(), entry.modifyIndex())),
          entry.modifyIndex());
    } finally {
      lock.unlock();
    }
  }

  /** One present key under a listed prefix. */
  record Listed<V>(String key, V value, long createIndex, long modifyIndex) {}

  /** A pending prefix wait; cancelling it removes it from the store. */
  private final class PrefixWaiter extends CompletableFuture<Long> {
    private final String prefix;

    PrefixWaiter(String prefix) {
      this.prefix = prefix;
    }

    @Override
    public boolean cancel(boolean mayInterruptIfRunning) {
      boolean cancelled = super.cancel(mayInterruptIfRunning);
      if (cancelled) {
        lock.lock();
        try {
          List<PrefixWaiter> list = prefixWaiters.get(prefix);
          if (list != null && list.remove(this) && list.isEmpty()) {
            removePrefix(prefix);
          }
        } finally {
          lock.unlock();
        }
      }
      return cancelled;
    }
  }

  /**
   * Returns the key's value once its index differs from {@code minIndex}, or its current value
   * after {@code maxWait}.
   *
   * @param key the key, not empty
   * @param minIndex the index the caller has; zero answers at once
   * @param maxWait how long to block at most, zero or more
   * @return the value (empty if absent) and the key's index
   * @throws NullPointerException if {@code key} or {@code maxWait} is null
   * @throws IllegalArgumentException if {@code key} is empty, {@code minIndex} or {@code maxWait}
   *     negative
   * @throws InterruptedException if interrupted while waiting
   */
  @Override
  public Versioned<Optional<V>> fetch(String key, long minIndex, Duration maxWait)
      throws InterruptedException {
    Require.nonNegative(maxWait, "maxWait");
    CompletableFuture<Versioned<Optional<V>>> future = whenChanged(key, minIndex);
    try {
      return future.get(dev.shepherd.core.internal.Durations.toNanosSaturated(maxWait),
          TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      future.cancel(false);
      return get(key);
    } catch (InterruptedException e) {
      future.cancel(false);
      throw e;
    } catch (ExecutionException e) {
      throw new IllegalStateException("unreachable: store futures never fail", e);
    }
  }

  /** Under lock. */
  @GuardedBy("lock")
  private Versioned<Optional<V>> current(String key) {
    Entry<V> entry = entries.get(key);
    if (entry == null) {
      return new Versioned<>(Optional.empty(), absentIndex());
    }
    return new Versioned<>(Optional.ofNullable(entry.value()), entry.modifyIndex());
  }

  private static <V> void complete(@Nullable List<Waiter<V>> woken, Versioned<Optional<V>> answer) {
    if (woken != null) {
      for (Waiter<V> waiter : woken) {
        waiter.complete(answer);
      }
    }
  }

  private void removeWaiter(Waiter<V> waiter) {
    lock.lock();
    try {
      List<Waiter<V>> list = waiters.get(waiter.key);
      if (list != null && list.remove(waiter) && list.isEmpty()) {
        waiters.remove(waiter.key);
      }
    } finally {
      lock.unlock();
    }
  }

  @Override
  public String toString() {
    return "InMemoryVersionedStore[index=" + index() + "]";
  }

  /**
   * Returns how many keys the store holds, tombstones included: what reaping bounds. For tests.
   */
  int entryCount() {
    lock.lock();
    try {
      return entries.size();
    } finally {
      lock.unlock();
    }
  }

  private record Entry<V>(@Nullable V value, long modifyIndex, long createIndex) {}

  /** A delete of {@code key} at {@code index}, made at ticker reading {@code diedAtNanos}. */
  private record Tombstone(String key, long index, long diedAtNanos) {}

  /**
   * Builder of {@link InMemoryVersionedStore}; not thread-safe.
   *
   * @param <V> the type of values
   */
  public static final class Builder<V> {
    private Duration tombstoneTtl = DEFAULT_TOMBSTONE_TTL;
    private int maxTombstones = DEFAULT_MAX_TOMBSTONES;
    private Ticker ticker = Ticker.system();

    private Builder() {}

    /**
     * Sets how long a deleted key keeps its tombstone (its delete index) at least, unless there
     * are more than {@link #maxTombstones} (default 15 minutes, Consul's {@code TombstoneTTL}).
     * While it lives, the key answers its delete index; afterwards the reap floor, which is never
     * lower (see the class comment).
     *
     * @param ttl zero or more; zero reaps tombstones at the next writes
     * @return this builder
     * @throws NullPointerException if {@code ttl} is null
     * @throws IllegalArgumentException if it is negative
     */
    public Builder<V> tombstoneTtl(Duration ttl) {
      this.tombstoneTtl = Require.nonNegative(ttl, "tombstoneTtl");
      return this;
    }

    /**
     * Sets how many tombstones the store keeps at most, whatever their age (default 10,000);
     * bounds the memory a stream of unique keys written and deleted can take.
     *
     * @param max zero or more; zero reaps each tombstone in the write that made it
     * @return this builder
     * @throws IllegalArgumentException if it is negative
     */
    public Builder<V> maxTombstones(int max) {
      this.maxTombstones = Require.atLeast(max, 0, "maxTombstones");
      return this;
    }

    /**
     * Sets the time source of tombstone ages (default {@link Ticker#system()}); the test seam.
     *
     * @param ticker the ticker
     * @return this builder
     * @throws NullPointerException if {@code ticker} is null
     */
    public Builder<V> ticker(Ticker ticker) {
      this.ticker = Require.nonNull(ticker, "ticker");
      return this;
    }

    /**
     * Builds an empty store, at index 1.
     *
     * @return a new store
     */
    public InMemoryVersionedStore<V> build() {
      return new InMemoryVersionedStore<>(this);
    }
  }

  /** A pending blocking read; cancelling it removes it from the store. */
  private static final class Waiter<V> extends CompletableFuture<Versioned<Optional<V>>> {
    private final String key;
    private final InMemoryVersionedStore<V> store;

    Waiter(String key, InMemoryVersionedStore<V> store) {
      this.key = key;
      this.store = store;
    }

    @Override
    public boolean cancel(boolean mayInterruptIfRunning) {
      boolean cancelled = super.cancel(mayInterruptIfRunning);
      if (cancelled) {
        store.removeWaiter(this);
      }
      return cancelled;
    }
  }
}
