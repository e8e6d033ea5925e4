package dev.shepherd.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shepherd.pool.spi.Backend;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The immutable configuration a pool's builder produces and the pool exposes. */
class ElasticPoolConfigTest {

  private final Backend backend = LocalBackend.of(new TestFunctions().create());

  @Test
  void thePoolExposesTheConfigurationItWasBuiltWith() {
    IdleCheck check = runnerId -> true;
    try (ElasticPool pool =
        ElasticPool.builder()
            .name("reports")
            .backend(backend)
            .max(3)
            .maxConcurrency(7)
            .callTimeout(Duration.ofSeconds(4))
            .idleShutdownAfter(Duration.ofMinutes(2), check)
            .cancelGrace(Duration.ofMillis(1500))
            .build()) {
      ElasticPoolConfig config = pool.config();
      assertThat(config.name()).isEqualTo("reports");
      assertThat(config.backend()).isSameAs(backend);
      assertThat(config.min()).isZero();
      assertThat(config.max()).isEqualTo(3);
      assertThat(config.maxConcurrency()).isEqualTo(7);
      assertThat(config.callTimeout()).isEqualTo(Duration.ofSeconds(4));
      assertThat(config.idleShutdownAfter()).isEqualTo(Duration.ofMinutes(2));
      assertThat(config.idleCheck()).isSameAs(check);
      assertThat(config.cancelGrace()).isEqualTo(Duration.ofMillis(1500));
      assertThat(config.bootTimeout()).isEqualTo(Duration.ofSeconds(30));
      assertThat(config.isRunner()).isFalse();
      // resize changes the live bounds, not the configuration it was built with
      pool.resize(1, 2);
      assertThat(pool.snapshot().max()).isEqualTo(2);
      assertThat(pool.config().max()).isEqualTo(3);
    }
  }

  @Test
  void theBuildersConfigIsCheckedAndForcesMinToZeroInARunner() {
    ElasticPoolBuilder builder =
        ElasticPool.builder()
            .backend(backend)
            .min(2)
            .max(2)
            .environment(Map.of(RunnerEnvironment.PARENT, "127.0.0.1:1"));
    assertThat(builder.config().min()).isZero();
    assertThat(builder.config().isRunner()).isTrue();
    assertThatThrownBy(() -> ElasticPool.builder().backend(backend).min(3).max(2).config())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("min must be at most max (2), was 3");
  }

  @Test
  void waitersAreUnboundedByDefaultAndTheOldConstructorKeepsThatDefault() {
    ElasticPoolConfig unbounded = ElasticPool.builder().backend(backend).config();
    assertThat(unbounded.maxWaiters()).isEqualTo(Integer.MAX_VALUE);
    assertThat(ElasticPool.builder().backend(backend).maxWaiters(7).config().maxWaiters())
        .isEqualTo(7);
    assertThatThrownBy(() -> ElasticPool.builder().maxWaiters(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxWaiters must be at least 1, was 0");
    ElasticPoolConfig old =
        new ElasticPoolConfig(
            unbounded.name(), unbounded.backend(), unbounded.ticker(), unbounded.min(),
            unbounded.max(), unbounded.maxConcurrency(), unbounded.singleUse(),
            unbounded.callTimeout(), unbounded.bootTimeout(), unbounded.shutdownTimeout(),
            unbounded.idleShutdownAfter(), unbounded.idleCheck(),
            unbounded.minIdleShutdownAfter(), unbounded.housekeepingInterval(),
            unbounded.cancelGrace(), unbounded.isRunner(), unbounded.onGrowStart(),
            unbounded.onGrowEnd(), unbounded.onShrink(), unbounded.eventListener());
    assertThat(old).isEqualTo(unbounded);
  }
}
