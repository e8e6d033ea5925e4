package dev.shepherd.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class DeadlineTest {

  @Test
  void remainingShrinksAsTheTickerAdvancesAndStopsAtZero() {
    ManualTicker ticker = new ManualTicker(0);
    Deadline deadline = Deadline.after(Duration.ofSeconds(10), ticker);
    assertThat(deadline.remaining()).isEqualTo(Duration.ofSeconds(10));
    ticker.advance(TimeUnit.SECONDS.toNanos(4));
    assertThat(deadline.remaining()).isEqualTo(Duration.ofSeconds(6));
    assertThat(deadline.isExpired()).isFalse();
    ticker.advance(TimeUnit.SECONDS.toNanos(6));
    assertThat(deadline.isExpired()).isTrue();
    ticker.advance(TimeUnit.DAYS.toNanos(1));
    assertThat(deadline.remaining()).isEqualTo(Duration.ZERO);
    assertThat(deadline.elapsed()).isEqualTo(Duration.ofDays(1).plusSeconds(10));
  }

  @Test
  void zeroOrNegativeTimeoutHasAlreadyPassed() {
    ManualTicker ticker = new ManualTicker(0);
    assertThat(Deadline.after(Duration.ZERO, ticker).isExpired()).isTrue();
    assertThat(Deadline.after(Duration.ofSeconds(-5), ticker).isExpired()).isTrue();
  }

  @Test
  void hugeTimeoutNeverPassesAndDoesNotOverflow() {
    ManualTicker ticker = new ManualTicker(Long.MAX_VALUE - 10);
    Deadline deadline = Deadline.after(ChronoUnit.FOREVER.getDuration(), ticker);
    assertThat(deadline.isInfinite()).isTrue();
    ticker.advance(Long.MAX_VALUE);
    assertThat(deadline.isExpired()).isFalse();
    assertThat(deadline.remainingNanos()).isEqualTo(Long.MAX_VALUE);
  }

  @Test
  void tickerWrappingPastLongMaxValueIsHandled() {
    ManualTicker ticker = new ManualTicker(Long.MAX_VALUE - 5);
    Deadline deadline = Deadline.after(Duration.ofNanos(100), ticker);
    ticker.advance(50); // wraps to negative readings
    assertThat(deadline.remainingNanos()).isEqualTo(50);
    ticker.advance(50);
    assertThat(deadline.isExpired()).isTrue();
  }

  @Test
  void tickerGoingBackwardsNeverGrantsMoreThanTheTimeout() {
    ManualTicker ticker = new ManualTicker(0);
    Deadline deadline = Deadline.after(Duration.ofNanos(100), ticker);
    ticker.advance(-1_000);
    assertThat(deadline.remainingNanos()).isEqualTo(100);
  }

  @Test
  void minPicksTheEarlierDeadline() {
    ManualTicker ticker = new ManualTicker(0);
    Deadline soon = Deadline.after(Duration.ofSeconds(1), ticker);
    Deadline later = Deadline.after(Duration.ofSeconds(2), ticker);
    assertThat(soon.min(later)).isSameAs(soon);
    assertThat(later.min(soon)).isSameAs(soon);
    assertThat(Deadline.never(ticker).min(soon)).isSameAs(soon);
  }

  @Test
  void nullArgumentsAreNamed() {
    assertThatThrownBy(() -> Deadline.after(null, Ticker.system()))
        .isInstanceOf(NullPointerException.class).hasMessage("timeout must not be null");
    assertThatThrownBy(() -> Deadline.after(Duration.ZERO, null))
        .isInstanceOf(NullPointerException.class).hasMessage("ticker must not be null");
  }

  @Test
  void systemTickerIsMonotonic() {
    Ticker ticker = Ticker.system();
    long previous = ticker.read();
    for (int i = 0; i < 10_000; i++) {
      long now = ticker.read();
      assertThat(now - previous).isNotNegative();
      previous = now;
    }
  }
}
