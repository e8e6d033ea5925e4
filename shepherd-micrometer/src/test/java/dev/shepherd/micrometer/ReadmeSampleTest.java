package dev.shepherd.micrometer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.JdbcIdempotencyStore;
import dev.shepherd.pool.ElasticPool;
import dev.shepherd.pool.FunctionRegistry;
import dev.shepherd.pool.LocalBackend;
import dev.shepherd.replica.ReplicaRouter;
import dev.shepherd.replica.ReplicaTracker;
import dev.shepherd.testing.PostgresCluster;
import dev.shepherd.watch.InMemoryVersionedStore;
import dev.shepherd.watch.Watcher;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.postgresql.ds.PGSimpleDataSource;

/** The README's sample, verbatim, run against real components. */
class ReadmeSampleTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.create();

  private static final Path SOURCE = Path.of("src/test/java/dev/shepherd/micrometer/ReadmeSampleTest.java");

  private static String normalized(String code) {
    return code.lines().map(String::strip).filter(l -> !l.isEmpty()).collect(Collectors.joining("\n"));
  }

  @Test
  void theReadmeSampleIsThisTestsCodeVerbatim() throws Exception {
    Matcher java = Pattern.compile("```java\\n(.*?)```", Pattern.DOTALL).matcher(Files.readString(Path.of("README.md")));
    assertThat(java.find()).isTrue();
    assertThat(normalized(Files.readString(SOURCE))).contains(normalized(java.group(1)));
  }

  @Test
  void theSampleBindsEveryComponentAndClosingRemovesEveryMeter() throws Exception {
    MeterRegistry registry = new SimpleMeterRegistry();
    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setURL(pg.primaryJdbcUrl());
    PGSimpleDataSource primary = ds;
    PGSimpleDataSource replica = new PGSimpleDataSource();
    replica.setURL(pg.replicaJdbcUrl());
    CoalescingCache<String, String> cache = CoalescingCache.<String, String>builder().build();
    InMemoryVersionedStore<String> inMemoryStore = InMemoryVersionedStore.create();
    FunctionRegistry functions = FunctionRegistry.builder().register("echo", x -> x).build();
    try (Watcher<Optional<String>> watcher = Watcher.builder(inMemoryStore).build();
        ReplicaTracker replicaTracker = ReplicaTracker.builder(replica).name("replica-1").build();
        ElasticPool pool = ElasticPool.builder().name("reports").backend(LocalBackend.of(functions)).build()) {
      List<String> added = new CopyOnWriteArrayList<>();
      registry.config().onMeterAdded(meter -> added.add(meter.getId().getName()));
      // The sample, as in the README:
      ShepherdMetrics.Binding meters = ShepherdMetrics.binding(registry)
          .cache("products", cache)
          .watcher("config", watcher)
          .versionedStore("config", inMemoryStore)
          .replicaTracker(replicaTracker)
          .pool(pool);
      IdempotencyStore store = meters.meteredStore("orders", JdbcIdempotencyStore.builder(ds).build());
      ReplicaRouter router = ReplicaRouter.builder(primary).replica(replicaTracker)
          .listener(meters.routeListener("orders")).build();
      // ... and when the components are closed:
      meters.close();

      assertThat(store).isNotNull();
      assertThat(router).isNotNull();
      assertThat(added).contains("shepherd.cache.size", "shepherd.watch.keys", "shepherd.watch.upstream.queries",
          "shepherd.replica.poller.queries", "shepherd.pool.runners", "shepherd.idempotency.claims", "shepherd.replica.reads");
      assertThat(registry.getMeters()).extracting(Meter::getId).isEmpty();
    }
  }
}
