package dev.shepherd.replica;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class PollIntervalTest {

  @Test
  void startsAtTheMinimum() {
    assertThat(new PollInterval(500_000, 50_000_000).nanos()).isEqualTo(500_000);
  }

  @Test
  void doublesWhileNothingChangesUpToTheMaximum() {
    PollInterval interval = new PollInterval(500_000, 50_000_000);
    long[] expected = {1_000_000, 2_000_000, 4_000_000, 8_000_000, 16_000_000, 32_000_000, 50_000_000, 50_000_000};
    for (long e : expected) {
      interval.backOff();
      assertThat(interval.nanos()).isEqualTo(e);
    }
  }

  @Test
  void resetsToTheMinimumWhenReplayMoves() {
    PollInterval interval = new PollInterval(500_000, 50_000_000);
    interval.backOff();
    interval.backOff();
    interval.reset();
    assertThat(interval.nanos()).isEqualTo(500_000);
  }

  @Test
  void neverOverflowsNearLongMax() {
    PollInterval interval = new PollInterval(Long.MAX_VALUE / 2 + 1, Long.MAX_VALUE);
    interval.backOff();
    assertThat(interval.nanos()).isEqualTo(Long.MAX_VALUE);
  }
}
