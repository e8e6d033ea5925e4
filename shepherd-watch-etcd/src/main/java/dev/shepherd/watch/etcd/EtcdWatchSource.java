package dev.shepherd.watch.etcd;

import dev.shepherd.core.Backoff;
import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.Require;
import dev.shepherd.core.Ticker;
import dev.shepherd.watch.Versioned;
import dev.shepherd.watch.WatchLimitExceededException;
import dev.shepherd.watch.WatchSource;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KV;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.kv.GetResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Iterator;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * A {@link WatchSource} over etcd through jetcd that keeps exactly one etcd watch per key, however
 * many watch loops, {@code Watcher}s or threads fetch that key.
 *
 * <p>Normally a {@link dev.shepherd.watch.Watcher} calls {@code fetch} (see the module README); a
 * direct use looks like this:
 *
 * <pre>{@code
 * try (Client client = Client.builder().endpoints(endpoint).build();
 *     EtcdWatchSource<String> source = EtcdWatchSource.builder(client).build()) {
 *   Versioned<Optional<String>> first = source.fetch("config/flag", 0, Duration.ofSeconds(5));
 *   // blocks until the key changes, or 5 s passed
 *   Versioned<Optional<String>> next = source.fetch("config/flag", first.index(), Duration.ofSeconds(5));
 * }
 * }</pre>
 *
 * <h2>What a fetch returns</h2>
 *
 * <ul>
 *   <li>The value is {@code Optional.of(decoded bytes)} while the key exists and
 *       {@code Optional.empty()} when it does not: a deletion is delivered as an absent value.
 *   <li>The index is the key's <em>mod revision</em>: the etcd revision of the put or delete that
 *       produced the value. A key that is absent when first read gets the read's header revision;
 *       re-reading a key that is still absent keeps the index it had, so it is not delivered again.
 *   <li>{@code fetch(key, 0, wait)} reads the key and answers at once; {@code fetch(key, i, wait)}
 *       answers as soon as the index differs from {@code i}, or after {@code wait} with the same
 *       value and index. An {@code i} above the key's index (the caller wrote at revision
 *       {@code i}, and the watch has not shown it yet) first reads the key from etcd, so the
 *       answer is at least as new as revision {@code i}. It throws {@link EtcdUnavailableException} while the key's watch is
 *       failing and nothing newer is known.
 * </ul>
 *
 * <h2>How the watch follows etcd</h2>
 *
 * <ul>
 *   <li>The first fetch of a key reads it (a Get) and opens a jetcd watch from the read's header
 *       revision + 1, so no change between the read and the watch is lost. Later fetches of the key
 *       wait on that watch; only one whose index is above the key's reads etcd itself. A fetch
 *       that does not wait, of a key nobody watches, reads it once and opens no watch; at most
 *       {@linkplain Builder#maxWatchedKeys(int) maxWatchedKeys} keys are watched at once.
 *   <li>After a disconnect (etcd restarted, network error) the watch is reopened, with
 *       {@linkplain Builder#reconnectBackoff(Backoff) backoff}, from the revision after the last
 *       event seen: no change is skipped and none is delivered twice (events are de-duplicated by
 *       mod revision).
 *   <li>When etcd has compacted that revision, the key is read again and the watch goes on from the
 *       new read: the current value is delivered, the versions in between are gone.
 *   <li>When etcd's revision went backwards (its data was wiped or an older snapshot restored),
 *       the key is read again and its index goes backwards with it; the watch loop then delivers
 *       the value from scratch. A reset is recognised when a read (linearizable, so at least as
 *       new as anything the cluster had committed) answers with a header revision below the
 *       newest one already seen for the key; a store wiped and then written past that revision
 *       before this source reconnects cannot be told apart from a restart.
 *   <li>A watch confirmed by a cluster member that lags behind the others (its revision below
 *       one a read on another member showed) is no reset: a read checks it, the watch stays and
 *       delivers the member's events once it has caught up. Apart from a reset, the index
 *       delivered for a key never goes back, whichever member answered.
 *   <li>While a key's watch is failing, a fetch with nothing newer throws
 *       {@link EtcdUnavailableException}; a watch loop (a thread) told so is answered at once,
 *       with the current value, as soon as the watch is healthy again, so it records a success
 *       without waiting for a change or for {@code maxWait}.
 *   <li>A key's watch is closed by {@link #release(String)} (the {@code Watcher} calls it when the
 *       last subscription of the key closes), and also when no fetch of the key has run for the
 *       {@linkplain Builder#idleTimeout(Duration) idle timeout}.
 * </ul>
 *
 * <p>Thread-safe. All work is asynchronous: fetching threads only wait; jetcd's callbacks update
 * the state and wake them; retries and other background work run on the
 * {@linkplain Builder#executor(Executor) executor} (a virtual thread per task by default). The source does not own
 * the jetcd {@link Client}: {@link #close()} closes every watch it opened, not the client.
 *
 * @param <V> the type of decoded values
 */
public final class EtcdWatchSource<V> implements WatchSource<Optional<V>>, AutoCloseable {

  /*
   * The bound on watched keys: every key in the map holds one of maxWatchedKeys slots, taken
   * before the key is added and given back when it leaves, so the map never holds more, even for
   * an instant. A new key past the bound first evicts a key with no fetch in progress (found
   * through idleKeys, a hint kept beside the map: a key leaves it when a fetch enters and joins it
   * when the last fetch exits; eviction itself checks idleness under the key's lock); only when
   * every watched key is in use is the fetch refused with WatchLimitExceededException. A fetch
   * that does not wait (maxWait zero) of a key nobody watches reads it once and opens no watch:
   * plain reads of many distinct keys (an HTTP GET without ?index) cost etcd reads, never watches.
   *
   * Idle eviction: at most one delayed check per key is pending (EtcdKeyWatch.exit), so a high
   * fetch rate does not pile up timers; a check that finds the key busy leaves the next one to the
   * fetch that ends last, one that finds it idle but not for long enough re-arms itself.
   *
   * Why one jetcd watcher per key rather than per fetch: jetcd opens one gRPC stream and one etcd
   * watcher per Watch.watch call, so a thousand subscribers watching directly cost a thousand
   * watchers on the server. Here a fetch only waits on the key's shared state (EtcdKeyWatch).
   *
   * Why the source reconnects itself instead of letting jetcd resume: jetcd retries every 500 ms
   * without backoff from its own idea of the revision (which it advances to the creation header,
   * so a stream cut before its backlog arrived skips events), and after a wipe it resumes from a
   * revision the new store reaches only much later, silently missing every write until then. The
   * source closes a failed jetcd watcher and reopens from the revision after the last event it saw,
   * asking for the creation notice: a header revision below the one seen means a reset or a
   * member that lags, and a linearizable read tells which (EtcdKeyWatch's class comment).
   */

  private final Function<? super ByteSequence, ? extends V> decoder;
  private final KV kv;
  private final Watch watch;
  private final Config config;
  private final Backoff reconnectBackoff;
  private final Duration requestTimeout;
  private final Duration idleTimeout;
  private final Ticker ticker;
  private final ConcurrentHashMap<String, EtcdKeyWatch> keys = new ConcurrentHashMap<>();
  /** Entries of {@link #keys}, one per key: taken before a key is added, given back when removed. */
  private final AtomicInteger slots = new AtomicInteger();
  /** Watched keys with no fetch in progress (a hint: eviction checks under the key's lock). */
  private final Set<EtcdKeyWatch> idleKeys = ConcurrentHashMap.newKeySet();
  private final int maxWatchedKeys;
  private final WatchCounts counter = new WatchCounts();
  private final Reconnector reconnector;
  private final Executor executor;
  private volatile boolean closed;

  private EtcdWatchSource(Builder<V> builder) {
    this.decoder = builder.decoder;
    this.kv = builder.kv != null ? builder.kv : builder.client.getKVClient();
    this.watch = builder.watch != null ? builder.watch : builder.client.getWatchClient();
    this.config = new Config(builder.reconnectBackoff, builder.reconnectProbe,
        builder.requestTimeout, builder.idleTimeout, builder.ticker, builder.maxWatchedKeys,
        builder.executor != null ? builder.executor : Builder.VIRTUAL_THREADS);
    this.maxWatchedKeys = config.maxWatchedKeys();
    this.executor = config.executor();
    this.reconnectBackoff = config.reconnectBackoff();
    this.requestTimeout = config.requestTimeout();
    this.idleTimeout = config.idleTimeout();
    this.ticker = config.ticker();
    this.reconnector = new Reconnector(
        builder.reconnect != null ? builder.reconnect : ChannelReconnect.of(builder.client),
        Durations.toNanosSaturated(config.reconnectProbe()), executor);
  }

  /**
   * Returns a builder of a source over {@code client} whose values are the keys' bytes decoded as
   * UTF-8; change the type with {@link Builder#decoder(Function)}.
   *
   * @param client the jetcd client; the source uses its KV and Watch clients and does not close it
   * @return a new builder
   * @throws NullPointerException if {@code client} is null
   */
  public static Builder<String> builder(Client client) {
    Require.nonNull(client, "client");
    return new Builder<>(client, bytes -> bytes.toString(StandardCharsets.UTF_8));
  }

  /**
   * Returns the value of {@code key} once its index (mod revision) differs from {@code minIndex},
   * or after {@code maxWait} with the current one.
   *
   * <p>The first fetch of a key starts its etcd watch and waits for the initial read whatever
   * {@code maxWait} says (the read is bounded by the request timeout). A fetch with {@code maxWait}
   * zero of a key that is not watched reads it once and opens no watch.
   *
   * @param key the etcd key, as UTF-8
   * @param minIndex the index the caller has; zero answers at once with the current value; one
   *     above the key's index reads the key from etcd before answering
   * @param maxWait the longest wait when nothing changes; zero answers at once
   * @return the value ({@code Optional.empty()} when the key is absent) and its mod revision
   * @throws NullPointerException if {@code key} or {@code maxWait} is null, or the decoder returned
   *     null
   * @throws IllegalArgumentException if {@code key} is empty, {@code minIndex} or {@code maxWait}
   *     negative
   * @throws IllegalStateException if the source is closed
   * @throws EtcdUnavailableException if the key's watch is failing and nothing newer is known,
   *     or a read of a key that is not watched failed or timed out
   * @throws WatchLimitExceededException if the key is not watched, the source already watches
   *     {@linkplain Builder#maxWatchedKeys(int) its maximum of keys} and each has a fetch in
   *     progress
   * @throws InterruptedException if the calling thread is interrupted while waiting
   */
  @Override
  public Versioned<Optional<V>> fetch(String key, long minIndex, Duration maxWait)
      throws InterruptedException {
    Require.notEmpty(key, "key");
    Require.atLeast(minIndex, 0L, "minIndex");
    long waitNanos = Durations.toNanosSaturated(Require.nonNegative(maxWait, "maxWait"));
    Require.state(!closed, "the EtcdWatchSource is closed");
    if (waitNanos == 0 && !keys.containsKey(key)) {
      return readOnce(key);
    }
    EtcdKeyWatch entry = acquire(key);
    try {
      return decode(key, entry.await(minIndex, waitNanos));
    } finally {
      if (entry.exit()) {
        scheduleIdleCheck(key, entry);
      }
      if (entry.isIdle(0)) {
        idleKeys.add(entry);
      }
    }
  }

  private Versioned<Optional<V>> decode(String key, EtcdKeyWatch.Snapshot snapshot) {
    ByteSequence bytes = snapshot.value();
    Optional<V> value = bytes == null
        ? Optional.empty()
        : Optional.of(Require.nonNull(decoder.apply(bytes), "the decoded value of key '" + key + "'"));
    return Versioned.of(value, snapshot.revision());
  }

  /**
   * Reads a key nobody watches once, without opening a watch: its mod revision, or the read's
   * header revision when absent (as a first read of a watch would answer). The read is bounded
   * by the request timeout and cancelled when it times out or the thread is interrupted.
   */
  private Versioned<Optional<V>> readOnce(String key) throws InterruptedException {
    CompletableFuture<GetResponse> get = kv.get(ByteSequence.from(key, StandardCharsets.UTF_8));
    try {
      GetResponse response = get.get(Durations.toNanosSaturated(requestTimeout), TimeUnit.NANOSECONDS);
      EtcdKeyWatch.Snapshot read = response.getKvs().isEmpty()
          ? new EtcdKeyWatch.Snapshot(null, response.getHeader().getRevision())
          : new EtcdKeyWatch.Snapshot(response.getKvs().get(0).getValue(),
              response.getKvs().get(0).getModRevision());
      return decode(key, read);
    } catch (TimeoutException e) {
      throw new EtcdUnavailableException(key, "etcd did not answer a read of key '" + key
          + "' within " + requestTimeout, e);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      throw new EtcdUnavailableException(key, "a read of key '" + key + "' failed: " + cause, cause);
    } finally {
      get.cancel(true); // nothing when it completed; else the call is abandoned
    }
  }

  /**
   * Closes the etcd watch of {@code key} unless a fetch of it is in progress; a later fetch opens
   * it again with a fresh read. Does nothing for a key that is not watched.
   *
   * @param key the key
   * @throws NullPointerException if {@code key} is null
   */
  @Override
  public void release(String key) {
    Require.nonNull(key, "key");
    var unusedEvicted = evictIf(key, null, 0);
  }

  /**
   * Returns {@code true}: this source keeps one etcd watch per key and serves every concurrent
   * fetch of the key from it.
   *
   * @return true
   */
  @Override
  public boolean multiplexesPerKey() {
    return true;
  }

  /**
   * Returns this source's settings, as built.
   *
   * @return the immutable configuration
   */
  public Config config() {
    return config;
  }

  /**
   * The immutable settings of an {@link EtcdWatchSource}, produced by {@link Builder#build()} and
   * read through {@link EtcdWatchSource#config()}; the builder's javadoc explains each one. The
   * builder checks each setting when it is set, naming it in the error, so the record does not
   * check them again.
   *
   * @param reconnectBackoff the wait before reopening a failed watch
   * @param reconnectProbe how often jetcd's channel is asked to reconnect while a watch fails
   * @param requestTimeout the bound on one read of a key
   * @param idleTimeout how long a key's watch stays open with no fetch
   * @param ticker the time source
   * @param maxWatchedKeys the most keys watched at once
   * @param executor what runs reconnections, retries, idle checks and closes
   */
  public record Config(Backoff reconnectBackoff, Duration reconnectProbe, Duration requestTimeout,
      Duration idleTimeout, Ticker ticker, int maxWatchedKeys, Executor executor) {

    /**
     * The settings with the defaults of the later options: at most
     * {@value Builder#DEFAULT_MAX_WATCHED_KEYS} watched keys, background work on a virtual thread
     * per task.
     *
     * @param reconnectBackoff the wait before reopening a failed watch
     * @param reconnectProbe how often jetcd's channel is asked to reconnect while a watch fails
     * @param requestTimeout the bound on one read of a key
     * @param idleTimeout how long a key's watch stays open with no fetch
     * @param ticker the time source
     */
    public Config(Backoff reconnectBackoff, Duration reconnectProbe, Duration requestTimeout,
        Duration idleTimeout, Ticker ticker) {
      this(reconnectBackoff, reconnectProbe, requestTimeout, idleTimeout, ticker,
          Builder.DEFAULT_MAX_WATCHED_KEYS, Builder.VIRTUAL_THREADS);
    }
  }

  /**
   * Returns the number of jetcd watchers (etcd watches) open now, one per watched key once each
   * key's watch is established; a key being read or backing off after a failure has none.
   *
   * @return the open etcd watches
   */
  public int openEtcdWatches() {
    return counter.open();
  }

  /**
   * Returns how many etcd watches this source has opened since it was built, including reopenings
   * after disconnects, compactions and resets.
   *
   * @return the watches opened
   */
  public long etcdWatchesOpened() {
    return counter.openedSinceStart();
  }

  /**
   * Returns the number of keys with a watch (open, connecting or backing off).
   *
   * @return the watched keys
   */
  public int watchedKeys() {
    return keys.size();
  }

  /**
   * Closes every etcd watch of this source; fetches in progress and later ones throw
   * {@link IllegalStateException}. Idempotent. The jetcd client stays open.
   */
  @Override
  public void close() {
    closed = true;
    reconnector.close();
    for (String key : keys.keySet()) {
      EtcdKeyWatch removed = keys.remove(key);
      if (removed != null) {
        slots.decrementAndGet();
        idleKeys.remove(removed);
        removed.close();
      }
    }
  }

  @Override
  public String toString() {
    return "EtcdWatchSource{keys=" + keys.size() + ", openEtcdWatches=" + counter.open()
        + ", failingWatches=" + reconnector.failingWatches() + ", closed=" + closed + "}";
  }

  /** Returns the key's watch (for tests). */
  @Nullable EtcdKeyWatch keyWatch(String key) {
    return keys.get(key);
  }

  private EtcdKeyWatch acquire(String key) {
    Require.state(!closed, "the EtcdWatchSource is closed");
    EtcdKeyWatch entry = keys.computeIfPresent(key, (k, existing) -> {
      existing.enter();
      return existing;
    });
    if (entry == null) {
      takeSlot(key);
      boolean[] created = new boolean[1];
      entry = keys.compute(key, (k, existing) -> {
        EtcdKeyWatch watch = existing;
        if (watch == null) {
          watch = newKeyWatch(k);
          created[0] = true;
        }
        watch.enter();
        return watch;
      });
      if (!created[0]) {
        slots.decrementAndGet(); // another fetch added the key meanwhile
      }
    }
    idleKeys.remove(entry);
    if (closed) {
      // close() may have swept the map before we inserted: close what we added ourselves
      if (keys.remove(key, entry)) {
        slots.decrementAndGet();
      }
      entry.close();
      entry.exit();
      throw new IllegalStateException("the EtcdWatchSource is closed");
    }
    entry.start();
    return entry;
  }

  /**
   * Takes one of the {@code maxWatchedKeys} slots for a new key, evicting a key with no fetch in
   * progress if none is free.
   *
   * @throws WatchLimitExceededException if every watched key has a fetch in progress
   */
  private void takeSlot(String key) {
    while (true) {
      int taken = slots.get();
      if (taken < maxWatchedKeys) {
        if (slots.compareAndSet(taken, taken + 1)) {
          return;
        }
      } else if (!evictOneIdle()) {
        throw new WatchLimitExceededException(key, maxWatchedKeys);
      }
    }
  }

  /** Evicts one watched key with no fetch in progress; false if there is none. */
  private boolean evictOneIdle() {
    for (Iterator<EtcdKeyWatch> it = idleKeys.iterator(); it.hasNext(); ) {
      EtcdKeyWatch candidate = it.next();
      if (evictIf(candidate.name(), candidate, 0)) {
        return true;
      }
      if (keys.get(candidate.name()) != candidate) {
        it.remove(); // evicted or closed by another path (a weakly consistent iterator)
      }
    }
    return false;
  }

  private EtcdKeyWatch newKeyWatch(String key) {
    return new EtcdKeyWatch(key, ByteSequence.from(key, StandardCharsets.UTF_8), kv, watch,
        reconnectBackoff, requestTimeout, ticker, counter, reconnector, executor);
  }

  private void scheduleIdleCheck(String key, EtcdKeyWatch entry) {
    scheduleIdleCheck(key, entry, Durations.toNanosSaturated(idleTimeout));
  }

  private void scheduleIdleCheck(String key, EtcdKeyWatch entry, long delayNanos) {
    long idleNanos = Durations.toNanosSaturated(idleTimeout);
    CompletableFuture.delayedExecutor(delayNanos, TimeUnit.NANOSECONDS, executor).execute(() -> {
      var unusedEvicted = evictIf(key, entry, idleNanos);
      long again = entry.nextIdleCheck(idleNanos);
      if (again > 0) {
        scheduleIdleCheck(key, entry, again);
      }
    });
  }

  /** Removes and closes the key's watch if it is {@code expected} (null: any) and idle. */
  private boolean evictIf(String key, @Nullable EtcdKeyWatch expected, long idleNanos) {
    EtcdKeyWatch[] evicted = new EtcdKeyWatch[1];
    keys.computeIfPresent(key, (k, existing) -> {
      if ((expected == null || existing == expected) && existing.isIdle(idleNanos)) {
        evicted[0] = existing;
        return null;
      }
      return existing;
    });
    EtcdKeyWatch gone = evicted[0];
    if (gone == null) {
      return false;
    }
    slots.decrementAndGet();
    idleKeys.remove(gone);
    gone.close();
    return true;
  }

  /**
   * Builds an {@link EtcdWatchSource}; obtained from {@link EtcdWatchSource#builder(Client)}. Not
   * thread-safe; {@link #build()} copies the settings, so a builder can be reused.
   *
   * @param <V> the type of decoded values
   */
  public static final class Builder<V> {
    /** The default of {@link #maxWatchedKeys(int)}. */
    static final int DEFAULT_MAX_WATCHED_KEYS = 10_000;

    /** The default of {@link #executor(Executor)}: a new virtual thread per task. */
    static final Executor VIRTUAL_THREADS = new Executor() {
      private final java.util.concurrent.ThreadFactory threads =
          Thread.ofVirtual().name("shepherd-etcd-", 0).factory();

      @Override
      public void execute(Runnable task) {
        threads.newThread(task).start();
      }

      @Override
      public String toString() {
        return "a virtual thread per task";
      }
    };

    private final Client client;
    private final Function<? super ByteSequence, ? extends V> decoder;
    private Backoff reconnectBackoff = Backoff.exponential()
        .initial(Duration.ofMillis(100)).multiplier(2).max(Duration.ofSeconds(1)).jitter(0.2).build();
    private Duration reconnectProbe = Duration.ofMillis(250);
    private @Nullable Runnable reconnect;
    private Duration requestTimeout = Duration.ofSeconds(5);
    private Duration idleTimeout = Duration.ofMinutes(5);
    private int maxWatchedKeys = DEFAULT_MAX_WATCHED_KEYS;
    private @Nullable Executor executor;
    private Ticker ticker = Ticker.system();
    private @Nullable Watch watch;
    private @Nullable KV kv;

    private Builder(Client client, Function<? super ByteSequence, ? extends V> decoder) {
      this.client = client;
      this.decoder = decoder;
    }

    private Builder(Builder<?> from, Function<? super ByteSequence, ? extends V> decoder) {
      this(from.client, decoder);
      this.reconnectBackoff = from.reconnectBackoff;
      this.requestTimeout = from.requestTimeout;
      this.idleTimeout = from.idleTimeout;
      this.ticker = from.ticker;
      this.watch = from.watch;
      this.kv = from.kv;
      this.reconnectProbe = from.reconnectProbe;
      this.reconnect = from.reconnect;
      this.maxWatchedKeys = from.maxWatchedKeys;
      this.executor = from.executor;
    }

    /**
     * Sets how a key's bytes become a value; the default decodes UTF-8 text. The decoder runs on
     * the fetching thread, once per answer; it must not return null.
     *
     * @param decoder the decoder
     * @param <W> the new value type
     * @return a builder of the new value type, with the other settings of this one
     * @throws NullPointerException if {@code decoder} is null
     */
    public <W> Builder<W> decoder(Function<? super ByteSequence, ? extends W> decoder) {
      return new Builder<W>(this, Require.nonNull(decoder, "decoder"));
    }

    /**
     * Sets the wait before reopening a key's watch after consecutive failures; the default is
     * exponential from 100 ms, doubling up to 1 s, plus up to 20 % jitter. Compaction and resets
     * are not failures: they re-read at once.
     *
     * @param backoff the backoff
     * @return this builder
     * @throws NullPointerException if {@code backoff} is null
     */
    public Builder<V> reconnectBackoff(Backoff backoff) {
      this.reconnectBackoff = Require.nonNull(backoff, "backoff");
      return this;
    }

    /**
     * Sets how often, while any key's watch is failing, the source asks jetcd's gRPC channel to
     * try connecting again (default 250 ms). gRPC alone retries on a backoff that grows to
     * 2 minutes, so after a long outage it would notice etcd's return 10 to 20 s late; with the
     * probe, watches resume within about this interval of etcd answering again. A probe against
     * a server still down costs one refused connection attempt.
     *
     * @param interval a positive duration
     * @return this builder
     * @throws NullPointerException if {@code interval} is null
     * @throws IllegalArgumentException if it is zero or negative
     */
    public Builder<V> reconnectProbe(Duration interval) {
      this.reconnectProbe = Require.positive(interval, "reconnectProbe");
      return this;
    }

    /** Replaces the reconnect task (tests: a counting or no-op probe). */
    Builder<V> reconnect(Runnable reconnect) {
      this.reconnect = Require.nonNull(reconnect, "reconnect");
      return this;
    }

    /**
     * Sets the timeout of a read (Get) of a key, and of etcd's confirmation that a new watch was
     * created; a read or a confirmation that takes longer is a failure (the watch is then closed
     * and opened again after the backoff). Default 5 s.
     *
     * @param timeout the timeout, positive
     * @return this builder
     * @throws NullPointerException if {@code timeout} is null
     * @throws IllegalArgumentException if {@code timeout} is zero or negative
     */
    public Builder<V> requestTimeout(Duration timeout) {
      this.requestTimeout = Require.positive(timeout, "requestTimeout");
      return this;
    }

    /**
     * Sets how long a key's watch stays open with no fetch of it in progress before it is closed;
     * default 5 minutes. The watch loop keeps a fetch in progress while anyone watches, so this
     * only frees keys whose callers stopped without {@link EtcdWatchSource#release(String)}.
     *
     * @param timeout the idle timeout, positive
     * @return this builder
     * @throws NullPointerException if {@code timeout} is null
     * @throws IllegalArgumentException if {@code timeout} is zero or negative
     */
    public Builder<V> idleTimeout(Duration timeout) {
      this.idleTimeout = Require.positive(timeout, "idleTimeout");
      return this;
    }

    /**
     * Sets the most keys watched at once (default 10,000): each is one etcd watch (a jetcd watcher
     * and its gRPC stream). A fetch of one key more first closes the watch of a key with no fetch
     * in progress; when every watched key has a fetch in progress it throws
     * {@link WatchLimitExceededException} (which {@code BlockingQueryServlet} answers 429). The
     * bound keeps callers that name many distinct keys (an HTTP endpoint in front of the source)
     * from opening an unbounded number of etcd watches. A fetch that does not wait, of a key
     * nobody watches, reads it once and counts against nothing.
     *
     * @param max at least 1
     * @return this builder
     * @throws IllegalArgumentException if {@code max} is below 1
     */
    public Builder<V> maxWatchedKeys(int max) {
      this.maxWatchedKeys = Require.atLeast(max, 1, "maxWatchedKeys");
      return this;
    }

    /**
     * Sets what runs the source's background work: reopening watches after their backoff, the
     * reconnect probe, watch-creation deadlines, idle checks and closing abandoned jetcd watchers.
     * Each task is short and calls jetcd, which may block briefly on its own lock. Default: a new
     * virtual thread per task; never the common fork-join pool, which blocking application code
     * can starve, so that etcd's return would go unnoticed. (The timers only wait: they hand each
     * task to this executor when it is due.)
     *
     * @param executor the executor
     * @return this builder
     * @throws NullPointerException if {@code executor} is null
     */
    public Builder<V> executor(Executor executor) {
      this.executor = Require.nonNull(executor, "executor");
      return this;
    }

    /**
     * Sets the ticker that measures idle time and how long a watch has been failing; the test
     * seam for time. Default {@link Ticker#system()}.
     *
     * @param ticker the ticker
     * @return this builder
     * @throws NullPointerException if {@code ticker} is null
     */
    public Builder<V> ticker(Ticker ticker) {
      this.ticker = Require.nonNull(ticker, "ticker");
      return this;
    }

    /** Replaces the client's KV (tests count reads through a wrapper). */
    Builder<V> kvClient(KV kv) {
      this.kv = Require.nonNull(kv, "kv");
      return this;
    }

    /** Replaces the client's Watch (tests count watch calls through a wrapper). */
    Builder<V> watchClient(Watch watch) {
      this.watch = Require.nonNull(watch, "watch");
      return this;
    }

    /**
     * Builds the source. No etcd request is made until the first fetch.
     *
     * @return a new source
     */
    public EtcdWatchSource<V> build() {
      return new EtcdWatchSource<>(this);
    }
  }
}
