package dev.shepherd.micrometer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.cache.Load;
import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.InMemoryIdempotencyStore;
import dev.shepherd.idempotency.Tracked;
import dev.shepherd.pool.ElasticPool;
import dev.shepherd.pool.FunctionRegistry;
import dev.shepherd.pool.LocalBackend;
import dev.shepherd.replica.ReplicaTracker;
import dev.shepherd.replica.Route;
import dev.shepherd.watch.InMemoryVersionedStore;
import dev.shepherd.watch.Subscription;
import dev.shepherd.watch.Watcher;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * {@link ShepherdMetrics.Binding}: closing it removes exactly the meters it registered, a component
 * bound again under the same name is then reported through meters of its own, and an id still bound
 * is refused instead of being shared.
 */
class ShepherdMetricsBindingTest {

  private final MeterRegistry registry = new SimpleMeterRegistry();

  private List<Meter.Id> shepherdMeters() {
    return registry.getMeters().stream().map(Meter::getId).filter(id -> id.getName().startsWith("shepherd.")).toList();
  }

  private static CoalescingCache<String, String> cacheWith(int entries) throws Exception {
    CoalescingCache<String, String> cache = CoalescingCache.<String, String>builder().maximumSize(100).build();
    for (int i = 0; i < entries; i++) {
      cache.fetch("k" + i, key -> Load.commit("v"));
    }
    return cache;
  }

  @Test
  void closingACacheBindingRemovesItsMetersAndACacheBoundAgainUnderTheNameReportsItsOwnFigures() throws Exception {
    CoalescingCache<String, String> first = cacheWith(3);
    ShepherdMetrics.Binding binding = ShepherdMetrics.binding(registry).cache("products", first);
    assertThat(registry.get("shepherd.cache.size").tags("cache", "products").gauge().value()).isEqualTo(3);
    assertThat(registry.get("shepherd.cache.requests").tags("cache", "products", "result", "loaded").functionCounter().count())
        .isEqualTo(3);
    List<Meter.Id> ids = binding.meterIds();
    assertThat(ids).hasSize(10).allMatch(id -> "products".equals(id.getTag("cache")));
    assertThat(shepherdMeters()).containsExactlyInAnyOrderElementsOf(ids);

    binding.close();
    assertThat(shepherdMeters()).isEmpty();
    assertThat(binding.meterIds()).isEmpty();
    assertThat(binding.isClosed()).isTrue();

    CoalescingCache<String, String> second = cacheWith(1);
    try (ShepherdMetrics.Binding again = ShepherdMetrics.binding(registry).cache("products", second)) {
      assertThat(again.meterIds()).hasSize(10);
      assertThat(registry.get("shepherd.cache.size").tags("cache", "products").gauge().value()).isEqualTo(1);
      assertThat(registry.get("shepherd.cache.requests").tags("cache", "products", "result", "loaded").functionCounter().count())
          .isEqualTo(1);
    }
    assertThat(shepherdMeters()).isEmpty();
  }

  @Test
  void aNameStillBoundIsRefusedAndTheRefusedBindingRegistersNothing() throws Exception {
    CoalescingCache<String, String> first = cacheWith(2);
    try (ShepherdMetrics.Binding binding = ShepherdMetrics.binding(registry).cache("products", first)) {
      List<Meter.Id> before = shepherdMeters();
      ShepherdMetrics.Binding other = ShepherdMetrics.binding(registry);
      assertThatThrownBy(() -> other.cache("products", cacheWith(1)))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("shepherd.cache.requests").hasMessageContaining("products")
          .hasMessageContaining("still open");
      assertThat(other.meterIds()).isEmpty();
      assertThat(shepherdMeters()).containsExactlyInAnyOrderElementsOf(before);
      assertThat(registry.get("shepherd.cache.size").tags("cache", "products").gauge().value())
          .as("still the first cache").isEqualTo(2);
      other.close();
      assertThat(shepherdMeters()).as("closing the refused binding removed none of the first one's meters")
          .containsExactlyInAnyOrderElementsOf(binding.meterIds());
    }
  }

  @Test
  void closeIsIdempotentAndAClosedBindingBindsNothing() throws Exception {
    ShepherdMetrics.Binding binding = ShepherdMetrics.binding(registry).cache("a", cacheWith(0));
    binding.close();
    binding.close();
    assertThatThrownBy(() -> binding.cache("b", cacheWith(0))).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("closed");
    assertThat(shepherdMeters()).isEmpty();
  }

  @Test
  void closingOneBindingLeavesTheOthersMeters() throws Exception {
    try (ShepherdMetrics.Binding kept = ShepherdMetrics.binding(registry).cache("kept", cacheWith(1))) {
      ShepherdMetrics.binding(registry).cache("gone", cacheWith(1)).close();
      assertThat(shepherdMeters()).isNotEmpty().allMatch(id -> "kept".equals(id.getTag("cache")))
          .containsExactlyInAnyOrderElementsOf(kept.meterIds());
    }
  }

