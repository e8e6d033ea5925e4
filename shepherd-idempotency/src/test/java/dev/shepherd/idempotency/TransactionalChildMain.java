package dev.shepherd.idempotency;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * The child JVM of {@link JdbcClaimTransactionKillTest}: claims each key given as
 * {@code key=POINT}, runs {@link OrderHandler} for it on its own thread, and at the key's point
 * prints {@code AT key POINT} and stops there for good, so that the parent can {@code kill -9} this
 * JVM with every key stopped at its point.
 *
 * <p>Arguments: JDBC URL, lease in ms, then the keys.
 */
public final class TransactionalChildMain {

  private TransactionalChildMain() {}

  public static void main(String[] args) throws Exception {
    // Unpooled: every thread opens its own connection at once (a pool opens them one by one).
    PGSimpleDataSource dataSource = new PGSimpleDataSource();
    dataSource.setURL(args[0]);
    JdbcIdempotencyStore store = JdbcIdempotencyStore.builder(dataSource).build();
    Duration lease = Duration.ofMillis(Long.parseLong(args[1]));
    IdempotencyTracker tracker = IdempotencyTracker.builder().store(store).lease(lease).build();
    CountDownLatch never = new CountDownLatch(1);
    for (int i = 2; i < args.length; i++) {
      String[] keyAndPoint = args[i].split("=");
      String key = keyAndPoint[0];
      OrderHandler.Point stopAt = OrderHandler.Point.valueOf(keyAndPoint[1]);
      Thread.ofPlatform().start(() -> {
        try {
          if (!(tracker.track(key, "fp") instanceof Tracked.Claimed claim)) {
            System.out.println("NOT_CLAIMED " + key);
            return;
          }
          OrderHandler.handle(tracker, claim, point -> {
            if (point == stopAt) {
              System.out.println("AT " + key + " " + point);
              System.out.flush();
              try {
                never.await();
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            }
          });
        } catch (Exception e) {
          System.out.println("FAILED " + key + " " + e);
        }
      });
    }
    never.await();
  }
}
