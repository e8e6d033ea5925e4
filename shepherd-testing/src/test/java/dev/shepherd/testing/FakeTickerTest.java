package dev.shepherd.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shepherd.core.Deadline;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class FakeTickerTest {

  @Test
  void onlyMovesWhenAdvanced() {
    FakeTicker ticker = new FakeTicker();
    long start = ticker.read();
    assertThat(ticker.read()).isEqualTo(start);
    ticker.advance(Duration.ofHours(24));
    assertThat(ticker.read() - start).isEqualTo(Duration.ofHours(24).toNanos());
  }

  @Test
  void drivesDeadlines() {
    FakeTicker ticker = new FakeTicker(0);
    Deadline deadline = Deadline.after(Duration.ofSeconds(60), ticker);
    ticker.advance(Duration.ofSeconds(59));
    assertThat(deadline.isExpired()).isFalse();
    ticker.advanceNanos(1_000_000_000L);
    assertThat(deadline.isExpired()).isTrue();
  }

  @Test
  void refusesToGoBackwards() {
    FakeTicker ticker = new FakeTicker();
    assertThatThrownBy(() -> ticker.advance(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("duration must not be negative, was PT-1S");
  }
}
