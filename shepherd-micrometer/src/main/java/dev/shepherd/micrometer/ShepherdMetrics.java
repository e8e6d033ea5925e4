package dev.shepherd.micrometer;

import dev.shepherd.cache.CacheConfig;
import dev.shepherd.cache.CacheStats;
import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.core.internal.Require;
import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.pool.ElasticPool;
import dev.shepherd.pool.ElasticPoolConfig;
import dev.shepherd.pool.PoolSnapshot;
import dev.shepherd.replica.ReplicaRouter;
import dev.shepherd.replica.ReplicaTracker;
import dev.shepherd.replica.Route;
import dev.shepherd.watch.InMemoryVersionedStore;
import dev.shepherd.watch.Watcher;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.TimeGauge;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.ToDoubleFunction;

/**
 * Micrometer meter bindings for every Shepherd capability. Each method registers the meters of one
 * component under a {@code name} tag, so several caches or pools live side by side.
 *
 * <table>
 *   <caption>Meters (Prometheus names replace dots by underscores and add {@code _total} to counters)</caption>
 *   <tr><th>meter</th><th>type</th><th>tags</th><th>what it counts</th></tr>
 *   <tr><td>{@code shepherd.cache.requests}</td><td>function counter</td><td>cache, result=hit|loaded|joined|stale</td>
 *       <td>fetches by how they were answered</td></tr>
 *   <tr><td>{@code shepherd.cache.failures}</td><td>function counter</td><td>cache, kind=load|cached|timeout|abandoned</td>
 *       <td>loads that failed, failures answered from the negative cache, waiter timeouts, abandoned loads</td></tr>
 *   <tr><td>{@code shepherd.cache.size}</td><td>gauge</td><td>cache</td><td>estimated entries</td></tr>
 *   <tr><td>{@code shepherd.cache.max.size}, {@code shepherd.cache.max.weight}, {@code shepherd.cache.ttl}</td>
 *       <td>gauge, time gauge</td><td>cache</td><td>the configured bounds (those set)</td></tr>
 *   <tr><td>{@code shepherd.idempotency.claims}</td><td>counter</td>
 *       <td>store, outcome=claimed|took_over|in_progress|completed|halted|mismatch|error</td>
 *       <td>{@code track} answers: a claim runs the request, completed is a replay, in_progress a conflict</td></tr>
 *   <tr><td>{@code shepherd.idempotency.finishes}</td><td>counter</td><td>store, how=complete|halt|release</td>
 *       <td>claims finished, by how</td></tr>
 *   <tr><td>{@code shepherd.watch.keys}</td><td>gauge</td><td>watcher</td><td>keys with an upstream loop</td></tr>
 *   <tr><td>{@code shepherd.watch.subscribers}</td><td>gauge</td><td>watcher</td><td>open subscriptions</td></tr>
 *   <tr><td>{@code shepherd.watch.max.wait}</td><td>time gauge</td><td>watcher</td><td>the configured wait of a blocking query</td></tr>
 *   <tr><td>{@code shepherd.watch.upstream.queries}</td><td>function counter</td><td>store</td>
 *       <td>blocking queries the in-memory store answered</td></tr>
 *   <tr><td>{@code shepherd.watch.upstream.waiting}</td><td>gauge</td><td>store</td><td>queries blocked right now</td></tr>
 *   <tr><td>{@code shepherd.replica.poller.queries}</td><td>function counter</td><td>replica</td>
 *       <td>replay-position queries sent to the replica</td></tr>
 *   <tr><td>{@code shepherd.replica.waiting}</td><td>gauge</td><td>replica</td><td>callers waiting for replay</td></tr>
 *   <tr><td>{@code shepherd.replica.poll.interval.max}</td><td>time gauge</td><td>replica</td>
 *       <td>the configured longest pause between replay-position queries</td></tr>
 *   <tr><td>{@code shepherd.replica.reads}</td><td>counter</td><td>router, target=replica|primary, reason</td>
 *       <td>routed reads; reason is the fallback reason for the primary, "none" for a replica</td></tr>
 *   <tr><td>{@code shepherd.replica.wait}</td><td>timer (p50, p99)</td><td>router</td>
 *       <td>time a read waited for replay before it was routed</td></tr>
 *   <tr><td>{@code shepherd.pool.runners}</td><td>gauge</td><td>pool, state=ready|booting|draining</td><td>runners</td></tr>
 *   <tr><td>{@code shepherd.pool.busy.slots}</td><td>gauge</td><td>pool</td><td>calls running</td></tr>
 *   <tr><td>{@code shepherd.pool.waiters}</td><td>gauge</td><td>pool</td><td>callers queued for a slot</td></tr>
 *   <tr><td>{@code shepherd.pool.boots}</td><td>function counter</td><td>pool, result=ok|failed</td><td>runner boots</td></tr>
 *   <tr><td>{@code shepherd.pool.deaths}</td><td>function counter</td><td>pool</td><td>runners that died</td></tr>
 *   <tr><td>{@code shepherd.pool.runners.min}, {@code shepherd.pool.runners.max}, {@code shepherd.pool.runner.slots},
 *       {@code shepherd.pool.call.timeout}</td><td>gauge, time gauge</td><td>pool</td>
 *       <td>the configured least and most runners, calls per runner, default call timeout</td></tr>
 * </table>
 *
 * <p>The configured bounds (a cache's maximum and time to live, a pool's runner limits, a watcher's
 * wait) are read from the component's own immutable {@code config()}, the record its builder made,
 * never copied from the application's settings, so the meters show what the component really runs
 * with.
 *
 * <p>Gauges and function counters read the component when scraped; they hold it strongly, so a
 * component stays reachable as long as the registry does. Thread-safe.
 */
