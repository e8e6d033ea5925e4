package dev.shepherd.core.internal;

import dev.shepherd.core.ShepherdException;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class RequireTest {

  @Test
  void messagesNameTheValueAndTheLimit() {
    assertThatThrownBy(() -> Require.nonNull(null, "key"))
        .isInstanceOf(NullPointerException.class).hasMessage("key must not be null");
    assertThatThrownBy(() -> Require.positive(Duration.ofMillis(-3), "ttl"))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("ttl must be positive, was PT-0.003S");
    assertThatThrownBy(() -> Require.atLeast(2, 4, "max"))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("max must be at least 4, was 2");
    assertThatThrownBy(() -> Require.atLeast(-1L, 0L, "size"))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("size must be at least 0, was -1");
    assertThatThrownBy(() -> Require.inRange(0, 1, 255, "key length"))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("key length must be between 1 and 255, was 0");
    assertThatThrownBy(() -> Require.inRange(Double.NaN, 0, 1, "jitter"))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("jitter must be between 0.0 and 1.0, was NaN");
    assertThatThrownBy(() -> Require.notEmpty("", "name"))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("name must not be empty");
    assertThatThrownBy(() -> Require.state(false, "pool is closed"))
        .isInstanceOf(IllegalStateException.class).hasMessage("pool is closed");
  }

  @Test
  void validValuesPassThrough() {
    assertThat(Require.positive(Duration.ofNanos(1), "t")).isEqualTo(Duration.ofNanos(1));
    assertThat(Require.nonNegative(Duration.ZERO, "t")).isZero();
    assertThat(Require.inRange(255, 1, 255, "n")).isEqualTo(255);
    assertThat(Require.notEmpty("k", "k")).isEqualTo("k");
  }

  @Test
  void shepherdExceptionKeepsItsCause() {
    IllegalStateException cause = new IllegalStateException("boom");
    ShepherdException e = new ShepherdException("load of key 'a' failed", cause);
    assertThat(e).isInstanceOf(RuntimeException.class).hasMessage("load of key 'a' failed").hasCause(cause);
  }
}
