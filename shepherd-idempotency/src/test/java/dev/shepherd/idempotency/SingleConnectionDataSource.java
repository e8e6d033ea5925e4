package dev.shepherd.idempotency;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A pool of one real PostgreSQL connection that, like DBCP2 or Tomcat JDBC by default, hands the
 * same physical connection out again without resetting what the last borrower changed (auto-commit,
 * network timeout): what a store leaves on a pooled connection, the next borrower gets. {@code
 * close()} of a handed-out connection gives it back; {@link #close()} closes the physical one.
 */
final class SingleConnectionDataSource extends TestDataSource implements AutoCloseable {

  private final Connection physical;
  private final AtomicInteger borrowed = new AtomicInteger();

  SingleConnectionDataSource(String jdbcUrl) throws SQLException {
    this.physical = DriverManager.getConnection(jdbcUrl);
  }

  /** The physical connection, to inspect its state between borrowings. */
  Connection physical() {
    return physical;
  }

  @Override
  public Connection getConnection() {
    if (borrowed.getAndIncrement() != 0) {
      borrowed.decrementAndGet();
      throw new IllegalStateException("the one connection is borrowed already");
    }
    InvocationHandler handler = new InvocationHandler() {
      private boolean returned;

      @Override
      public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
        switch (method.getName()) {
          case "close" -> {
            if (!returned) {
              returned = true;
              borrowed.decrementAndGet();
            }
            return null;
          }
          case "isClosed" -> {
            return returned || physical.isClosed();
          }
          default -> {
            if (returned) {
              throw new SQLException("connection was given back to the pool");
            }
            return TestDataSource.invoke(physical, method, args);
          }
        }
      }
    };
    return (Connection) Proxy.newProxyInstance(
        Connection.class.getClassLoader(), new Class<?>[] {Connection.class}, handler);
  }

  @Override
  public void close() throws SQLException {
    physical.close();
  }
}
