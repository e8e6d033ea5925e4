package dev.shepherd.replica;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

class ConsistencyTokenPolicyTest {

  static final Instant NOW = Instant.parse("2026-12-04T21:00:00Z");
  final ConsistencyTokenPolicy policy = ConsistencyTokenPolicy.builder()
      .maxAge(Duration.ofMinutes(10)).clock(Clock.fixed(NOW, ZoneOffset.UTC)).build();

  @Test
  void aTokenWithinTheMaximumAgeIsUsable() {
    ConsistencyToken token = new ConsistencyToken(Lsn.parse("0/100"), NOW.minus(Duration.ofMinutes(10)), null);
    assertThat(policy.check(token)).isEqualTo(new ConsistencyTokenPolicy.Verdict.Usable(token));
  }

  @Test
  void aTokenOlderThanTheMaximumAgeIsExpired() {
    ConsistencyToken token = new ConsistencyToken(Lsn.parse("0/100"), NOW.minus(Duration.ofMinutes(10)).minusMillis(1), null);
    assertThat(policy.check(token)).isEqualTo(new ConsistencyTokenPolicy.Verdict.Expired(
        token, Duration.ofMinutes(10).plusMillis(1), Duration.ofMinutes(10)));
  }

  @Test
  void aTokenIssuedInTheFutureCountsAsNew() {
    ConsistencyToken token = new ConsistencyToken(Lsn.parse("0/100"), NOW.plus(Duration.ofHours(2)), null);
    assertThat(policy.check(token)).isInstanceOf(ConsistencyTokenPolicy.Verdict.Usable.class);
  }

  @Test
  void stampUsesTheClockAndNoHistoryWithoutADatabase() {
    ConsistencyToken stamped = policy.stamp(Lsn.parse("1/0"));
    assertThat(stamped).isEqualTo(new ConsistencyToken(Lsn.parse("1/0"), NOW, null));
    assertThat(ConsistencyTokenPolicy.ofDefaults().maxAge()).isEqualTo(Duration.ofHours(1));
  }
}
