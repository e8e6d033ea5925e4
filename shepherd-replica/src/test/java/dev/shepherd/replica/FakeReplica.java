package dev.shepherd.replica;

import java.io.PrintWriter;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;
import java.util.logging.Logger;
import javax.sql.DataSource;

/**
 * A scripted stand-in for a replica's data source, for tests whose point is the tracker's
 * scheduling (who polls when, who wakes whom), where no SQL semantics matter. It answers the
 * tracker's poll with {@link #replayed} (in recovery), its receiver check with true, and counts
 * connections, polls and closes. Hooks let a test hold a poll or a connection close at a chosen
 * moment. Everything about real replication is tested against {@code PostgresCluster} instead.
 */
final class FakeReplica implements DataSource {

  volatile Lsn replayed = Lsn.parse("0/1000");
  final AtomicInteger connections = new AtomicInteger();
  final AtomicInteger polls = new AtomicInteger();
  final AtomicInteger closes = new AtomicInteger();
  /** Runs inside the poll, given the poll's number (1-based), before it answers. */
  volatile IntConsumer onPoll = n -> {};
  /** Runs inside {@link #getConnection()}, given the connection's number (1-based). */
  volatile IntConsumer onConnect = n -> {};
  /** Runs inside {@link Connection#close()}, given the connection's number (1-based). */
  volatile IntConsumer onClose = n -> {};

  @Override
  public Connection getConnection() {
    int number = connections.incrementAndGet();
    onConnect.accept(number);
    InvocationHandler handler = (proxy, method, args) -> switch (method.getName()) {
      case "prepareStatement", "createStatement" -> statement();
      case "close" -> {
        onClose.accept(number);
        closes.incrementAndGet();
        yield null;
      }
      case "isClosed" -> false;
      case "setAutoCommit", "setNetworkTimeout" -> null;
      case "getNetworkTimeout" -> 0;
      case "toString" -> "FakeReplica.Connection#" + number;
      case "hashCode" -> System.identityHashCode(proxy);
      case "equals" -> proxy == args[0];
      default -> throw new SQLFeatureNotSupportedException(method.getName());
    };
    return (Connection) Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[] {Connection.class}, handler);
  }

  private PreparedStatement statement() {
    InvocationHandler handler = (proxy, method, args) -> switch (method.getName()) {
      case "executeQuery" -> {
        String sql = args == null ? ReplicaTracker.POLL_QUERY : (String) args[0];
        yield answer(sql);
      }
      case "close" -> null;
      case "toString" -> "FakeReplica.Statement";
      case "hashCode" -> System.identityHashCode(proxy);
      case "equals" -> proxy == args[0];
      default -> throw new SQLFeatureNotSupportedException(method.getName());
    };
    return (PreparedStatement) Proxy.newProxyInstance(getClass().getClassLoader(),
        new Class<?>[] {PreparedStatement.class}, handler);
  }

  private ResultSet answer(String sql) {
    final boolean recovery;
    final String text;
    if (sql.equals(ReplicaTracker.POLL_QUERY)) {
      onPoll.accept(polls.incrementAndGet());
      recovery = true;
      text = replayed.toString();
    } else if (sql.equals(ReplicaTracker.RECEIVER_QUERY)) {
      recovery = true;
      text = "t";
    } else if (sql.equals(ReplicaTracker.VERSION_QUERY)) {
      recovery = true;
      text = "150000";
    } else {
      throw new IllegalArgumentException("unexpected query " + sql);
    }
    boolean[] consumed = {false};
    InvocationHandler handler = (proxy, method, args) -> switch (method.getName()) {
      case "next" -> {
        boolean first = !consumed[0];
        consumed[0] = true;
        yield first;
      }
      case "getBoolean" -> recovery;
      // The poll's history columns: no receiver visible, timeline 1, system identifier 1.
      case "getString" -> args[0] instanceof Integer column && column > 2 ? (column == 3 ? null : "1") : text;
      case "close" -> null;
      case "toString" -> "FakeReplica.ResultSet";
      case "hashCode" -> System.identityHashCode(proxy);
      case "equals" -> proxy == args[0];
      default -> throw new SQLFeatureNotSupportedException(method.getName());
    };
    return (ResultSet) Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[] {ResultSet.class}, handler);
  }

  @Override
  public Connection getConnection(String username, String password) {
    return getConnection();
  }

  @Override
  public PrintWriter getLogWriter() {
    throw new UnsupportedOperationException();
  }

  @Override
  public void setLogWriter(PrintWriter out) {
    throw new UnsupportedOperationException();
  }

  @Override
  public void setLoginTimeout(int seconds) {
    throw new UnsupportedOperationException();
  }

  @Override
  public int getLoginTimeout() {
    return 0;
  }

  @Override
  public Logger getParentLogger() throws SQLFeatureNotSupportedException {
    throw new SQLFeatureNotSupportedException();
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
