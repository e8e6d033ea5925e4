package dev.shepherd.watch;

import dev.shepherd.core.Backoff;
import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.Require;
import dev.shepherd.core.Ticker;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ThreadFactory;

/**
 * The watch hub: follows keys of a {@link WatchSource} with blocking queries and delivers every
 * change to the subscribers of each key, with one upstream loop per key however many subscribe.
 *
 * <pre>{@code
 * InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
 * store.put("feature/checkout", "on");
 * BlockingQueue<WatchEvent<Optional<String>>> events = new LinkedBlockingQueue<>();
 * try (Watcher<Optional<String>> watcher = Watcher.builder(store).build();
 *     Subscription<Optional<String>> sub = watcher.watch("feature/checkout", "checkout", events::add)) {
 *   events.take();                          // Update(value=Optional[on]): the current value
 *   store.put("feature/checkout", "off");
 *   events.take();                          // Update(value=Optional[off])
 * }
 * }</pre>
 *
 * <h2>The loop (after the {@code Notify} loop of Consul's agent cache)</h2>
 *
 * For each watched key one loop calls {@code fetch(key, index, maxWait)}: the first time with
 * index 0, which answers the current value at once; the value is delivered only when the returned
 * index is greater than the last one, and after a success the index is kept at least 1 so every
 * later call blocks. An index that went backwards (the upstream was reset) restarts from 0 and
 * delivers. An exception, or an answer with index 0, is a failure: failures back off with
 * {@link Backoff#consul()} by default (no wait for the first three, then 1, 2, 4 ... s capped at
 * 60 s plus up to 100 % random stagger); a success resets the count.
 *
 * <h2>What the hub adds</h2>
 *
 * <ul>
 *   <li>Pacing: a fetch that brought no new index (the same index, an index that went
 *       backwards, a failure) is followed no sooner than {@code minFetchInterval} (default
 *       50 ms) after it started, so an upstream that answers at once without progress (it
 *       ignores the index, cannot block, keeps resetting, fails at once) is not called in a hot
 *       loop. A fetch that brought a new index is followed at once, so a burst of real changes
 *       is delivered as fast as without pacing, and so is a change after a quiet period.
 *   <li>Order after an outage: the fetch that succeeds first records the success before it
 *       publishes, so sinks receive {@link WatchEvent.Recovered} before that fetch's
 *       {@link WatchEvent.Update}, whose staleness is measured from that fetch.
 *   <li>One loop per key: it starts with the key's first subscription and stops when the last one
 *       closes, cancelling a blocking fetch or a backoff wait promptly (by interrupting the loop's
 *       thread). A subscription to a key that is already watched receives the latest value at
 *       once, without an upstream query.
 *   <li>A bounded buffer per subscription ({@link BufferPolicy}, default: only the newest update)
 *       drained on its own task, so a slow or blocked sink never slows the loop or others; an
 *       update says how many it replaced.
 *   <li>Staleness: every event carries the time since the last successful fetch; a subscription
 *       exposes the last error and failure count, and the sink receives
 *       {@link WatchEvent.Failing} once the upstream has failed for longer than
 *       {@code failingThreshold}, then {@link WatchEvent.Recovered}.
 *   <li>Many subscriptions, on different keys, may share one sink; events carry the correlation id.
 *       A sink that throws is logged (through {@code System.Logger}) and skipped.
 * </ul>
 *
 * <p>Defaults: {@code maxWait} 5 minutes (Consul's default wait), {@code recoveryWait} 1 second
 * (the wait of fetches after a failure), {@code minFetchInterval} 50 ms, backoff
 * {@link Backoff#consul()},
 * {@code failingThreshold} 30 seconds, buffer {@link BufferPolicy#latestOnly()}, loops and
 * deliveries on virtual threads, {@link Ticker#system()}.
 *
 * <p>Thread-safe. {@link #close()} closes every subscription and stops every loop; afterwards
 * {@code watch} throws {@link IllegalStateException}.
 *
 * @param <V> the type of values
 */
public final class Watcher<V> implements AutoCloseable {

