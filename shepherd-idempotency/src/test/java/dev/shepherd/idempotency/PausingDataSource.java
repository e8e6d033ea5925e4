package dev.shepherd.idempotency;

import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.concurrent.CountDownLatch;
import javax.sql.DataSource;

/**
 * A real pool whose connections, given back by one chosen thread, hold that thread in
 * {@code close()} until the test lets it go: the store's statement has run and committed on the
 * server, but the store's call has not returned yet. Everything else goes to the pool as is.
 */
final class PausingDataSource extends TestDataSource {

  private final DataSource pool;
  private volatile Thread paused;
  private final CountDownLatch reached = new CountDownLatch(1);
  private final CountDownLatch release = new CountDownLatch(1);

  PausingDataSource(DataSource pool) {
    this.pool = pool;
  }

  /** Holds the next {@code close()} of a connection by {@code thread}. */
  void pauseCloseOf(Thread thread) {
    this.paused = thread;
  }

  /** Waits until the chosen thread is held in {@code close()}. */
  void awaitPaused() throws InterruptedException {
    reached.await();
  }

  /** Lets the held thread go on. */
  void release() {
    release.countDown();
  }

  @Override
  public Connection getConnection() throws SQLException {
    Connection real = pool.getConnection();
    return (Connection) Proxy.newProxyInstance(Connection.class.getClassLoader(),
        new Class<?>[] {Connection.class}, (proxy, method, args) -> {
          if (method.getName().equals("close") && Thread.currentThread() == paused) {
            paused = null;
            reached.countDown();
            release.await();
          }
          return TestDataSource.invoke(real, method, args);
        });
  }
}
