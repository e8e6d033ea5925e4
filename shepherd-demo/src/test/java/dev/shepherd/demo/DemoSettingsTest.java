package dev.shepherd.demo;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.InMemoryIdempotencyStore;
import dev.shepherd.pool.ElasticPool;
import dev.shepherd.pool.FunctionRegistry;
import dev.shepherd.pool.LocalBackend;
import dev.shepherd.replica.ReplicaRouter;
import dev.shepherd.replica.ReplicaTracker;
import dev.shepherd.testing.PostgresCluster;
import dev.shepherd.watch.InMemoryVersionedStore;
import dev.shepherd.watch.Watcher;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.postgresql.ds.PGSimpleDataSource;

/** {@code GET /api/settings} shows what each real component was built with, read from its config. */
class DemoSettingsTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();

  @Test
  void settingsAreReadFromEachComponentsConfig() throws Exception {
    PGSimpleDataSource primary = new PGSimpleDataSource();
    primary.setURL(pg.primaryJdbcUrl());
    PGSimpleDataSource replica = new PGSimpleDataSource();
    replica.setURL(pg.replicaJdbcUrl());
    CoalescingCache<String, String> cache = CoalescingCache.<String, String>builder()
        .maximumSize(321).timeToLive(Duration.ofSeconds(17)).build();
    FunctionRegistry functions = FunctionRegistry.builder().register("double", x -> ((Long) x) * 2).build();
    try (IdempotencyTracker tracker = IdempotencyTracker.builder().store(InMemoryIdempotencyStore.create())
            .lease(Duration.ofSeconds(12)).build();
        ReplicaTracker replicaTracker = ReplicaTracker.builder(replica).name("r").build();
        Watcher<Optional<String>> watcher = Watcher.builder(InMemoryVersionedStore.<String>create())
            .maxWait(Duration.ofSeconds(40)).build();
        ElasticPool pool = ElasticPool.builder().name("p").backend(LocalBackend.of(functions))
            .min(0).max(5).maxConcurrency(3).callTimeout(Duration.ofSeconds(11)).build()) {
      ReplicaRouter router = ReplicaRouter.builder(primary).replica(replicaTracker).maxWait(Duration.ofMillis(750)).build();

      JsonNode settings = Json.read(Json.MAPPER.writeValueAsString(DemoSettings.of(cache, tracker, router, watcher, pool))
          .getBytes(StandardCharsets.UTF_8));

      assertThat(settings.path("cache").path("maximumSize").asLong()).isEqualTo(321);
      assertThat(settings.path("cache").path("timeToLiveMs").asLong()).isEqualTo(17_000);
      assertThat(settings.path("idempotency").path("leaseMs").asLong()).isEqualTo(12_000);
      assertThat(settings.path("replica").path("maxWaitMs").asLong()).isEqualTo(750);
      assertThat(settings.path("replica").path("replicas").asInt()).isEqualTo(1);
      assertThat(settings.path("watch").path("maxWaitMs").asLong()).isEqualTo(40_000);
      assertThat(settings.path("pool").path("maxRunners").asInt()).isEqualTo(5);
      assertThat(settings.path("pool").path("slotsPerRunner").asInt()).isEqualTo(3);
      assertThat(settings.path("pool").path("callTimeoutMs").asLong()).isEqualTo(11_000);
    }
  }
}