public final class ShepherdMetrics {

  private ShepherdMetrics() {}

  /**
   * Binds a coalescing cache's statistics.
   *
   * @param registry the registry
   * @param name the cache's name, the {@code cache} tag
   * @param cache the cache
   * @throws NullPointerException if an argument is null
   */
  public static void bindCache(MeterRegistry registry, String name, CoalescingCache<?, ?> cache) {
    Require.nonNull(registry, "registry");
    Require.nonNull(name, "name");
    Require.nonNull(cache, "cache");
    Tags tags = Tags.of("cache", name);
    cacheCounter(registry, "shepherd.cache.requests", tags.and("result", "hit"), cache, CacheStats::hits);
    cacheCounter(registry, "shepherd.cache.requests", tags.and("result", "loaded"), cache, CacheStats::loads);
    cacheCounter(registry, "shepherd.cache.requests", tags.and("result", "joined"), cache, CacheStats::joins);
    cacheCounter(registry, "shepherd.cache.requests", tags.and("result", "stale"), cache, CacheStats::staleAnswers);
    cacheCounter(registry, "shepherd.cache.failures", tags.and("kind", "load"), cache, CacheStats::failures);
    cacheCounter(registry, "shepherd.cache.failures", tags.and("kind", "cached"), cache, CacheStats::cachedFailures);
    cacheCounter(registry, "shepherd.cache.failures", tags.and("kind", "timeout"), cache, CacheStats::timeouts);
    cacheCounter(registry, "shepherd.cache.failures", tags.and("kind", "abandoned"), cache, CacheStats::abandonedLoads);
    Gauge.builder("shepherd.cache.size", cache, CoalescingCache::estimatedSize)
        .tags(tags).strongReference(true).description("estimated entries").register(registry);
    CacheConfig<?, ?> config = cache.config();
    if (config.maximumSize() >= 0) {
      setting(registry, "shepherd.cache.max.size", tags, config.maximumSize(), "the configured maximum of entries");
    }
    if (config.maximumWeight() >= 0) {
      setting(registry, "shepherd.cache.max.weight", tags, config.maximumWeight(), "the configured maximum weight");
    }
    Duration ttl = config.timeToLive();
    if (ttl != null) {
      setting(registry, "shepherd.cache.ttl", tags, ttl, "the configured time to live of a value");
    }
  }

