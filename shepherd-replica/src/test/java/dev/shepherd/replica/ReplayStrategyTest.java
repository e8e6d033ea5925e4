package dev.shepherd.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class ReplayStrategyTest {

  @Test
  void autoPicksPollingBeforePostgres19() {
    assertThat(ReplayStrategy.AUTO.resolve(ReplayStrategy.parseServerVersionNum("150010"))).isEqualTo(ReplayStrategy.POLLING);
    assertThat(ReplayStrategy.AUTO.resolve(180003)).isEqualTo(ReplayStrategy.POLLING);
    assertThat(ReplayStrategy.AUTO.resolve(189999)).isEqualTo(ReplayStrategy.POLLING);
  }

  @Test
  void autoPicksWaitForLsnFromPostgres19() {
    assertThat(ReplayStrategy.AUTO.resolve(ReplayStrategy.parseServerVersionNum("190000"))).isEqualTo(ReplayStrategy.WAIT_FOR_LSN);
    assertThat(ReplayStrategy.AUTO.resolve(200001)).isEqualTo(ReplayStrategy.WAIT_FOR_LSN);
  }

  @Test
  void explicitStrategiesIgnoreTheVersion() {
    assertThat(ReplayStrategy.POLLING.resolve(190000)).isEqualTo(ReplayStrategy.POLLING);
    assertThat(ReplayStrategy.WAIT_FOR_LSN.resolve(150000)).isEqualTo(ReplayStrategy.WAIT_FOR_LSN);
  }

  @Test
  void malformedVersionIsRejectedQuotingIt() {
    assertThatThrownBy(() -> ReplayStrategy.parseServerVersionNum("15.4"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("\"15.4\"");
    assertThatThrownBy(() -> ReplayStrategy.parseServerVersionNum("0"))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void aWaitForLsnEndsWellInsideTheConnectionsNetworkTimeout() {
    long ms = 1_000_000L;
    // the default: 50 ms pauses, a 2 s network timeout
    assertThat(ReplicaPoller.waitForLsnNanos(50 * ms, 2_000)).isEqualTo(50 * ms);
    // a pause as long as the network timeout would trip the socket timeout on a lagging replica
    assertThat(ReplicaPoller.waitForLsnNanos(5_000 * ms, 2_000)).isEqualTo(1_000 * ms);
    assertThat(ReplicaPoller.waitForLsnNanos(Long.MAX_VALUE, 1)).isEqualTo(ms / 2);
  }

  @Test
  void waitForLsnStatementUsesNoThrowAndAMillisecondTimeout() {
    assertThat(ReplayStrategy.waitForLsnSql(Lsn.parse("0/306EE20"), 50))
        .isEqualTo("WAIT FOR LSN '0/306EE20' WITH (TIMEOUT '50ms', NO_THROW)");
    assertThat(ReplayStrategy.waitForLsnSql(Lsn.parse("0/1"), 0)).contains("TIMEOUT '1ms'");
  }
}
