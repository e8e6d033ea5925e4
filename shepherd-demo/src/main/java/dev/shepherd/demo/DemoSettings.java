package dev.shepherd.demo;

import dev.shepherd.cache.CacheConfig;
import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.pool.ElasticPool;
import dev.shepherd.pool.ElasticPoolConfig;
import dev.shepherd.replica.ReplicaRouter;
import dev.shepherd.watch.Watcher;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * The settings the service runs with, as {@code GET /api/settings} shows them: read from each
 * component's immutable {@code config()}, the record its builder made, so what the page says is
 * what the component does, never a second copy of the numbers passed to the builders.
 */
final class DemoSettings {

  private DemoSettings() {}

  /**
   * Returns the settings by capability, durations in milliseconds.
   *
   * @return a JSON-ready map: cache, idempotency, replica, watch, pool
   */
  static Map<String, Object> of(CoalescingCache<?, ?> cache, IdempotencyTracker tracker, ReplicaRouter router,
      Watcher<?> watcher, ElasticPool pool) {
    Map<String, Object> settings = new LinkedHashMap<>();

    CacheConfig<?, ?> c = cache.config();
    Map<String, @Nullable Object> cacheSettings = new LinkedHashMap<>();
    cacheSettings.put("maximumSize", c.maximumSize() < 0 ? null : c.maximumSize());
    Duration ttl = c.timeToLive();
    cacheSettings.put("timeToLiveMs", ttl == null ? null : millis(ttl));
    cacheSettings.put("loadTimeoutMs", millis(c.loadTimeout()));
    settings.put("cache", cacheSettings);

    IdempotencyTracker.Config i = tracker.config();
    settings.put("idempotency", Map.of("leaseMs", millis(i.lease()), "retentionMs", millis(i.retention()),
        "heartbeatMs", millis(i.heartbeatInterval())));

    settings.put("replica", Map.of("maxWaitMs", millis(router.config().maxWait()),
        "replicas", router.config().replicas().size()));

    Watcher.Config w = watcher.config();
    settings.put("watch", Map.of("maxWaitMs", millis(w.maxWait()), "recoveryWaitMs", millis(w.recoveryWait())));

    ElasticPoolConfig p = pool.config();
    settings.put("pool", Map.of("minRunners", p.min(), "maxRunners", p.max(), "slotsPerRunner", p.maxConcurrency(),
        "callTimeoutMs", millis(p.callTimeout()), "idleShutdownAfterMs", millis(p.idleShutdownAfter())));
    return settings;
  }

  private static long millis(Duration d) {
    return d.toMillis();
  }
}
