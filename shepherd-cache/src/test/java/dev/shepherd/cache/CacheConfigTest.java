package dev.shepherd.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shepherd.core.Ticker;
import dev.shepherd.testing.FakeTicker;
import java.time.Duration;
import java.util.concurrent.Executor;
import org.junit.jupiter.api.Test;

class CacheConfigTest {

  @Test
  void theBuildersSettingsAreReadableThroughConfig() {
    FakeTicker ticker = new FakeTicker();
    Executor executor = Runnable::run;
    Courier courier = Courier.local(executor);
    CoalescingCache<String, String> cache = CoalescingCache.<String, String>builder()
        .maximumSize(100)
        .timeToLive(Duration.ofMinutes(5))
        .ticker(ticker)
        .executor(executor)
        .courier(courier)
        .cacheFailuresFor(Duration.ofSeconds(2))
        .serveStaleOnError(Duration.ofMinutes(30))
        .cancelWhenAbandoned(true)
        .loadTimeout(Duration.ofSeconds(10))
        .recordStats(false)
        .build();

    assertThat(cache.config()).isEqualTo(new CacheConfig<String, String>(
        100, -1, null, Duration.ofMinutes(5), ticker, executor, courier, Duration.ofSeconds(2),
        Duration.ofMinutes(30), true, Duration.ofSeconds(10), false));
  }

  @Test
  void theDefaultsAreReadableToo() {
    CacheConfig<String, String> config = CoalescingCache.<String, String>builder().config();

    assertThat(config.maximumSize()).isEqualTo(-1);
    assertThat(config.weigher()).isNull();
    assertThat(config.timeToLive()).isNull();
    assertThat(config.ticker()).isSameAs(Ticker.system());
    assertThat(config.courier().toString()).startsWith("Courier.local(");
    assertThat(config.cacheFailuresFor()).isNull();
    assertThat(config.serveStaleOnError()).isNull();
    assertThat(config.cancelWhenAbandoned()).isFalse();
    assertThat(config.loadTimeout()).isEqualTo(Duration.ofMinutes(1));
    assertThat(config.recordStats()).isTrue();
  }

  @Test
  void aWeigherComesWithItsBoundAndAConfigRejectsBadSettings() {
    CacheConfig<String, String> weighed = CoalescingCache.<String, String>builder()
        .weigher(1_000, (k, v) -> v.length()).config();
    assertThat(weighed.maximumWeight()).isEqualTo(1_000);
    assertThat(weighed.maximumSize()).isEqualTo(-1);

    assertThatThrownBy(() -> new CacheConfig<String, String>(-1, -1, null, Duration.ZERO,
        Ticker.system(), Runnable::run, Courier.local(Runnable::run), null, null, false,
        Duration.ofSeconds(1), true))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("timeToLive");
  }
}