  /*
   * Why this shape: the Java Consul clients the users complain about run one thread per cache or
   * one sequential loop for everything and call listeners synchronously, so one slow listener
   * stalls every watch. Here the loop only ever does non-blocking hand-offs (a few field writes
   * under a subscription's monitor and, when the subscription was idle, one executor.execute), so
   * its latency is independent of the sinks. Sinks run on per-subscription drain tasks.
   *
   * The map of loops is only a lookup structure: a loop leaves it itself, under its own lock, when
   * it finds no subscriber at a check point (see KeyLoop), so subscribe and the last close never
   * race on the map.
   */

  /** The default least time between two fetch starts of one key. */
  public static final Duration DEFAULT_MIN_FETCH_INTERVAL = Duration.ofMillis(50);

  private final WatchSource<V> source;
  private final Config config;
  private final ConcurrentHashMap<String, KeyLoop<V>> loops = new ConcurrentHashMap<>();
  private volatile boolean closed;

  private Watcher(Builder<V> builder) {
    this.source = builder.source;
    this.config = new Config(builder.maxWait,
        builder.recoveryWait.compareTo(builder.maxWait) < 0 ? builder.recoveryWait : builder.maxWait,
        builder.backoff, builder.failingThreshold, builder.minFetchInterval, builder.bufferPolicy,
        builder.executor != null ? builder.executor : virtualThreadExecutor(builder.name),
        builder.ticker, builder.name);
  }

  /**
   * Returns a builder of a watcher over {@code source}.
   *
   * @param source the upstream to watch
   * @param <V> the type of values
   * @return a new builder
   * @throws NullPointerException if {@code source} is null
   */
  public static <V> Builder<V> builder(WatchSource<V> source) {
    return new Builder<>(Require.nonNull(source, "source"));
  }

  /**
   * Subscribes {@code sink} to the changes of {@code key}, with the watcher's buffer policy.
   *
   * <p>If the key is already watched, the sink receives its latest value at once without a new
   * upstream query; otherwise a loop starts and the first fetch (index 0) delivers the current
   * value.
   *
   * @param key the key to watch, not empty
   * @param correlationId the id every event of this subscription carries (any string, may repeat)
   * @param sink the receiver of events, possibly shared with other subscriptions
   * @return the subscription; close it to stop
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if {@code key} is empty
   * @throws IllegalStateException if this watcher was closed
   */
  public Subscription<V> watch(String key, String correlationId, WatchSink<V> sink) {
    return watch(key, correlationId, sink, config.bufferPolicy());
  }

  /**
   * Subscribes {@code sink} to the changes of {@code key}, with the given buffer policy.
   *
   * @param key the key to watch, not empty
   * @param correlationId the id every event of this subscription carries
   * @param sink the receiver of events
   * @param bufferPolicy how many undelivered updates this subscription keeps
   * @return the subscription
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if {@code key} is empty
   * @throws IllegalStateException if this watcher was closed
   */
  public Subscription<V> watch(
      String key, String correlationId, WatchSink<V> sink, BufferPolicy bufferPolicy) {
    Require.notEmpty(key, "key");
    Require.nonNull(correlationId, "correlationId");
    Require.nonNull(sink, "sink");
    Require.nonNull(bufferPolicy, "bufferPolicy");
    Require.state(!closed, "watcher was closed");
    WatchSubscription<V> subscription =
        new WatchSubscription<>(correlationId, sink, bufferPolicy.capacity(), config);
    while (true) {
      KeyLoop<V> loop = loops.computeIfAbsent(key, k -> new KeyLoop<>(k, source, config, loops));
      if (loop.subscribe(subscription)) {
        if (closed) { // close() may have missed it
          subscription.close();
          throw new IllegalStateException("watcher was closed");
        }
        return subscription;
      }
      // The loop was terminating and has left the map; take (or make) the next one.
    }
  }

  /**
   * Subscribes {@code sink} to {@code key} with the key as correlation id.
   *
   * @param key the key to watch, not empty
   * @param sink the receiver of events
   * @return the subscription
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if {@code key} is empty
   * @throws IllegalStateException if this watcher was closed
   */
  public Subscription<V> watch(String key, WatchSink<V> sink) {
    return watch(key, Require.notEmpty(key, "key"), sink);
  }

