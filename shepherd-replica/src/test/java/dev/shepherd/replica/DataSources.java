package dev.shepherd.replica;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.sql.SQLException;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;

/** Data sources that pass everything to a real one, with a hook before each getConnection. */
final class DataSources {

  /** Runs before a connection is handed out; throwing refuses it. */
  @FunctionalInterface
  interface BeforeConnect {
    void run() throws SQLException;
  }

  private DataSources() {}

  /** {@code target}, running {@code hook} before every {@code getConnection}. */
  static DataSource beforeConnect(DataSource target, BeforeConnect hook) {
    return (DataSource) Proxy.newProxyInstance(DataSource.class.getClassLoader(),
        new Class<?>[] {DataSource.class}, (proxy, method, args) -> {
          if (method.getName().equals("getConnection")) {
            hook.run();
          }
          try {
            return method.invoke(target, args);
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
        });
  }

  /** {@code target}, running {@code hook} after every {@code getConnection} that returned one. */
  static DataSource afterConnect(DataSource target, BeforeConnect hook) {
    return (DataSource) Proxy.newProxyInstance(DataSource.class.getClassLoader(),
        new Class<?>[] {DataSource.class}, (proxy, method, args) -> {
          try {
            Object result = method.invoke(target, args);
            if (method.getName().equals("getConnection")) {
              hook.run();
            }
            return result;
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
        });
  }

  /** {@code target}, counting the connections asked of it. */
  static DataSource counting(DataSource target, AtomicInteger connections) {
    return beforeConnect(target, connections::incrementAndGet);
  }
}