  /** Registers a gauge of a configured number, read from a component's immutable config. */
  private static void setting(MeterRegistry registry, String name, Tags tags, long value, String description) {
    Gauge.builder(name, () -> value).tags(tags).description(description).register(registry);
  }

  /** Registers a time gauge of a configured duration, read from a component's immutable config. */
  private static void setting(MeterRegistry registry, String name, Tags tags, Duration value, String description) {
    TimeGauge.builder(name, () -> value.toNanos(), TimeUnit.NANOSECONDS).tags(tags).description(description)
        .register(registry);
  }

  private static void cacheCounter(MeterRegistry registry, String name, Tags tags,
      CoalescingCache<?, ?> cache, ToDoubleFunction<CacheStats> figure) {
    FunctionCounter.builder(name, cache, c -> figure.applyAsDouble(c.stats())).tags(tags).register(registry);
  }

  /**
   * Wraps an idempotency store so that every claim and finish is counted.
   *
   * @param registry the registry
   * @param name the store's name, the {@code store} tag
   * @param store the store to wrap
   * @return a store that counts and delegates everything to {@code store}
   * @throws NullPointerException if an argument is null
   */
  public static IdempotencyStore meteredStore(MeterRegistry registry, String name, IdempotencyStore store) {
    Require.nonNull(registry, "registry");
    Require.nonNull(name, "name");
    return new MeteredIdempotencyStore(Require.nonNull(store, "store"), registry, Tags.of("store", name));
  }

  /**
   * Binds a watcher hub's keys and subscribers.
   *
   * @param registry the registry
   * @param name the watcher's name, the {@code watcher} tag
   * @param watcher the hub
   * @throws NullPointerException if an argument is null
   */
  public static void bindWatcher(MeterRegistry registry, String name, Watcher<?> watcher) {
    Require.nonNull(registry, "registry");
    Require.nonNull(watcher, "watcher");
    Tags tags = Tags.of("watcher", Require.nonNull(name, "name"));
    Gauge.builder("shepherd.watch.keys", watcher, w -> w.watchedKeys().size())
        .tags(tags).strongReference(true).register(registry);
    Gauge.builder("shepherd.watch.subscribers", watcher, ShepherdMetrics::subscribers)
        .tags(tags).strongReference(true).register(registry);
    setting(registry, "shepherd.watch.max.wait", tags, watcher.config().maxWait(),
        "the configured wait of one blocking query");
  }

  private static double subscribers(Watcher<?> watcher) {
    long total = 0;
    for (String key : watcher.watchedKeys()) {
      total += watcher.subscriberCount(key);
    }
    return total;
  }

  /**
   * Binds an in-memory versioned store's upstream query counts.
   *
   * @param registry the registry
   * @param name the store's name, the {@code store} tag
   * @param store the store
   * @throws NullPointerException if an argument is null
   */
  public static void bindVersionedStore(MeterRegistry registry, String name, InMemoryVersionedStore<?> store) {
    Require.nonNull(registry, "registry");
    Require.nonNull(store, "store");
    Tags tags = Tags.of("store", Require.nonNull(name, "name"));
    FunctionCounter.builder("shepherd.watch.upstream.queries", store, InMemoryVersionedStore::queryCount)
        .tags(tags).register(registry);
    Gauge.builder("shepherd.watch.upstream.waiting", store, InMemoryVersionedStore::waitingQueries)
        .tags(tags).strongReference(true).register(registry);
  }