  /**
   * Returns the keys that currently have an upstream loop, sorted.
   *
   * @return a snapshot of the watched keys
   */
  public Set<String> watchedKeys() {
    return new TreeSet<>(loops.keySet());
  }

  /**
   * Returns the number of open subscriptions to {@code key}.
   *
   * @param key the key
   * @return the subscriber count, zero if the key is not watched
   * @throws NullPointerException if {@code key} is null
   */
  public int subscriberCount(String key) {
    KeyLoop<V> loop = loops.get(Require.nonNull(key, "key"));
    return loop == null ? 0 : loop.subscriberCount();
  }

  /**
   * Closes every subscription and stops every loop. Once it returns, no sink receives an event
   * from this watcher. Idempotent.
   */
  @Override
  public void close() {
    closed = true;
    List<KeyLoop<V>> all = new ArrayList<>(loops.values());
    for (KeyLoop<V> loop : all) {
      loop.closeAll();
    }
  }

  /**
   * Returns whether {@link #close()} was called.
   *
   * @return true once closed
   */
  public boolean isClosed() {
    return closed;
  }

  @Override
  public String toString() {
    return "Watcher[name=" + config.name() + ", keys=" + loops.size()
        + ", sourceMultiplexesPerKey=" + source.multiplexesPerKey()
        + ", maxWait=" + config.maxWait() + ", backoff=" + config.backoff() + "]";
  }

  private static Executor virtualThreadExecutor(String name) {
    ThreadFactory factory = Thread.ofVirtual().name("shepherd-watch-" + name + "-", 0).factory();
    return task -> factory.newThread(task).start();
  }

  /**
   * Returns this watcher's settings, as built (the recovery wait already capped at the maximum
   * wait): for logging, metrics and tests.
   *
   * @return the immutable configuration
   */
  public Config config() {
    return config;
  }

  /**
   * The immutable settings of a {@link Watcher}, produced by {@link Builder#build()} and read
   * through {@link Watcher#config()}; the builder's javadoc explains each one. The builder checks
   * each setting when it is set, naming it in the error, so the record does not check them again.
   *
   * @param maxWait how long one fetch may block
   * @param recoveryWait how long fetches after a failure may block, at most {@code maxWait}
   * @param backoff the wait after consecutive failures
   * @param failingThreshold how long a key may fail before subscriptions report it failing
   * @param minFetchInterval the least time between two fetch starts of one key
   * @param bufferPolicy the default buffer of each subscription
   * @param executor runs the loops and the deliveries
   * @param ticker the time source
   * @param name the name in thread names and logs
   */
  public record Config(
      Duration maxWait, Duration recoveryWait, Backoff backoff, Duration failingThreshold,
      Duration minFetchInterval, BufferPolicy bufferPolicy, Executor executor, Ticker ticker,
      String name) {

    long failingThresholdNanos() {
      return Durations.toNanosSaturated(failingThreshold);
    }

    long minFetchIntervalNanos() {
      return Durations.toNanosSaturated(minFetchInterval);
    }
  }

  /**
   * Builder of {@link Watcher}; not thread-safe.
   *
   * @param <V> the type of values
   */
  public static final class Builder<V> {
    private final WatchSource<V> source;
    private Duration maxWait = Duration.ofMinutes(5);
    private Duration recoveryWait = Duration.ofSeconds(1);
    private Backoff backoff = Backoff.consul();
    private Duration failingThreshold = Duration.ofSeconds(30);
    private Duration minFetchInterval = DEFAULT_MIN_FETCH_INTERVAL;
    private BufferPolicy bufferPolicy = BufferPolicy.latestOnly();
    private @org.jspecify.annotations.Nullable Executor executor;
    private Ticker ticker = Ticker.system();
    private String name = "watcher";

    private Builder(WatchSource<V> source) {
      this.source = source;
    }

