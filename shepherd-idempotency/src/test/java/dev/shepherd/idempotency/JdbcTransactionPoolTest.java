package dev.shepherd.idempotency;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.testing.PostgresCluster;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Claim transactions hold a pooled connection for a whole request. On the store's own pool they
 * can take the last connection from the renewals of their own claims; with
 * {@code transactionDataSource} the store renews on a pool of its own.
 */
class JdbcTransactionPoolTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.primaryOnly();

  private static final Duration LEASE = Duration.ofSeconds(3); // renewed every second

  private HikariDataSource requests; // the application's pool: two connections
  private HikariDataSource storePool;
  private final List<AutoCloseable> open = new ArrayList<>();
  private final List<Boolean> told = new CopyOnWriteArrayList<>();

  @BeforeEach
  void pools() {
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(pg.primaryJdbcUrl());
    config.setMaximumPoolSize(2);
    config.setConnectionTimeout(250);
    requests = new HikariDataSource(config);
    storePool = pg.primaryDataSource(Duration.ofMillis(250));
    JdbcIdempotencyStore.builder(storePool).createSchema(true).build();
  }

  @AfterEach
  void close() throws Exception {
    for (AutoCloseable c : open.reversed()) {
      c.close();
    }
    requests.close();
    storePool.close();
  }

  private IdempotencyTracker tracker(JdbcIdempotencyStore store) {
    IdempotencyTracker tracker = IdempotencyTracker.builder().store(store).lease(LEASE)
        .claimListener((claim, definitely) -> told.add(definitely)).build();
    open.add(tracker);
    return tracker;
  }

  /** Two requests in claim transactions: both connections of the requests' pool are held. */
  private List<Tracked.Claimed> twoRequestsInTransactions(IdempotencyTracker tracker) {
    List<Tracked.Claimed> claims = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      Tracked.Claimed claim =
          (Tracked.Claimed) tracker.track("tx-pool:" + UUID.randomUUID(), "fp");
      open.add(JdbcClaimTransaction.begin(tracker, claim));
      claims.add(claim);
    }
    return claims;
  }

  @Test
  void onASharedPoolOpenTransactionsStarveTheRenewalsOfTheirOwnClaims() {
    IdempotencyTracker tracker = tracker(JdbcIdempotencyStore.builder(requests).build());
    List<Tracked.Claimed> claims = twoRequestsInTransactions(tracker);

    await().atMost(Duration.ofMinutes(1)).until(() -> told.contains(false));
    assertThat(tracker.renewals()).isZero();
    assertThat(claims).noneMatch(tracker::isHeld);
  }

  @Test
  void withATransactionDataSourceTheStoreRenewsOnItsOwnPoolWhileTransactionsHoldTheirs() {
    IdempotencyTracker tracker = tracker(
        JdbcIdempotencyStore.builder(storePool).transactionDataSource(requests).build());
    List<Tracked.Claimed> claims = twoRequestsInTransactions(tracker);

    // Past one whole lease of renewals (three per claim) with both request connections held.
    await().atMost(Duration.ofMinutes(1)).until(() -> tracker.renewals() >= 2 * 4);
    assertThat(told).isEmpty();
    assertThat(claims).allMatch(tracker::isHeld);
  }
}
