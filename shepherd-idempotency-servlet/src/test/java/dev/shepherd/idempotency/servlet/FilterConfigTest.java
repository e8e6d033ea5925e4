package dev.shepherd.idempotency.servlet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.InMemoryIdempotencyStore;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The filter's settings are readable, immutable, and checked at build. */
class FilterConfigTest {

  @Test
  void configHoldsTheDefaultsAndWhatTheBuilderSet() {
    try (IdempotencyTracker tracker =
        IdempotencyTracker.builder().store(InMemoryIdempotencyStore.create()).build()) {
      IdempotencyFilter.Config defaults = IdempotencyFilter.builder(tracker).build().config();
      IdempotencyFilter.Config custom = IdempotencyFilter.builder(tracker)
          .methods("post", "put").maxBodySize(10).store5xx(false).allowAnonymous(true)
          .releaseUnstored(true).retryAfter(Duration.ofSeconds(3)).build().config();

      assertThat(defaults.methods()).containsExactly("PATCH", "POST");
      assertThat(defaults.keyPolicy()).isEqualTo(KeyPolicy.REQUIRED);
      assertThat(defaults.maxBodySize()).isEqualTo(1 << 20);
      assertThat(defaults.allowAnonymous()).isFalse();
      assertThat(defaults.releaseUnstored()).isFalse();
      assertThat(defaults.transactional()).isFalse();
      assertThat(defaults.maxFormContentSize()).isEqualTo(200_000);
      assertThat(defaults.maxFormKeys()).isEqualTo(1000);
      assertThat(IdempotencyFilter.builder(tracker).maxFormContentSize(5).maxFormKeys(2).build()
          .config()).extracting(c -> c.maxFormContentSize() + "/" + c.maxFormKeys())
          .isEqualTo("5/2");
      assertThat(defaults.replayDenyList()).contains("set-cookie").isSorted();
      assertThat(custom.methods()).containsExactly("POST", "PUT");
      assertThat(custom.maxBodySize()).isEqualTo(10);
      assertThat(custom.store5xx()).isFalse();
      assertThat(custom.allowAnonymous()).isTrue();
      assertThat(custom.releaseUnstored()).isTrue();
      assertThat(custom.retryAfter()).isEqualTo(Duration.ofSeconds(3));
      assertThatThrownBy(() -> custom.methods().add("GET"))
          .isInstanceOf(UnsupportedOperationException.class);
      assertThat(tracker.config().lease()).isEqualTo(Duration.ofSeconds(60));
      assertThat(tracker.config().completionRetry()).isEqualTo(Duration.ofSeconds(5));
      assertThat(List.of(tracker.config().heartbeatInterval()))
          .containsExactly(Duration.ofSeconds(20));
    }
  }

  @Test
  void transactionalNeedsAJdbcStoreAndExcludesReleaseUnstored() {
    try (IdempotencyTracker tracker =
        IdempotencyTracker.builder().store(InMemoryIdempotencyStore.create()).build()) {
      assertThatThrownBy(() -> IdempotencyFilter.builder(tracker).transactional(true).build())
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("needs a tracker over a JdbcIdempotencyStore");
    }
  }
}
