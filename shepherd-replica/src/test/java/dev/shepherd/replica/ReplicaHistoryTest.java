package dev.shepherd.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.sql.SQLException;
import org.junit.jupiter.api.Test;

/** The rules that decide whether a replica's history serves a token's position, one per row of the README's table. */
class ReplicaHistoryTest {

  static final long SYSTEM = 7_715_831_052_434_154_502L;
  static final DatabaseIdentity ON_2 = new DatabaseIdentity(SYSTEM, 2);
  static final Lsn TARGET = Lsn.parse("0/4000000");
  static final Lsn BEFORE = Lsn.parse("0/3000000");
  static final Lsn PAST = Lsn.parse("0/5000000");

  @Test
  void theSameClusterAndTimelineServesOncePastThePosition() {
    ReplicaHistory same = new ReplicaHistory(SYSTEM, 2, true);
    assertThat(same.reached(ON_2, TARGET, PAST)).isTrue();
    assertThat(same.reached(ON_2, TARGET, BEFORE)).isFalse();
    assertThat(same.never(ON_2, TARGET, PAST)).isNull();
    assertThat(same.never(ON_2, TARGET, BEFORE)).isNull();
  }

  @Test
  void anotherClusterNeverServes() {
    ReplicaHistory other = new ReplicaHistory(SYSTEM + 1, 2, true);
    assertThat(other.reached(ON_2, TARGET, PAST)).isFalse();
    assertThat(other.never(ON_2, TARGET, BEFORE)).contains("another cluster").contains(Long.toUnsignedString(SYSTEM));
  }

  @Test
  void aNewerTimelineNeverServesExactOrLowerBound() {
    assertThat(new ReplicaHistory(SYSTEM, 3, true).never(ON_2, TARGET, BEFORE)).contains("timeline 3, newer");
    assertThat(new ReplicaHistory(SYSTEM, 3, false).never(ON_2, TARGET, BEFORE)).contains("at least 3");
    assertThat(new ReplicaHistory(SYSTEM, 3, true).reached(ON_2, TARGET, PAST)).isFalse();
  }

  @Test
  void anOlderTimelinePastThePositionNeverServesWhenExact() {
    ReplicaHistory older = new ReplicaHistory(SYSTEM, 1, true);
    assertThat(older.reached(ON_2, TARGET, PAST)).isFalse();
    assertThat(older.never(ON_2, TARGET, PAST)).contains("never switch");
  }

  @Test
  void anOlderTimelineIsWaitedForBeforeThePositionOrWhenOnlyALowerBound() {
    assertThat(new ReplicaHistory(SYSTEM, 1, true).never(ON_2, TARGET, BEFORE)).isNull();
    ReplicaHistory bound = new ReplicaHistory(SYSTEM, 1, false);
    assertThat(bound.never(ON_2, TARGET, PAST)).isNull(); // it may be on timeline 2 already
    assertThat(bound.reached(ON_2, TARGET, PAST)).isFalse();
  }

  @Test
  void thePollsHistoryColumnsPreferTheReceiversTimeline() throws SQLException {
    assertThat(ReplicaPoller.history("3", "2", Long.toUnsignedString(SYSTEM))).isEqualTo(new ReplicaHistory(SYSTEM, 3, true));
    assertThat(ReplicaPoller.history(null, "2", Long.toUnsignedString(SYSTEM))).isEqualTo(new ReplicaHistory(SYSTEM, 2, false));
    assertThat(ReplicaPoller.history(null, null, "1")).isNull();
    assertThat(ReplicaPoller.history("2", "2", null)).isNull();
    assertThatThrownBy(() -> ReplicaPoller.history("x", "2", "1")).isInstanceOf(SQLException.class).hasMessageContaining("received_tli=x");
    assertThatThrownBy(() -> ReplicaPoller.history("0", "2", "1")).isInstanceOf(SQLException.class).hasMessageContaining("timeline 0");
  }
}