  @Test
  void everyKindOfComponentLeavesTheRegistryWithItsBinding() throws Exception {
    FunctionRegistry functions = FunctionRegistry.builder().register("double", x -> ((Long) x) * 2).build();
    InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
    PGSimpleDataSource nowhere = new PGSimpleDataSource();
    nowhere.setURL("jdbc:postgresql://127.0.0.1:1/none");
    try (ElasticPool pool = ElasticPool.builder().name("reports").backend(LocalBackend.of(functions)).max(1).build();
        Watcher<Optional<String>> watcher = Watcher.builder(store).build();
        ReplicaTracker tracker = ReplicaTracker.builder(nowhere).name("replica-1").build();
        IdempotencyTracker idempotency = IdempotencyTracker.builder().store(InMemoryIdempotencyStore.create()).build()) {
      ShepherdMetrics.Binding binding = ShepherdMetrics.binding(registry)
          .pool(pool).watcher("config", watcher).versionedStore("config", store).replicaTracker(tracker);
      IdempotencyStore metered = binding.meteredStore("orders", InMemoryIdempotencyStore.create());
      Consumer<Route> routes = binding.routeListener("orders");
      assertThat(metered).isNotNull();
      assertThat(routes).isNotNull();
      assertThat(shepherdMeters()).extracting(Meter.Id::getName).contains("shepherd.pool.runners", "shepherd.watch.keys",
          "shepherd.watch.upstream.queries", "shepherd.replica.poller.queries", "shepherd.idempotency.claims",
          "shepherd.replica.reads", "shepherd.replica.wait");
      assertThat(registry.get("shepherd.replica.reads").tags("router", "orders", "target", "primary", "reason", "timed_out")
          .counter().count()).as("every reason's counter exists from the start").isZero();
      // The wait timer's percentiles are gauges of their own, which Micrometer registers and removes with it.
      assertThat(shepherdMeters()).filteredOn(id -> !id.getName().equals("shepherd.replica.wait.percentile"))
          .containsExactlyInAnyOrderElementsOf(binding.meterIds());
      binding.close();
      assertThat(shepherdMeters()).isEmpty();

      // The store made by the closed binding still works, counting into meters no longer registered.
      try (IdempotencyTracker afterClose = IdempotencyTracker.builder().store(metered).build()) {
        assertThat(afterClose.track("k", "f")).isInstanceOf(Tracked.Claimed.class);
      }
      assertThat(shepherdMeters()).isEmpty();
      assertThat(idempotency).isNotNull();
    }
  }

  @Test
  void aWatcherBoundAgainUnderTheNameReportsItsOwnSubscribers() throws Exception {
    InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
    try (Watcher<Optional<String>> first = Watcher.builder(store).build();
        Subscription<Optional<String>> a = first.watch("flags", "a", e -> {});
        Subscription<Optional<String>> b = first.watch("flags", "b", e -> {})) {
      ShepherdMetrics.Binding binding = ShepherdMetrics.binding(registry).watcher("config", first);
      assertThat(List.of(a, b)).hasSize(2);
      assertThat(registry.get("shepherd.watch.subscribers").tags("watcher", "config").gauge().value()).isEqualTo(2);
      binding.close();
    }
    try (Watcher<Optional<String>> second = Watcher.builder(store).build();
        ShepherdMetrics.Binding binding = ShepherdMetrics.binding(registry).watcher("config", second)) {
      assertThat(binding.meterIds()).isNotEmpty();
      assertThat(registry.get("shepherd.watch.subscribers").tags("watcher", "config").gauge().value()).isZero();
    }
  }

  @Test
  void theOlderBindMethodsKeepTheirMetersAndReuseAnIdAlreadyRegistered() throws Exception {
    CoalescingCache<String, String> first = cacheWith(2);
    ShepherdMetrics.bindCache(registry, "products", first);
    ShepherdMetrics.bindCache(registry, "products", cacheWith(5));
    assertThat(registry.get("shepherd.cache.size").tags("cache", "products").gauge().value())
        .as("Micrometer hands back the first cache's gauge, which is why bindings exist").isEqualTo(2);
    assertThatThrownBy(() -> ShepherdMetrics.binding(registry).cache("products", cacheWith(1)))
        .isInstanceOf(IllegalStateException.class);
  }

  @Test
  void onACompositeRegistryTheMetersLeaveTheChildRegistriesToo() throws Exception {
    SimpleMeterRegistry child = new SimpleMeterRegistry();
    CompositeMeterRegistry composite = new CompositeMeterRegistry();
    composite.add(child);
    ShepherdMetrics.Binding binding = ShepherdMetrics.binding(composite).cache("products", cacheWith(1));
    assertThat(child.find("shepherd.cache.size").gauges()).hasSize(1);
    binding.close();
    assertThat(composite.getMeters()).isEmpty();
    assertThat(child.getMeters()).isEmpty();
  }

  @Test
  void manyBindingsOfOneNameRacingLeaveExactlyOneBound() throws Exception {
    int threads = 16;
    for (int round = 0; round < 50; round++) {
      CountDownLatch start = new CountDownLatch(1);
      List<Future<ShepherdMetrics.Binding>> results = new ArrayList<>();
      try (ExecutorService executor = Executors.newFixedThreadPool(threads)) {
        for (int t = 0; t < threads; t++) {
          CoalescingCache<String, String> cache = cacheWith(t);
          results.add(executor.submit(() -> {
            start.await();
            try {
              return ShepherdMetrics.binding(registry).cache("raced", cache);
            } catch (IllegalStateException refused) {
              return null;
            }
          }));
        }
        start.countDown();
        List<ShepherdMetrics.Binding> won = new ArrayList<>();
        for (Future<ShepherdMetrics.Binding> result : results) {
          ShepherdMetrics.Binding binding = result.get();
          if (binding != null) {
            won.add(binding);
          }
        }
        assertThat(won).hasSize(1);
        assertThat(shepherdMeters()).containsExactlyInAnyOrderElementsOf(won.get(0).meterIds());
        won.get(0).close();
        assertThat(shepherdMeters()).isEmpty();
      }
    }
  }
}
