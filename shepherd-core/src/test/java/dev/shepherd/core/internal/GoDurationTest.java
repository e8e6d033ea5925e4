package dev.shepherd.core.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class GoDurationTest {

  @Test
  void parsesGoSyntaxWithEveryUnitAndCompounds() {
    assertThat(GoDuration.parse("10s")).isEqualTo(Duration.ofSeconds(10));
    assertThat(GoDuration.parse("5m")).isEqualTo(Duration.ofMinutes(5));
    assertThat(GoDuration.parse("1m30s")).isEqualTo(Duration.ofSeconds(90));
    assertThat(GoDuration.parse("250ms")).isEqualTo(Duration.ofMillis(250));
    assertThat(GoDuration.parse("1.5h")).isEqualTo(Duration.ofMinutes(90));
    assertThat(GoDuration.parse("7us")).isEqualTo(Duration.ofNanos(7_000));
    assertThat(GoDuration.parse("7\u00b5s")).isEqualTo(Duration.ofNanos(7_000));
    assertThat(GoDuration.parse("3ns")).isEqualTo(Duration.ofNanos(3));
    assertThat(GoDuration.parse("0")).isZero();
    assertThat(GoDuration.parse("-2s")).isEqualTo(Duration.ofSeconds(-2));
  }

  @Test
  void saturatesHugeValues() {
    assertThat(GoDuration.parse("9999999999999h")).isEqualTo(Duration.ofNanos(Long.MAX_VALUE));
  }

  @Test
  void rejectsWhatGoRejectsWithAMessageQuotingTheText() {
    for (String bad : new String[] {"", "10", "s", "10x", "1..2s", "--1s", "1s2", "\u0661s"}) {
      assertThatThrownBy(() -> GoDuration.parse(bad)).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("'" + bad + "'");
    }
  }

  @Test
  void rejectsOverlongTextWithoutParsingIt() {
    String longText = "1".repeat(10_000) + "s";
    assertThatThrownBy(() -> GoDuration.parse(longText)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("...");
  }

  @Test
  void parseNonNegativeNamesTheParameter() {
    assertThatThrownBy(() -> GoDuration.parseNonNegative("-1s", "wait"))
        .hasMessageContaining("wait must not be negative");
    assertThatThrownBy(() -> GoDuration.parseNonNegative("x", "wait")).hasMessageStartingWith("wait: ");
  }

  @Test
  void formatsInWholeMillisecondsRoundingUp() {
    assertThat(GoDuration.format(Duration.ofMinutes(5))).isEqualTo("300000ms");
    assertThat(GoDuration.format(Duration.ofNanos(1))).isEqualTo("1ms");
    assertThat(GoDuration.parse(GoDuration.format(Duration.ofMillis(1234)))).isEqualTo(Duration.ofMillis(1234));
  }
}
