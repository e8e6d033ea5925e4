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
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.TimeGauge;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Function;
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
 *       <td>routed reads; reason is the fallback reason for the primary, "none" for a replica; every target and
 *       reason is registered at once, at zero</td></tr>
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
 * <p>Gauges and function counters read the component when scraped and hold it strongly. Meters
 * bound through a {@link Binding} ({@link #binding(MeterRegistry)}) leave the registry, and let go of
 * the component, when the binding is closed: close it with the component, so that a component made
 * again under the same name (a Spring context refreshed, a pool rebuilt) is not reported through the
 * old one's meters. The older {@code bind...} methods, {@link #meteredStore} and {@link #routeListener}
 * register meters that stay until the registry is closed; prefer a binding. Thread-safe.
 *
 * <pre>{@code
 * try (ShepherdMetrics.Binding meters = ShepherdMetrics.binding(registry).cache("products", cache).pool(pool)) {
 *   ... // the meters are in the registry
 * } // and now they are not
 * }</pre>
 */
public final class ShepherdMetrics {

  /**
   * Serializes the "is this meter id free?" check and the registration that follows it across every
   * exclusive binding, so that two bindings of one name racing each other cannot both pass the check.
   * Registration happens when components are made, rarely; one lock for every registry is enough.
   */
  private static final Object REGISTRATION = new Object();

  private ShepherdMetrics() {}

  /**
   * Returns a new, empty binding on {@code registry}: bind components through it, and close it to
   * remove exactly the meters it registered.
   *
   * @param registry the registry
   * @return the binding
   * @throws NullPointerException if {@code registry} is null
   */
  public static Binding binding(MeterRegistry registry) {
    return new Binding(Require.nonNull(registry, "registry"), true);
  }

  /**
   * Binds a coalescing cache's statistics. The meters stay in the registry until it is closed, and a
   * cache bound again under the same name is reported through the first one's meters; prefer
   * {@link Binding#cache}, whose meters leave when the binding is closed.
   *
   * @param registry the registry
   * @param name the cache's name, the {@code cache} tag
   * @param cache the cache
   * @throws NullPointerException if an argument is null
   */
  public static void bindCache(MeterRegistry registry, String name, CoalescingCache<?, ?> cache) {
    lasting(registry).cache(name, cache);
  }

  /**
   * Wraps an idempotency store so that every claim and finish is counted. The counters stay in the
   * registry until it is closed; prefer {@link Binding#meteredStore}, whose counters leave when the
   * binding is closed.
   *
   * @param registry the registry
   * @param name the store's name, the {@code store} tag
   * @param store the store to wrap
   * @return a store that counts and delegates everything to {@code store}
   * @throws NullPointerException if an argument is null
   */
  public static IdempotencyStore meteredStore(MeterRegistry registry, String name, IdempotencyStore store) {
    return lasting(registry).meteredStore(name, store);
  }

  /**
   * Binds a watcher hub's keys and subscribers. The meters stay in the registry until it is closed;
   * prefer {@link Binding#watcher}, whose meters leave when the binding is closed.
   *
   * @param registry the registry
   * @param name the watcher's name, the {@code watcher} tag
   * @param watcher the hub
   * @throws NullPointerException if an argument is null
   */
  public static void bindWatcher(MeterRegistry registry, String name, Watcher<?> watcher) {
    lasting(registry).watcher(name, watcher);
  }

  /**
   * Binds an in-memory versioned store's upstream query counts. The meters stay in the registry until
   * it is closed; prefer {@link Binding#versionedStore}, whose meters leave when the binding is closed.
   *
   * @param registry the registry
   * @param name the store's name, the {@code store} tag
   * @param store the store
   * @throws NullPointerException if an argument is null
   */
  public static void bindVersionedStore(MeterRegistry registry, String name, InMemoryVersionedStore<?> store) {
    lasting(registry).versionedStore(name, store);
  }

  /**
   * Binds a replica tracker's poller figures. The meters stay in the registry until it is closed;
   * prefer {@link Binding#replicaTracker}, whose meters leave when the binding is closed.
   *
   * @param registry the registry
   * @param tracker the tracker; the name of its {@link ReplicaTracker#config()} is the {@code replica} tag
   * @throws NullPointerException if an argument is null
   */
  public static void bindReplicaTracker(MeterRegistry registry, ReplicaTracker tracker) {
    lasting(registry).replicaTracker(tracker);
  }

  /**
   * Returns a route listener (for {@link ReplicaRouter.Builder#listener}) that counts routed reads
   * and records how long each waited. The meters stay in the registry until it is closed; prefer
   * {@link Binding#routeListener}, whose meters leave when the binding is closed.
   *
   * @param registry the registry
   * @param name the router's name, the {@code router} tag
   * @return the listener
   * @throws NullPointerException if an argument is null
   */
  public static Consumer<Route> routeListener(MeterRegistry registry, String name) {
    return lasting(registry).routeListener(name);
  }

  /**
   * Binds an elastic pool's snapshot figures. The meters stay in the registry until it is closed;
   * prefer {@link Binding#pool}, whose meters leave when the binding is closed.
   *
   * @param registry the registry
   * @param pool the pool; the name of its {@link ElasticPool#config()} is the {@code pool} tag
   * @throws NullPointerException if an argument is null
   */
  public static void bindPool(MeterRegistry registry, ElasticPool pool) {
    lasting(registry).pool(pool);
  }

  /** A binding nobody closes, with Micrometer's own rule for an id already registered: reuse that meter. */
  private static Binding lasting(MeterRegistry registry) {
    return new Binding(Require.nonNull(registry, "registry"), false);
  }

  /**
   * The meters of one or more components on one registry, removed from it together by
   * {@link #close()}. Made by {@link ShepherdMetrics#binding(MeterRegistry)}; each method binds one
   * component and returns this binding (or the listener or store it made), so that
   * {@code ShepherdMetrics.binding(registry).cache("products", cache)} is a binding of one cache.
   *
   * <p>A binding is open, then closed. While open, each method registers its component's meters and
   * remembers them; a meter whose id (name and tags) is already in the registry, bound by another
   * binding or by the older {@code bind...} methods, is refused with an {@link IllegalStateException}
   * and the method registers nothing, because Micrometer would hand back the existing meter and the
   * new component would be reported through the old one. {@link #close()} moves it to closed once,
   * and removes every meter it registered; later calls of {@code close()} do nothing, and binding
   * through a closed binding throws {@link IllegalStateException}. A route listener or a metered store
   * made by a binding goes on working after it is closed, counting into meters no longer in the
   * registry. Thread-safe.
   */
  public static final class Binding implements AutoCloseable {

    private final MeterRegistry registry;
    /** True for bindings made by {@link ShepherdMetrics#binding}: refuse ids already registered. */
    private final boolean exclusive;
    private final List<Meter> meters = new ArrayList<>(); // guarded by this
    private boolean closed; // guarded by this

    Binding(MeterRegistry registry, boolean exclusive) {
      this.registry = registry;
      this.exclusive = exclusive;
    }

    /**
     * Returns the ids of the meters this binding registered and has not removed.
     *
     * @return the ids, in registration order; empty once closed
     */
    public synchronized List<Meter.Id> meterIds() {
      return meters.stream().map(Meter::getId).toList();
    }

    /**
     * Whether {@link #close()} was called.
     *
     * @return true once closed
     */
    public synchronized boolean isClosed() {
      return closed;
    }

    /**
     * Binds a coalescing cache's statistics (the {@code shepherd.cache.*} meters).
     *
     * @param name the cache's name, the {@code cache} tag
     * @param cache the cache
     * @return this binding
     * @throws NullPointerException if an argument is null
     * @throws IllegalStateException if this binding is closed, or one of the meters is already registered
     *     (a cache of that name is bound and its binding still open)
     */
    public Binding cache(String name, CoalescingCache<?, ?> cache) {
      Require.nonNull(name, "name");
      Require.nonNull(cache, "cache");
      Tags tags = Tags.of("cache", name);
      CacheConfig<?, ?> config = cache.config();
      atomically(() -> {
        cacheCounter("shepherd.cache.requests", tags.and("result", "hit"), cache, CacheStats::hits);
        cacheCounter("shepherd.cache.requests", tags.and("result", "loaded"), cache, CacheStats::loads);
        cacheCounter("shepherd.cache.requests", tags.and("result", "joined"), cache, CacheStats::joins);
        cacheCounter("shepherd.cache.requests", tags.and("result", "stale"), cache, CacheStats::staleAnswers);
        cacheCounter("shepherd.cache.failures", tags.and("kind", "load"), cache, CacheStats::failures);
        cacheCounter("shepherd.cache.failures", tags.and("kind", "cached"), cache, CacheStats::cachedFailures);
        cacheCounter("shepherd.cache.failures", tags.and("kind", "timeout"), cache, CacheStats::timeouts);
        cacheCounter("shepherd.cache.failures", tags.and("kind", "abandoned"), cache, CacheStats::abandonedLoads);
        register("shepherd.cache.size", tags, r -> Gauge.builder("shepherd.cache.size", cache, CoalescingCache::estimatedSize)
            .tags(tags).strongReference(true).description("estimated entries").register(r));
        if (config.maximumSize() >= 0) {
          setting("shepherd.cache.max.size", tags, config.maximumSize(), "the configured maximum of entries");
        }
        if (config.maximumWeight() >= 0) {
          setting("shepherd.cache.max.weight", tags, config.maximumWeight(), "the configured maximum weight");
        }
        Duration ttl = config.timeToLive();
        if (ttl != null) {
          setting("shepherd.cache.ttl", tags, ttl, "the configured time to live of a value");
        }
      });
      return this;
    }

    private void cacheCounter(String name, Tags tags, CoalescingCache<?, ?> cache, ToDoubleFunction<CacheStats> figure) {
      register(name, tags, r -> FunctionCounter.builder(name, cache, c -> figure.applyAsDouble(c.stats())).tags(tags).register(r));
    }

    /**
     * Wraps an idempotency store so that every claim and finish is counted (the
     * {@code shepherd.idempotency.*} counters).
     *
     * @param name the store's name, the {@code store} tag
     * @param store the store to wrap
     * @return a store that counts and delegates everything to {@code store}
     * @throws NullPointerException if an argument is null
     * @throws IllegalStateException if this binding is closed, or one of the counters is already registered
     */
    public IdempotencyStore meteredStore(String name, IdempotencyStore store) {
      Require.nonNull(name, "name");
      Require.nonNull(store, "store");
      Tags tags = Tags.of("store", name);
      List<MeteredIdempotencyStore> made = new ArrayList<>(1);
      atomically(() -> made.add(new MeteredIdempotencyStore(store, tags,
          (meter, meterTags) -> register(meter, meterTags, r -> Counter.builder(meter).tags(meterTags).register(r)))));
      return made.get(0);
    }

    /**
     * Binds a watcher hub's keys and subscribers (the {@code shepherd.watch.keys},
     * {@code .subscribers} and {@code .max.wait} meters).
     *
     * @param name the watcher's name, the {@code watcher} tag
     * @param watcher the hub
     * @return this binding
     * @throws NullPointerException if an argument is null
     * @throws IllegalStateException if this binding is closed, or one of the meters is already registered
     */
    public Binding watcher(String name, Watcher<?> watcher) {
      Require.nonNull(watcher, "watcher");
      Tags tags = Tags.of("watcher", Require.nonNull(name, "name"));
      Duration maxWait = watcher.config().maxWait();
      atomically(() -> {
        register("shepherd.watch.keys", tags, r -> Gauge.builder("shepherd.watch.keys", watcher, w -> w.watchedKeys().size())
            .tags(tags).strongReference(true).register(r));
        register("shepherd.watch.subscribers", tags, r -> Gauge.builder("shepherd.watch.subscribers", watcher,
            ShepherdMetrics::subscribers).tags(tags).strongReference(true).register(r));
        setting("shepherd.watch.max.wait", tags, maxWait, "the configured wait of one blocking query");
      });
      return this;
    }

    /**
     * Binds an in-memory versioned store's upstream query counts (the {@code shepherd.watch.upstream.*}
     * meters).
     *
     * @param name the store's name, the {@code store} tag
     * @param store the store
     * @return this binding
     * @throws NullPointerException if an argument is null
     * @throws IllegalStateException if this binding is closed, or one of the meters is already registered
     */
    public Binding versionedStore(String name, InMemoryVersionedStore<?> store) {
      Require.nonNull(store, "store");
      Tags tags = Tags.of("store", Require.nonNull(name, "name"));
      atomically(() -> {
        register("shepherd.watch.upstream.queries", tags, r -> FunctionCounter.builder("shepherd.watch.upstream.queries", store,
            InMemoryVersionedStore::queryCount).tags(tags).register(r));
        register("shepherd.watch.upstream.waiting", tags, r -> Gauge.builder("shepherd.watch.upstream.waiting", store,
            InMemoryVersionedStore::waitingQueries).tags(tags).strongReference(true).register(r));
      });
      return this;
    }

    /**
     * Binds a replica tracker's poller figures (the {@code shepherd.replica.poller.queries},
     * {@code .waiting} and {@code .poll.interval.max} meters).
     *
     * @param tracker the tracker; the name of its {@link ReplicaTracker#config()} is the {@code replica} tag
     * @return this binding
     * @throws NullPointerException if {@code tracker} is null
     * @throws IllegalStateException if this binding is closed, or one of the meters is already registered
     */
    public Binding replicaTracker(ReplicaTracker tracker) {
      Require.nonNull(tracker, "tracker");
      ReplicaTracker.Config config = tracker.config();
      Tags tags = Tags.of("replica", config.name());
      atomically(() -> {
        register("shepherd.replica.poller.queries", tags, r -> FunctionCounter.builder("shepherd.replica.poller.queries", tracker,
            t -> t.stats().queries()).tags(tags).register(r));
        register("shepherd.replica.waiting", tags, r -> Gauge.builder("shepherd.replica.waiting", tracker,
            t -> t.stats().waiting()).tags(tags).strongReference(true).register(r));
        setting("shepherd.replica.poll.interval.max", tags, config.maxPollInterval(),
            "the configured longest pause between replay-position queries");
      });
      return this;
    }

    /**
     * Returns a route listener (for {@link ReplicaRouter.Builder#listener}) that counts routed reads
     * and records how long each waited. Every {@code shepherd.replica.reads} counter (the replica, and
     * the primary with each fallback reason) is registered at once, at zero.
     *
     * @param name the router's name, the {@code router} tag
     * @return the listener
     * @throws NullPointerException if {@code name} is null
     * @throws IllegalStateException if this binding is closed, or one of the meters is already registered
     */
    public Consumer<Route> routeListener(String name) {
      Tags tags = Tags.of("router", Require.nonNull(name, "name"));
      List<Timer> wait = new ArrayList<>(1);
      List<Counter> replicaReads = new ArrayList<>(1);
      Map<Route.FallbackReason, Counter> primaryReads = new EnumMap<>(Route.FallbackReason.class);
      atomically(() -> {
        wait.add(register("shepherd.replica.wait", tags, r -> Timer.builder("shepherd.replica.wait").tags(tags)
            .publishPercentiles(0.5, 0.99).description("time a read waited for replay").register(r)));
        replicaReads.add(reads(tags.and("target", "replica", "reason", "none")));
        for (Route.FallbackReason reason : Route.FallbackReason.values()) {
          primaryReads.put(reason, reads(tags.and("target", "primary", "reason", reason.name().toLowerCase(Locale.ROOT))));
        }
      });
      Timer waited = wait.get(0);
      Counter toReplica = replicaReads.get(0);
      return route -> {
        waited.record(route.waited());
        switch (route) {
          case Route.ToReplica r -> toReplica.increment();
          case Route.ToPrimary p -> {
            Counter counter = primaryReads.get(p.reason());
            if (counter != null) {
              counter.increment();
            }
          }
        }
      };
    }

    private Counter reads(Tags tags) {
      return register("shepherd.replica.reads", tags, r -> Counter.builder("shepherd.replica.reads").tags(tags).register(r));
    }

    /**
     * Binds an elastic pool's snapshot figures (the {@code shepherd.pool.*} meters).
     *
     * @param pool the pool; the name of its {@link ElasticPool#config()} is the {@code pool} tag
     * @return this binding
     * @throws NullPointerException if {@code pool} is null
     * @throws IllegalStateException if this binding is closed, or one of the meters is already registered
     */
    public Binding pool(ElasticPool pool) {
      Require.nonNull(pool, "pool");
      ElasticPoolConfig config = pool.config();
      Tags tags = Tags.of("pool", config.name());
      atomically(() -> {
        setting("shepherd.pool.runners.min", tags, config.min(), "the configured least runners");
        setting("shepherd.pool.runners.max", tags, config.max(), "the configured most runners");
        setting("shepherd.pool.runner.slots", tags, config.maxConcurrency(), "the configured calls one runner runs at once");
        setting("shepherd.pool.call.timeout", tags, config.callTimeout(), "the configured default call timeout");
        poolGauge("shepherd.pool.runners", tags.and("state", "ready"), pool, PoolSnapshot::ready);
        poolGauge("shepherd.pool.runners", tags.and("state", "booting"), pool, PoolSnapshot::booting);
        poolGauge("shepherd.pool.runners", tags.and("state", "draining"), pool, PoolSnapshot::draining);
        poolGauge("shepherd.pool.busy.slots", tags, pool, PoolSnapshot::busySlots);
        poolGauge("shepherd.pool.waiters", tags, pool, PoolSnapshot::waiters);
        poolCounter("shepherd.pool.boots", tags.and("result", "ok"), pool, PoolSnapshot::boots);
        poolCounter("shepherd.pool.boots", tags.and("result", "failed"), pool, PoolSnapshot::bootFailures);
        poolCounter("shepherd.pool.deaths", tags, pool, PoolSnapshot::deaths);
      });
      return this;
    }

    private void poolGauge(String name, Tags tags, ElasticPool pool, ToDoubleFunction<PoolSnapshot> figure) {
      register(name, tags, r -> Gauge.builder(name, pool, p -> figure.applyAsDouble(p.snapshot())).tags(tags)
          .strongReference(true).register(r));
    }

    private void poolCounter(String name, Tags tags, ElasticPool pool, ToDoubleFunction<PoolSnapshot> figure) {
      register(name, tags, r -> FunctionCounter.builder(name, pool, p -> figure.applyAsDouble(p.snapshot())).tags(tags).register(r));
    }

    /** Registers a gauge of a configured number, read from a component's immutable config. */
    private void setting(String name, Tags tags, long value, String description) {
      register(name, tags, r -> Gauge.builder(name, () -> value).tags(tags).description(description).register(r));
    }

    /** Registers a time gauge of a configured duration, read from a component's immutable config. */
    private void setting(String name, Tags tags, Duration value, String description) {
      register(name, tags, r -> TimeGauge.builder(name, () -> value.toNanos(), TimeUnit.NANOSECONDS).tags(tags)
          .description(description).register(r));
    }

    /**
     * Runs the registrations of one component: all of them or, when one fails, none (those made
     * are removed before the failure is thrown).
     */
    private void atomically(Runnable registrations) {
      synchronized (REGISTRATION) {
        int before;
        synchronized (this) {
          if (closed) {
            throw new IllegalStateException("this meter binding is closed; make a new one with ShepherdMetrics.binding(registry)");
          }
          before = meters.size();
        }
        try {
          registrations.run();
        } catch (RuntimeException e) {
          List<Meter> made;
          synchronized (this) {
            List<Meter> tail = meters.subList(before, meters.size());
            made = List.copyOf(tail);
            tail.clear();
          }
          made.forEach(registry::remove);
          throw e;
        }
      }
    }

    /** Registers one meter (inside {@link #atomically}), refusing an id already in the registry when exclusive. */
    private <M extends Meter> M register(String name, Tags tags, Function<MeterRegistry, M> registration) {
      if (exclusive) {
        Meter existing = registry.find(name).tags(tags).meter();
        if (existing != null) {
          throw new IllegalStateException("the meter " + existing.getId() + " is already in the registry: a component of "
              + "that name is bound and its binding is still open; close that binding (ShepherdMetrics.Binding.close()) "
              + "or give this component another name");
        }
      }
      M meter = registration.apply(registry);
      if (exclusive) {
        synchronized (this) {
          meters.add(meter);
        }
      }
      return meter;
    }

    /**
     * Removes every meter this binding registered from the registry; a second call does nothing.
     * Meters of the same ids registered since by someone else (after removing these) are left alone.
     */
    @Override
    @SuppressWarnings("ReferenceEquality") // this very meter, not an equal id someone registered since
    public void close() {
      List<Meter> registered;
      synchronized (this) {
        if (closed) {
          return;
        }
        closed = true;
        registered = List.copyOf(meters);
        meters.clear();
      }
      for (Meter meter : registered) {
        Meter current = registry.find(meter.getId().getName()).tags(meter.getId().getTags()).meter();
        if (current == meter) {
          registry.remove(meter);
        }
      }
    }

    @Override
    public String toString() {
      return "ShepherdMetrics.Binding[" + (isClosed() ? "closed" : meterIds().size() + " meters") + "]";
    }
  }

  private static double subscribers(Watcher<?> watcher) {
    long total = 0;
    for (String key : watcher.watchedKeys()) {
      total += watcher.subscriberCount(key);
    }
    return total;
  }
}