  /**
   * Binds a replica tracker's poller figures.
   *
   * @param registry the registry
   * @param tracker the tracker; the name of its {@link ReplicaTracker#config()} is the {@code replica} tag
   * @throws NullPointerException if an argument is null
   */
  public static void bindReplicaTracker(MeterRegistry registry, ReplicaTracker tracker) {
    Require.nonNull(registry, "registry");
    Require.nonNull(tracker, "tracker");
    ReplicaTracker.Config config = tracker.config();
    Tags tags = Tags.of("replica", config.name());
    FunctionCounter.builder("shepherd.replica.poller.queries", tracker, t -> t.stats().queries())
        .tags(tags).register(registry);
    Gauge.builder("shepherd.replica.waiting", tracker, t -> t.stats().waiting())
        .tags(tags).strongReference(true).register(registry);
    setting(registry, "shepherd.replica.poll.interval.max", tags, config.maxPollInterval(),
        "the configured longest pause between replay-position queries");
  }

  /**
   * Returns a route listener (for {@link ReplicaRouter.Builder#listener}) that counts routed reads
   * and records how long each waited.
   *
   * @param registry the registry
   * @param name the router's name, the {@code router} tag
   * @return the listener
   * @throws NullPointerException if an argument is null
   */
  public static Consumer<Route> routeListener(MeterRegistry registry, String name) {
    Require.nonNull(registry, "registry");
    Tags tags = Tags.of("router", Require.nonNull(name, "name"));
    Timer wait = Timer.builder("shepherd.replica.wait")
        .tags(tags).publishPercentiles(0.5, 0.99).description("time a read waited for replay")
        .register(registry);
    return route -> {
      wait.record(route.waited());
      String target = route instanceof Route.ToReplica ? "replica" : "primary";
      String reason = route instanceof Route.ToPrimary toPrimary
          ? toPrimary.reason().name().toLowerCase(java.util.Locale.ROOT) : "none";
      Counter.builder("shepherd.replica.reads").tags(tags.and("target", target, "reason", reason))
          .register(registry).increment();
    };
  }

  /**
   * Binds an elastic pool's snapshot figures.
   *
   * @param registry the registry
   * @param pool the pool; the name of its {@link ElasticPool#config()} is the {@code pool} tag
   * @throws NullPointerException if an argument is null
   */
  public static void bindPool(MeterRegistry registry, ElasticPool pool) {
    Require.nonNull(registry, "registry");
    Require.nonNull(pool, "pool");
    ElasticPoolConfig config = pool.config();
    Tags tags = Tags.of("pool", config.name());
    setting(registry, "shepherd.pool.runners.min", tags, config.min(), "the configured least runners");
    setting(registry, "shepherd.pool.runners.max", tags, config.max(), "the configured most runners");
    setting(registry, "shepherd.pool.runner.slots", tags, config.maxConcurrency(),
        "the configured calls one runner runs at once");
    setting(registry, "shepherd.pool.call.timeout", tags, config.callTimeout(), "the configured default call timeout");
    poolGauge(registry, "shepherd.pool.runners", tags.and("state", "ready"), pool, PoolSnapshot::ready);
    poolGauge(registry, "shepherd.pool.runners", tags.and("state", "booting"), pool, PoolSnapshot::booting);
    poolGauge(registry, "shepherd.pool.runners", tags.and("state", "draining"), pool, PoolSnapshot::draining);
    poolGauge(registry, "shepherd.pool.busy.slots", tags, pool, PoolSnapshot::busySlots);
    poolGauge(registry, "shepherd.pool.waiters", tags, pool, PoolSnapshot::waiters);
    FunctionCounter.builder("shepherd.pool.boots", pool, p -> p.snapshot().boots())
        .tags(tags.and("result", "ok")).register(registry);
    FunctionCounter.builder("shepherd.pool.boots", pool, p -> p.snapshot().bootFailures())
        .tags(tags.and("result", "failed")).register(registry);
    FunctionCounter.builder("shepherd.pool.deaths", pool, p -> p.snapshot().deaths())
        .tags(tags).register(registry);
  }

  private static void poolGauge(MeterRegistry registry, String name, Tags tags, ElasticPool pool,
      ToDoubleFunction<PoolSnapshot> figure) {
    Gauge.builder(name, pool, p -> figure.applyAsDouble(p.snapshot())).tags(tags).strongReference(true)
        .register(registry);
  }
}
