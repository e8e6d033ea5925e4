package dev.shepherd.idempotency;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.testing.PostgresCluster;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Waiters of {@code track(key, fp, maxWait)} on a real PostgreSQL. */
class JdbcWaitersTest {

  @RegisterExtension static final PostgresCluster pg = PostgresCluster.primaryOnly();

  private static final StoredResponse OK =
      new StoredResponse(200, List.of(), new byte[] {1}, Instant.EPOCH);

  /**
   * A finish in this JVM wakes the waiters of its key only. Two threads wait for key B while
   * 1,200 other keys are claimed and completed by eight threads; every poll of B is counted at the
   * store. Woken by every finish, B's waiters polled once per finish or so (hundreds of polls);
   * woken only by their own key, they poll on their own schedule, every 500 ms at most after a
   * few quicker first polls: a handful in the time 1,200 finishes take. The bound, 150, holds
   * unless those finishes take longer than about half a minute.
   */
  @Test
  void aFinishWakesOnlyTheWaitersOfItsKey() throws Exception {
    String waitedFor = "waited:" + UUID.randomUUID();
    AtomicLong pollsOfWaitedFor = new AtomicLong();
    try (HikariDataSource pool = pg.primaryDataSource()) {
      IdempotencyStore counting = new ForwardingIdempotencyStore(
          JdbcIdempotencyStore.builder(pool).createSchema(true).build()) {
        @Override
        public Tracked claim(String key, String fingerprint, Duration lease, Duration retention,
            OrphanPolicy policy) {
          if (key.equals(waitedFor)) {
            pollsOfWaitedFor.incrementAndGet();
          }
          return super.claim(key, fingerprint, lease, retention, policy);
        }
      };
      try (IdempotencyTracker tracker = IdempotencyTracker.builder().store(counting).build();
          ExecutorService threads = Executors.newFixedThreadPool(10)) {
        Tracked.Claimed owner = (Tracked.Claimed) tracker.track(waitedFor, "fp");
        List<Future<Tracked>> waiters = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
          waiters.add(threads.submit(() -> tracker.track(waitedFor, "fp", Duration.ofMinutes(5))));
        }
        org.awaitility.Awaitility.await().until(() -> pollsOfWaitedFor.get() >= 3); // waiting

        long before = pollsOfWaitedFor.get();
        List<Future<?>> finishers = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
          finishers.add(threads.submit(() -> {
            for (int i = 0; i < 150; i++) {
              Tracked.Claimed other =
                  (Tracked.Claimed) tracker.track("other:" + UUID.randomUUID(), "fp");
              tracker.complete(other, OK);
            }
            return null;
          }));
        }
        for (Future<?> finisher : finishers) {
          finisher.get();
        }
        long pollsDuringTheFinishes = pollsOfWaitedFor.get() - before;

        tracker.complete(owner, OK);
        for (Future<Tracked> waiter : waiters) {
          assertThat(waiter.get()).isInstanceOf(Tracked.Completed.class);
        }
        assertThat(pollsDuringTheFinishes).isLessThan(150);
      }
    }
  }
}
