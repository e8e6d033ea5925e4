package dev.shepherd.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class EventuallyTest {

  @AfterEach
  void clearScale() {
    System.clearProperty(Eventually.TIME_SCALE);
  }

  @Test
  void aConditionMadeTrueByAnotherThreadIsSeen() {
    AtomicInteger value = new AtomicInteger();
    Thread.ofVirtual().start(() -> value.set(42));
    Eventually.await("the value is 42").until(() -> value.get() == 42);
    assertThat(value).hasValue(42);
  }

  @Test
  void aConditionAlreadyTrueIsCheckedOnceAtOnce() {
    AtomicInteger checks = new AtomicInteger();
    Eventually.await("true at once").until(() -> checks.incrementAndGet() > 0);
    assertThat(checks).hasValue(1);
  }

  @Test
  void aConditionThatNeverHoldsFailsWithItsNameAndBound() {
    assertThatThrownBy(() -> Eventually.await("the moon is cheese", Duration.ofMillis(50))
        .until(() -> false))
        .isInstanceOf(ConditionTimeoutException.class)
        .hasMessageContaining("the moon is cheese")
        .hasMessageContaining("50 milliseconds");
  }

  @Test
  void theTimeScaleMultipliesEveryBound() {
    System.setProperty(Eventually.TIME_SCALE, "3");
    assertThat(Eventually.scaled(Duration.ofSeconds(10))).isEqualTo(Duration.ofSeconds(30));
    assertThatThrownBy(() -> Eventually.await("x", Duration.ofMillis(20)).until(() -> false))
        .hasMessageContaining("60 milliseconds");
  }

  @Test
  void badInputIsNamed() {
    System.setProperty(Eventually.TIME_SCALE, "fast");
    assertThatThrownBy(() -> Eventually.scaled(Duration.ofSeconds(1)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("shepherd.test.timeScale")
        .hasMessageContaining("fast");
    System.setProperty(Eventually.TIME_SCALE, "50");
    assertThatThrownBy(() -> Eventually.scaled(Duration.ofSeconds(1)))
        .hasMessageContaining("from 1 to 20, was 50");
    System.clearProperty(Eventually.TIME_SCALE);
    assertThatThrownBy(() -> Eventually.await(" ")).hasMessageContaining("what must not be blank");
    assertThatThrownBy(() -> Eventually.scaled(Duration.ZERO)).hasMessageContaining("bound");
  }
}
