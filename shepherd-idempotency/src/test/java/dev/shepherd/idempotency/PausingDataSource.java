package dev.shepherd.idempotency;

import java.io.PrintWriter;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.util.concurrent.CountDownLatch;
import java.util.logging.Logger;
import javax.sql.DataSource;

/**
 * A real pool whose connections, given back by one chosen thread, hold that thread in
 * {@code close()} until the test lets it go: the store's statement has run and committed on the
 * server, but the store's call has not returned yet. Everything else goes to the pool as is.
 */
final class PausingDataSource implements DataSource {

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
          try {
            return method.invoke(real, args);
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
        });
  }

  @Override
  public Connection getConnection(String username, String password) throws SQLException {
    return getConnection();
  }

  @Override
  public PrintWriter getLogWriter() throws SQLException {
    return pool.getLogWriter();
  }

  @Override
  public void setLogWriter(PrintWriter out) throws SQLException {
    pool.setLogWriter(out);
  }

  @Override
  public void setLoginTimeout(int seconds) throws SQLException {
    pool.setLoginTimeout(seconds);
  }

  @Override
  public int getLoginTimeout() throws SQLException {
    return pool.getLoginTimeout();
  }

  @Override
  public Logger getParentLogger() throws SQLFeatureNotSupportedException {
    return pool.getParentLogger();
  }

  @Override
  public <T> T unwrap(Class<T> iface) throws SQLException {
    throw new SQLException("not a wrapper");
  }

  @Override
  public boolean isWrapperFor(Class<?> iface) {
    return false;
  }
}
