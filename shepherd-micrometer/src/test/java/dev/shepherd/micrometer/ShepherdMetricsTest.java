package dev.shepherd.micrometer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.cache.Load;
import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.InMemoryIdempotencyStore;
import dev.shepherd.idempotency.StoredResponse;
import dev.shepherd.idempotency.Tracked;
import dev.shepherd.pool.ElasticPool;
import dev.shepherd.pool.FunctionRegistry;
import dev.shepherd.pool.LocalBackend;
import dev.shepherd.replica.Lsn;
import dev.shepherd.replica.ReplicaRouter;
import dev.shepherd.replica.ReplicaTracker;
import dev.shepherd.replica.WritePosition;
import dev.shepherd.testing.PostgresCluster;
import dev.shepherd.watch.InMemoryVersionedStore;
import dev.shepherd.watch.Subscription;
import dev.shepherd.watch.Watcher;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.postgresql.ds.PGSimpleDataSource;

class ShepherdMetricsTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();

  private final MeterRegistry registry = new SimpleMeterRegistry();

  private double counter(String name, String... tags) {
    return registry.get(name).tags(tags).functionCounter().count();
  }

  @Test
  void cacheRequestsAreCountedByHowTheyWereAnswered() throws Exception {
    CoalescingCache<String, String> cache = CoalescingCache.<String, String>builder().maximumSize(100).build();
    ShepherdMetrics.bindCache(registry, "products", cache);
    cache.fetch("a", key -> Load.commit("A"));
    cache.fetch("a", key -> Load.commit("A"));
    cache.fetch("a", key -> Load.commit("A"));
    assertThat(counter("shepherd.cache.requests", "cache", "products", "result", "loaded")).isEqualTo(1);
    assertThat(counter("shepherd.cache.requests", "cache", "products", "result", "hit")).isEqualTo(2);
    assertThat(registry.get("shepherd.cache.size").tags("cache", "products").gauge().value()).isEqualTo(1);
  }

  @Test
  void configuredBoundsAreTheOnesInEachComponentsConfig() throws Exception {
    CoalescingCache<String, String> cache = CoalescingCache.<String, String>builder()
        .maximumSize(123).timeToLive(Duration.ofSeconds(42)).build();
    ShepherdMetrics.bindCache(registry, "bounded", cache);
    assertThat(registry.get("shepherd.cache.max.size").tags("cache", "bounded").gauge().value()).isEqualTo(123);
    assertThat(registry.get("shepherd.cache.ttl").tags("cache", "bounded").timeGauge().value(TimeUnit.SECONDS))
        .isEqualTo(42);
    assertThat(registry.find("shepherd.cache.max.weight").gauges()).as("no weight bound configured").isEmpty();

    FunctionRegistry functions = FunctionRegistry.builder().register("double", x -> ((Long) x) * 2).build();
    try (ElasticPool pool = ElasticPool.builder().name("limits").backend(LocalBackend.of(functions))
        .min(0).max(3).maxConcurrency(4).callTimeout(Duration.ofSeconds(9)).build()) {
      ShepherdMetrics.bindPool(registry, pool);
      assertThat(registry.get("shepherd.pool.runners.min").tags("pool", "limits").gauge().value()).isZero();
      assertThat(registry.get("shepherd.pool.runners.max").tags("pool", "limits").gauge().value()).isEqualTo(3);
      assertThat(registry.get("shepherd.pool.runner.slots").tags("pool", "limits").gauge().value()).isEqualTo(4);
      assertThat(registry.get("shepherd.pool.call.timeout").tags("pool", "limits").timeGauge().value(TimeUnit.SECONDS))
          .isEqualTo(9);
    }

    try (Watcher<Optional<String>> watcher = Watcher.builder(InMemoryVersionedStore.<String>create())
        .maxWait(Duration.ofSeconds(7)).build()) {
      ShepherdMetrics.bindWatcher(registry, "flags", watcher);
      assertThat(registry.get("shepherd.watch.max.wait").tags("watcher", "flags").timeGauge().value(TimeUnit.SECONDS))
          .isEqualTo(7);
    }
  }

  @Test
  void idempotencyClaimsAreCountedByOutcome() {
    try (IdempotencyTracker tracker = IdempotencyTracker.builder()
        .store(ShepherdMetrics.meteredStore(registry, "orders", InMemoryIdempotencyStore.create()))
        .build()) {
      Tracked first = tracker.track("k1", "f1");
      assertThat(first).isInstanceOf(Tracked.Claimed.class);
      assertThat(tracker.track("k1", "f1")).isInstanceOf(Tracked.InProgress.class);
      tracker.complete((Tracked.Claimed) first, new StoredResponse(201, List.of(), new byte[] {1}, Instant.now()));
      assertThat(tracker.track("k1", "f1")).isInstanceOf(Tracked.Completed.class);
      assertThat(tracker.track("k1", "other")).isInstanceOf(Tracked.Mismatch.class);
    }
    assertThat(registry.get("shepherd.idempotency.claims").tags("outcome", "claimed").counter().count()).isEqualTo(1);
    assertThat(registry.get("shepherd.idempotency.claims").tags("outcome", "in_progress").counter().count()).isEqualTo(1);
    assertThat(registry.get("shepherd.idempotency.claims").tags("outcome", "completed").counter().count()).isEqualTo(1);
    assertThat(registry.get("shepherd.idempotency.claims").tags("outcome", "mismatch").counter().count()).isEqualTo(1);
    assertThat(registry.get("shepherd.idempotency.finishes").tags("how", "complete").counter().count()).isEqualTo(1);
  }

  /**
   * The tracker tags each claim with an id so that it can release a claim whose reply it never
   * got; a metered store must pass that id on (and count the claim once), or such a claim stays
   * an orphan whenever metrics are on.
   */
  @Test
  void aMeteredStorePassesTheClaimIdOnSoALostClaimCanBeReleased() {
    var store = ShepherdMetrics.meteredStore(registry, "ids", InMemoryIdempotencyStore.create());
    Tracked claimed = store.claim("k", "f", Duration.ofMinutes(1), Duration.ofHours(1),
        dev.shepherd.idempotency.OrphanPolicy.TAKE_OVER, "claim-1");
    assertThat(claimed).isInstanceOf(Tracked.Claimed.class);
    assertThat(store.releaseClaim("k", "claim-2")).isFalse();
    assertThat(store.releaseClaim("k", "claim-1")).isTrue();
    assertThat(store.claim("k", "f", Duration.ofMinutes(1), Duration.ofHours(1),
        dev.shepherd.idempotency.OrphanPolicy.TAKE_OVER, "claim-3"))
        .as("released, so claimable again at once").isInstanceOf(Tracked.Claimed.class);
    assertThat(registry.get("shepherd.idempotency.claims").tags("store", "ids", "outcome", "claimed")
        .counter().count()).isEqualTo(2);
    assertThat(registry.get("shepherd.idempotency.finishes").tags("store", "ids", "how", "release")
        .counter().count()).isEqualTo(1);
  }

  @Test
  void watchSubscribersAndUpstreamQueriesAreVisible() throws Exception {
    InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
    store.put("flags", "on");
    List<Object> events = new CopyOnWriteArrayList<>();
    try (Watcher<Optional<String>> watcher = Watcher.builder(store).build()) {
      ShepherdMetrics.bindWatcher(registry, "config", watcher);
      ShepherdMetrics.bindVersionedStore(registry, "config", store);
      try (Subscription<Optional<String>> a = watcher.watch("flags", "a", events::add);
          Subscription<Optional<String>> b = watcher.watch("flags", "b", events::add)) {
        assertThat(List.of(a, b)).hasSize(2);
        assertThat(registry.get("shepherd.watch.subscribers").gauge().value()).isEqualTo(2);
        assertThat(registry.get("shepherd.watch.keys").gauge().value()).isEqualTo(1);
        org.awaitility.Awaitility.await().until(() -> counter("shepherd.watch.upstream.queries", "store", "config") >= 1);
      }
    }
  }

  @Test
  void poolRunnersAndBootsAreVisible() throws Exception {
    FunctionRegistry functions = FunctionRegistry.builder().register("double", x -> ((Long) x) * 2).build();
    try (ElasticPool pool = ElasticPool.builder().name("reports").backend(LocalBackend.of(functions)).max(2).build()) {
      ShepherdMetrics.bindPool(registry, pool);
      assertThat(pool.call("double", 21L)).isEqualTo(42L);
      assertThat(counter("shepherd.pool.boots", "pool", "reports", "result", "ok")).isEqualTo(1);
      assertThat(registry.get("shepherd.pool.runners").tags("state", "ready").gauge().value()).isEqualTo(1);
      assertThat(registry.get("shepherd.pool.busy.slots").gauge().value()).isZero();
    }
  }

  @Test
  void replicaReadsAreCountedAndTheirWaitIsTimed() throws Exception {
    PGSimpleDataSource primary = new PGSimpleDataSource();
    primary.setURL(pg.primaryJdbcUrl());
    PGSimpleDataSource replica = new PGSimpleDataSource();
    replica.setURL(pg.replicaJdbcUrl());
    try (ReplicaTracker tracker = ReplicaTracker.builder(replica).name("replica-1").build()) {
      ShepherdMetrics.bindReplicaTracker(registry, tracker);
      assertThat(registry.get("shepherd.replica.poll.interval.max").tags("replica", "replica-1").timeGauge()
          .value(TimeUnit.NANOSECONDS)).isEqualTo(tracker.config().maxPollInterval().toNanos());
      ReplicaRouter router = ReplicaRouter.builder(primary).replica(tracker).maxWait(Duration.ofSeconds(5))
          .listener(ShepherdMetrics.routeListener(registry, "orders")).build();
      Lsn written;
      try (Connection c = primary.getConnection(); Statement s = c.createStatement()) {
        s.execute("CREATE TABLE IF NOT EXISTS m (id int)");
        s.execute("INSERT INTO m VALUES (1)");
        written = WritePosition.afterCommit(c);
      }
      int rows = router.read(written, c -> {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT count(*) FROM m")) {
          rs.next();
          return rs.getInt(1);
        }
      });
      assertThat(rows).isEqualTo(1);
    }
    assertThat(registry.get("shepherd.replica.reads").tags("target", "replica").counter().count()).isEqualTo(1);
    Timer wait = registry.get("shepherd.replica.wait").timer();
    assertThat(wait.count()).isEqualTo(1);
  }
}
