package dev.shepherd.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
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
  void aTokenIssuedInTheFutureWithinTheClockSkewCountsAsNew() {
    assertThat(policy.maxClockSkew()).isEqualTo(Duration.ofMinutes(5));
    ConsistencyToken token = new ConsistencyToken(Lsn.parse("0/100"), NOW.plus(Duration.ofMinutes(5)), null);
    assertThat(policy.check(token)).isEqualTo(new ConsistencyTokenPolicy.Verdict.Usable(token));
  }

  @Test
  void aTokenIssuedFurtherInTheFutureThanTheClockSkewIsExpiredWithANegativeAge() {
    ConsistencyToken token = new ConsistencyToken(Lsn.parse("0/100"), NOW.plus(Duration.ofMinutes(5)).plusMillis(1), null);
    assertThat(policy.check(token)).isEqualTo(new ConsistencyTokenPolicy.Verdict.Expired(
        token, Duration.ofMinutes(-5).minusMillis(1), Duration.ofMinutes(10)));
    ConsistencyToken farAhead = new ConsistencyToken(Lsn.parse("0/100"), NOW.plus(Duration.ofDays(365)), null);
    assertThat(policy.check(farAhead)).isInstanceOf(ConsistencyTokenPolicy.Verdict.Expired.class);
  }

  @Test
  void theClockSkewIsABuilderOptionThatMayBeZeroButNotNegative() {
    ConsistencyTokenPolicy strict = ConsistencyTokenPolicy.builder().maxAge(Duration.ofMinutes(10))
        .maxClockSkew(Duration.ZERO).clock(Clock.fixed(NOW, ZoneOffset.UTC)).build();
    assertThat(strict.maxClockSkew()).isZero();
    ConsistencyToken now = new ConsistencyToken(Lsn.parse("0/100"), NOW, null);
    ConsistencyToken ahead = new ConsistencyToken(Lsn.parse("0/100"), NOW.plusMillis(1), null);
    assertThat(strict.check(now)).isInstanceOf(ConsistencyTokenPolicy.Verdict.Usable.class);
    assertThat(strict.check(ahead)).isInstanceOf(ConsistencyTokenPolicy.Verdict.Expired.class);
    assertThat(strict).hasToString("ConsistencyTokenPolicy[maxAge=PT10M, maxClockSkew=PT0S, database=null]");
    assertThatThrownBy(() -> ConsistencyTokenPolicy.builder().maxClockSkew(Duration.ofMillis(-1)))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("maxClockSkew must not be negative, was PT-0.001S");
    assertThatThrownBy(() -> ConsistencyTokenPolicy.builder().maxClockSkew(null))
        .isInstanceOf(NullPointerException.class).hasMessage("maxClockSkew must not be null");
  }

  @Test
  void mergeKeepsAUsableTokenOverOneIssuedFarInTheFuture() {
    ConsistencyToken valid = ConsistencyToken.of(Lsn.parse("0/100"), new DatabaseIdentity(42L, 1), NOW.minus(Duration.ofMinutes(1)));
    ConsistencyToken otherHistoryAhead = ConsistencyToken.of(Lsn.parse("9/0"), new DatabaseIdentity(42L, 2), NOW.plus(Duration.ofHours(1)));
    ConsistencyToken sameHistoryAhead = ConsistencyToken.of(Lsn.parse("9/0"), new DatabaseIdentity(42L, 1), NOW.plus(Duration.ofHours(1)));
    // The token's own merge trusts issue times: the token from the future wins, or lends its issue time.
    assertThat(valid.merge(otherHistoryAhead)).isEqualTo(otherHistoryAhead);
    assertThat(valid.merge(sameHistoryAhead).issuedAt()).isEqualTo(NOW.plus(Duration.ofHours(1)));
    for (ConsistencyToken ahead : List.of(otherHistoryAhead, sameHistoryAhead)) {
      assertThat(policy.merge(valid, ahead)).isEqualTo(valid);
      assertThat(policy.merge(ahead, valid)).isEqualTo(valid);
      assertThat(policy.merge(ahead, null)).isNull();
    }
    ConsistencyToken expired = new ConsistencyToken(Lsn.parse("8/0"), NOW.minus(Duration.ofHours(1)), null);
    assertThat(policy.merge(expired, valid)).isEqualTo(valid);
    ConsistencyToken slightlyAhead = ConsistencyToken.of(Lsn.parse("0/80"), new DatabaseIdentity(42L, 1), NOW.plus(Duration.ofMinutes(4)));
    assertThat(policy.merge(valid, slightlyAhead)).isEqualTo(valid.merge(slightlyAhead))
        .isEqualTo(ConsistencyToken.of(Lsn.parse("0/100"), new DatabaseIdentity(42L, 1), NOW.plus(Duration.ofMinutes(4))));
    assertThat(policy.merge(null, null)).isNull();
  }

  @Test
  void stampUsesTheClockAndNoHistoryWithoutADatabase() {
    ConsistencyToken stamped = policy.stamp(Lsn.parse("1/0"));
    assertThat(stamped).isEqualTo(new ConsistencyToken(Lsn.parse("1/0"), NOW, null));
    assertThat(ConsistencyTokenPolicy.ofDefaults().maxAge()).isEqualTo(Duration.ofHours(1));
  }
}
