package dev.shepherd.pool;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Bad input is refused with a message naming the value and the limit. */
class BadInputTest {

  private static ElasticPoolBuilder builder() {
    return ElasticPool.builder().backend(LocalBackend.of(new TestFunctions().create()));
  }

  @Test
  void minAboveMaxIsRefused() {
    assertThatThrownBy(() -> builder().min(3).max(2).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("min must be at most max (2), was 3");
  }

  @Test
  void negativeMinAndZeroMaxAreRefused() {
    assertThatThrownBy(() -> builder().min(-1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("min must be at least 0, was -1");
    assertThatThrownBy(() -> builder().max(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("max must be at least 1, was 0");
  }

  @Test
  void zeroConcurrencyIsRefused() {
    assertThatThrownBy(() -> builder().maxConcurrency(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxConcurrency must be at least 1, was 0");
  }

  @Test
  void nonPositiveDurationsAreRefused() {
    assertThatThrownBy(() -> builder().callTimeout(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("callTimeout must be positive, was PT0S");
    assertThatThrownBy(() -> builder().bootTimeout(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("bootTimeout must be positive, was PT-1S");
    assertThatThrownBy(() -> builder().shutdownTimeout(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("shutdownTimeout must be positive, was PT0S");
    assertThatThrownBy(() -> builder().idleShutdownAfter(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("idleShutdownAfter must be positive, was PT0S");
    assertThatThrownBy(() -> builder().minIdleShutdownAfter(Duration.ofMillis(-5)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("minIdleShutdownAfter must be positive, was PT-0.005S");
    try (ElasticPool pool = builder().build()) {
      assertThatThrownBy(() -> pool.call("echo", 1, Duration.ZERO))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("timeout must be positive, was PT0S");
    }
  }

  @Test
  void resizeChecksItsBounds() {
    try (ElasticPool pool = builder().build()) {
      assertThatThrownBy(() -> pool.resize(5, 2))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("min must be at most max (2), was 5");
    }
  }

  @Test
  void aMissingBackendIsNamed() {
    assertThatThrownBy(() -> ElasticPool.builder().build())
        .isInstanceOf(NullPointerException.class)
        .hasMessage("backend must not be null");
  }

  @Test
  void anUnknownFunctionIsNamedWithTheRegisteredOnes() {
    try (ElasticPool pool = builder().build()) {
      assertThatThrownBy(() -> pool.call("sqaure", 2L))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage(
              "unknown function \"sqaure\"; registered functions are [badResult,"
                  + " bigResultEncodedUntilCancelled, bytes, count, echo, fail, gate, pid, print,"
                  + " record, resultThatThrowsWhenEncoded, sleep, spin, square, throwDeep, touch]");
      assertThatThrownBy(() -> pool.callAsync("sqaure", 2L)).isInstanceOf(IllegalArgumentException.class);
    }
  }

  @Test
  void aFunctionNameRegisteredTwiceIsRefused() {
    assertThatThrownBy(() -> FunctionRegistry.builder().register("a", x -> x).register("a", x -> x))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("function \"a\" is already registered");
  }

  /** Not public: a runner could not instantiate it. */
  static final class HiddenFunctions implements FunctionRegistryFactory {
    @Override
    public FunctionRegistry create() {
      return FunctionRegistry.builder().build();
    }
  }

  @Test
  void aFunctionsClassRunnersCannotInstantiateIsRefusedAtBuild() {
    assertThatThrownBy(() -> ProcessBackend.builder().functions(HiddenFunctions.class).build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("must be a public class");
  }
}
