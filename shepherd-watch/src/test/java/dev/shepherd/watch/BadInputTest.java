package dev.shepherd.watch;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Requirement 11: bad input gets a clear exception. */
class BadInputTest {

  private final InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
  private final Watcher<java.util.Optional<String>> watcher = Watcher.builder(store).build();

  @AfterEach
  void close() {
    watcher.close();
  }

  @Test
  void aNullKeyIsRejectedNamingTheParameter() {
    assertThatThrownBy(() -> watcher.watch(nullString(), "c", e -> {}))
        .isInstanceOf(NullPointerException.class).hasMessage("key must not be null");
    assertThatThrownBy(() -> store.fetch(nullString(), 0, Duration.ZERO))
        .isInstanceOf(NullPointerException.class).hasMessage("key must not be null");
  }

  @Test
  void anEmptyKeyIsRejected() {
    assertThatThrownBy(() -> watcher.watch("", "c", e -> {}))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("key must not be empty");
    assertThatThrownBy(() -> store.put("", "v"))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("key must not be empty");
  }

  @Test
  void aNegativeWaitIsRejectedNamingTheValue() {
    assertThatThrownBy(() -> Watcher.builder(store).maxWait(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxWait must be positive, was PT-1S");
    assertThatThrownBy(() -> store.fetch("k", 0, Duration.ofMillis(-5)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxWait must not be negative, was PT-0.005S");
  }

  @Test
  void aNegativeIndexIsRejected() {
    assertThatThrownBy(() -> store.fetch("k", -1, Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("minIndex must be at least 0, was -1");
    assertThatThrownBy(() -> new Versioned<>("v", -1))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("index must be at least 0, was -1");
  }

  @Test
  void nullSinkAndCorrelationIdAreRejected() {
    assertThatThrownBy(() -> watcher.watch("k", nullString(), e -> {}))
        .isInstanceOf(NullPointerException.class).hasMessage("correlationId must not be null");
    assertThatThrownBy(() -> watcher.watch("k", "c", null))
        .isInstanceOf(NullPointerException.class).hasMessage("sink must not be null");
  }

  private static String nullString() {
    return null;
  }
}
