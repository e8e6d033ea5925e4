package dev.shepherd.idempotency;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.testing.PostgresCluster;
import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What the JDBC store leaves on a pooled connection, through a pool that, like DBCP2 and Tomcat
 * JDBC, does not reset it: the next borrower (the application) must get it as it was handed out.
 */
class JdbcConnectionStateTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.primaryOnly();

  private static final Duration LONG = Duration.ofMinutes(10);

  private SingleConnectionDataSource dataSource;
  private JdbcIdempotencyStore store;
  private IdempotencyTracker tracker;

  @BeforeEach
  void start() throws Exception {
    dataSource = new SingleConnectionDataSource(pg.primaryJdbcUrl());
    store = JdbcIdempotencyStore.builder(dataSource).createSchema(true).build();
    tracker = IdempotencyTracker.builder().store(store).lease(LONG).retention(LONG).build();
  }

  @AfterEach
  void stop() throws Exception {
    tracker.close();
    dataSource.close();
  }

  private static StoredResponse response() {
    return new StoredResponse(200, List.of(), new byte[] {7}, Instant.EPOCH);
  }

  @Test
  void storeCallsGiveTheConnectionBackWithTheNetworkTimeoutItWasHandedOutWith() throws Exception {
    Connection physical = dataSource.physical();
    assertThat(physical.getNetworkTimeout()).isZero(); // no timeout: the application's choice

    Tracked.Claimed claim = (Tracked.Claimed) tracker.track("state:" + UUID.randomUUID(), "fp");
    assertThat(physical.getNetworkTimeout()).isZero();
    tracker.complete(claim, response());
    assertThat(physical.getNetworkTimeout()).isZero();

    physical.setNetworkTimeout(Runnable::run, 60_000); // a different choice is put back as well
    tracker.track("state:" + UUID.randomUUID(), "fp");
    assertThat(physical.getNetworkTimeout()).isEqualTo(60_000);
  }

  @Test
  void claimTransactionGivesTheConnectionBackAsItWasHandedOut() throws Exception {
    Connection physical = dataSource.physical();
    physical.setAutoCommit(false); // a pool configured to hand out connections in a transaction
    physical.commit();

    Tracked.Claimed claim = (Tracked.Claimed) tracker.track("tx:" + UUID.randomUUID(), "fp");
    physical.commit();
    try (JdbcClaimTransaction tx = JdbcClaimTransaction.begin(tracker, claim)) {
      assertThat(tx.connection().getAutoCommit()).isFalse();
      tx.commit(response());
    }
    assertThat(physical.getAutoCommit()).isFalse();
    assertThat(physical.getNetworkTimeout()).isZero();

    physical.setAutoCommit(true); // and one handed out in auto-commit gets it back in auto-commit
    Tracked.Claimed second = (Tracked.Claimed) tracker.track("tx:" + UUID.randomUUID(), "fp");
    try (JdbcClaimTransaction tx = JdbcClaimTransaction.begin(tracker, second)) {
      tx.commit(response());
    }
    assertThat(physical.getAutoCommit()).isTrue();
    assertThat(physical.getNetworkTimeout()).isZero();
  }
}