    /**
     * Sets how long one fetch may block when nothing changes (default 5 minutes, Consul's default
     * {@code wait}; Consul caps it at 10 minutes).
     *
     * @param maxWait a positive duration
     * @return this builder
     * @throws NullPointerException if {@code maxWait} is null
     * @throws IllegalArgumentException if it is zero or negative
     */
    public Builder<V> maxWait(Duration maxWait) {
      this.maxWait = Require.positive(maxWait, "maxWait");
      return this;
    }

    /**
     * Sets how long the first fetches after a failure may block (default 1 second, never more
     * than {@code maxWait}). They still pass the last index, so they block as Consul's loop
     * does, but briefly: an upstream that came back without a change then answers within this
     * time, the failure count resets and {@link WatchEvent.Recovered} is sent, instead of after a
     * whole {@code maxWait}.
     *
     * @param recoveryWait a positive duration
     * @return this builder
     * @throws NullPointerException if {@code recoveryWait} is null
     * @throws IllegalArgumentException if it is zero or negative
     */
    public Builder<V> recoveryWait(Duration recoveryWait) {
      this.recoveryWait = Require.positive(recoveryWait, "recoveryWait");
      return this;
    }

    /**
     * Sets the wait after consecutive failures (default {@link Backoff#consul()}).
     *
     * @param backoff the schedule
     * @return this builder
     * @throws NullPointerException if {@code backoff} is null
     */
    public Builder<V> backoff(Backoff backoff) {
      this.backoff = Require.nonNull(backoff, "backoff");
      return this;
    }

    /**
     * Sets how long a key's upstream may fail without a success before subscriptions report it
     * failing and sinks receive {@link WatchEvent.Failing} (default 30 seconds).
     *
     * @param threshold zero or more; zero reports the first failure
     * @return this builder
     * @throws NullPointerException if {@code threshold} is null
     * @throws IllegalArgumentException if it is negative
     */
    public Builder<V> failingThreshold(Duration threshold) {
      this.failingThreshold = Require.nonNegative(threshold, "failingThreshold");
      return this;
    }

    /**
     * Sets the least time between the start of a fetch of one key that brought no new index
     * (the same index, an index that went backwards, a failure) and the start of the next one
     * (default 50 ms): an upstream that answers at once without progress (a server that ignores
     * the index, a source that cannot block, an index that keeps resetting, a failure at once)
     * is asked at most about once per interval instead of in a hot loop. A fetch that brought a
     * new index is real progress and is followed at once, so neither a burst of changes nor a
     * change after a quiet period is delayed; the fetch rate is then bounded by the rate of
     * changes. After a failure the next fetch waits for the longer of the {@link #backoff} and
     * this interval. Zero turns pacing off.
     *
     * @param interval zero or more
     * @return this builder
     * @throws NullPointerException if {@code interval} is null
     * @throws IllegalArgumentException if it is negative
     */
    public Builder<V> minFetchInterval(Duration interval) {
      this.minFetchInterval = Require.nonNegative(interval, "minFetchInterval");
      return this;
    }

    /**
     * Sets the default buffer of each subscription (default {@link BufferPolicy#latestOnly()}).
     *
     * @param policy the policy
     * @return this builder
     * @throws NullPointerException if {@code policy} is null
     */
    public Builder<V> bufferPolicy(BufferPolicy policy) {
      this.bufferPolicy = Require.nonNull(policy, "policy");
      return this;
    }

    /**
     * Sets the executor that runs the loops (one long task per watched key, which blocks) and the
     * deliveries to sinks (one short task per burst of events). It must run each task on its own
     * thread or the loops starve each other; the default starts a virtual thread per task.
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
     * Sets the time source of backoff waits, staleness and the failing threshold (default
     * {@link Ticker#system()}); a test seam.
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
     * Sets the name used in thread names and log messages (default "watcher").
     *
     * @param name a non-empty name
     * @return this builder
     * @throws NullPointerException if {@code name} is null
     * @throws IllegalArgumentException if it is empty
     */
    public Builder<V> name(String name) {
      this.name = Require.notEmpty(name, "name");
      return this;
    }

    /**
     * Builds the watcher. No loop runs until the first {@code watch}.
     *
     * @return a new watcher
     */
    public Watcher<V> build() {
      return new Watcher<>(this);
    }
  }
}
