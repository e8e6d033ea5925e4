package dev.shepherd.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shepherd.core.Ticker;
import dev.shepherd.testing.FakeTicker;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

/** The builders' settings, readable as immutable configs (building sends no query). */
class ReplicaConfigTest {

  final PGSimpleDataSource replica = new PGSimpleDataSource();
  final PGSimpleDataSource primary = new PGSimpleDataSource();

  @Test
  void aTrackerBuiltWithDefaultsReportsThem() {
    ReplicaTracker.Config config = ReplicaTracker.builder(replica).build().config();
    assertThat(config).isEqualTo(new ReplicaTracker.Config("replica", Duration.ofNanos(500_000), Duration.ofMillis(50),
        Duration.ofSeconds(1), Duration.ofSeconds(1), Duration.ofSeconds(2), ReplayStrategy.AUTO, null, Ticker.system()));
  }

  @Test
  void aTrackerReportsEverySettingItWasBuiltWith() {
    Executor executor = Runnable::run;
    FakeTicker ticker = new FakeTicker();
    ReplicaTracker tracker = ReplicaTracker.builder(replica).name("r2").minPollInterval(Duration.ofMillis(1))
        .maxPollInterval(Duration.ofMillis(80)).retryInterval(Duration.ZERO).stallCheckAfter(Duration.ofSeconds(3))
        .queryTimeout(Duration.ofMillis(700)).strategy(ReplayStrategy.POLLING).executor(executor).ticker(ticker).build();
    assertThat(tracker.config()).isEqualTo(new ReplicaTracker.Config("r2", Duration.ofMillis(1), Duration.ofMillis(80),
        Duration.ZERO, Duration.ofSeconds(3), Duration.ofMillis(700), ReplayStrategy.POLLING, executor, ticker));
    assertThat(tracker.name()).isEqualTo("r2");
    assertThatThrownBy(() -> new ReplicaTracker.Config("x", Duration.ofMillis(2), Duration.ofMillis(1), Duration.ZERO,
        Duration.ofSeconds(1), Duration.ofSeconds(1), ReplayStrategy.AUTO, null, ticker))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("minPollInterval must be at most");
  }

  @Test
  void aRouterReportsItsSettingsAndItsReplicaListCannotChange() {
    ReplicaTracker a = ReplicaTracker.builder(replica).name("a").build();
    ReplicaTracker b = ReplicaTracker.builder(replica).name("b").build();
    Consumer<Route> listener = route -> {};
    FakeTicker ticker = new FakeTicker();
    ReplicaRouter.Builder builder = ReplicaRouter.builder(primary).replica(a).replica(b)
        .maxWait(Duration.ofMillis(150)).listener(listener).ticker(ticker);
    ReplicaRouter router = builder.build();
    builder.replica(ReplicaTracker.builder(replica).name("c").build());
    assertThat(router.config()).isEqualTo(new ReplicaRouter.Config(List.of(a, b), Duration.ofMillis(150), listener, ticker));
    assertThatThrownBy(() -> router.config().replicas().add(a)).isInstanceOf(UnsupportedOperationException.class);
    List<ReplicaTracker> source = new ArrayList<>(List.of(a));
    ReplicaRouter.Config copied = new ReplicaRouter.Config(source, Duration.ZERO, listener, ticker);
    source.add(b);
    assertThat(copied.replicas()).containsExactly(a);
    assertThat(ReplicaRouter.builder(primary).build().config().maxWait()).isEqualTo(Duration.ofMillis(500));
  }

  @Test
  void aRouterConfigBuiltByHandWithoutReplicasNamesTheMissingList() {
    assertThatThrownBy(() -> new ReplicaRouter.Config(null, Duration.ZERO, route -> {}, new FakeTicker()))
        .isInstanceOf(NullPointerException.class).hasMessageContaining("replicas");
  }
}
