package dev.shepherd.replica;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.sql.Connection;
import java.sql.SQLException;
import org.jspecify.annotations.Nullable;

/**
 * The connection {@link ReplicaRoutingDataSource} hands out: it records settings until its first
 * real use, then takes a physical connection from the replica or the primary.
 *
 * <p>State machine (one thread at a time, as any JDBC connection):
 *
 * <pre>
 * UNBOUND --settings (auto-commit, read-only, isolation)--> UNBOUND   [recorded only]
 * UNBOUND --any other call--> BOUND(REPLICA | PRIMARY)            [routed, settings applied]
 * BOUND --commit on PRIMARY after statements, writable--> BOUND     [write position recorded]
 * BOUND --setReadOnly to the other kind, no transaction open--> UNBOUND  [physical connection closed]
 * UNBOUND | BOUND --close--> CLOSED                                 [auto-commit primary use recorded]
 * </pre>
 *
 * <p>"No transaction open" means auto-commit is on: transaction managers switch it off at the start
 * of a transaction and back on at its end, and set read-only before they switch it off.
 */
final class RoutingConnection implements InvocationHandler {

  private static final System.Logger LOG = System.getLogger(ReplicaRoutingDataSource.class.getName());

  private enum Kind { PRIMARY, REPLICA }

  private final ReplicaRoutingDataSource owner;
  private final ReplicaRoutingDataSource.ConnectionDefaults defaults;

  private boolean autoCommit;
  private boolean readOnly;
  private int isolation;
  private boolean closed;

  private @Nullable Connection target;
  private @Nullable Kind kind;
  /** True while the bound connection is the primary for writable work. */
  private boolean writable;
  /** True when the bound writable primary ran something since the last commit or rollback. */
  private boolean used;

  RoutingConnection(ReplicaRoutingDataSource owner, ReplicaRoutingDataSource.ConnectionDefaults defaults) {
    this.owner = owner;
    this.defaults = defaults;
    this.autoCommit = defaults.autoCommit();
    this.isolation = defaults.isolation();
  }

  @Override
  @SuppressWarnings("ReferenceEquality") // a proxy equals only itself, as a Connection does
  public @Nullable Object invoke(Object proxy, Method method, Object @Nullable [] arguments) throws Throwable {
    String name = method.getName();
    Object[] args = arguments == null ? new Object[0] : arguments;
    int arity = args.length;
    switch (name) {
      case "equals":
        return arity == 1 && proxy == args[0];
      case "hashCode":
        return System.identityHashCode(proxy);
      case "toString":
        return "RoutingConnection[" + (kind == null ? "unbound" : kind.name().toLowerCase(java.util.Locale.ROOT))
            + (closed ? ", closed" : "") + "]";
      case "isClosed":
        return closed;
      case "close":
        close();
        return null;
      case "abort":
        closed = true;
        if (target != null) {
          target.abort((java.util.concurrent.Executor) args[0]);
          target = null;
        }
        return null;
      default:
        break;
    }
    if (closed) {
      if (name.equals("isValid")) {
        return false;
      }
      throw new SQLException("connection is closed (" + name + ")", "08003");
    }
    switch (name) {
      case "getAutoCommit":
        return autoCommit;
      case "setAutoCommit": {
        boolean value = (Boolean) args[0];
        if (target != null && value != autoCommit) {
          target.setAutoCommit(value); // switching it on commits an open transaction
          if (value) {
            afterCommit();
          }
        }
        autoCommit = value;
        return null;
      }
      case "isReadOnly":
        return readOnly;
      case "setReadOnly": {
        boolean value = (Boolean) args[0];
        readOnly = value;
        if (target != null) {
          boolean wantsReplica = value;
          boolean otherKind = (kind == Kind.REPLICA) != wantsReplica;
          if (otherKind && autoCommit) {
            release();
          } else {
            target.setReadOnly(value);
          }
        }
        return null;
      }
      case "getTransactionIsolation":
        return isolation;
      case "setTransactionIsolation":
        isolation = (Integer) args[0];
        if (target != null) {
          target.setTransactionIsolation(isolation);
        }
        return null;
      case "commit":
        if (target != null) {
          target.commit();
          afterCommit();
        }
        return null;
      case "rollback":
        if (target != null) {
          invokeOn(target, method, args);
          if (arity == 0) {
            used = false;
          }
        }
        return null;
      case "getWarnings":
        return target == null ? null : target.getWarnings();
      case "clearWarnings":
        if (target != null) {
          target.clearWarnings();
        }
        return null;
      case "isValid":
        return target == null || target.isValid((Integer) args[0]);
      case "unwrap":
        if (((Class<?>) args[0]).isInstance(proxy)) {
          return proxy;
        }
        break;
      case "isWrapperFor":
        if (((Class<?>) args[0]).isInstance(proxy)) {
          return true;
        }
        break;
      default:
        break;
    }
    Connection bound = bind();
    used = true;
    return invokeOn(bound, method, args);
  }

  private static @Nullable Object invokeOn(Connection target, Method method, Object[] args) throws Throwable {
    try {
      return method.invoke(target, args);
    } catch (InvocationTargetException e) {
      throw e.getCause();
    }
  }

  private Connection bind() throws SQLException {
    Connection bound = target;
    if (bound != null) {
      return bound;
    }
    boolean readOnlyWork = readOnly || owner.readOnlySignal();
    Kind chosen = Kind.PRIMARY;
    String server = "the primary";
    if (readOnlyWork) {
      Route route;
      try {
        route = owner.router().routeAfter(owner.required());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new SQLException("interrupted while waiting for a replica to replay the required position", "57014", e);
      }
      if (route instanceof Route.ToReplica toReplica) {
        try {
          bound = toReplica.dataSource().getConnection();
          server = "replica " + toReplica.replica().name();
          chosen = Kind.REPLICA;
        } catch (SQLException e) {
          LOG.log(System.Logger.Level.WARNING, "replica " + toReplica.replica().name()
              + " gave no connection, reading on the primary: " + e.getMessage());
          var unusedFallback = owner.router().replicaGaveNoConnection(toReplica, owner.requiredLsn(), e);
        }
      }
    }
    if (bound == null) {
      bound = owner.primaryDataSource().getConnection();
    }
    Connection physical = bound;
    try {
      boolean switchAutoCommit = physical.getAutoCommit() != autoCommit;
      boolean otherIsolation = isolation != defaults.isolation();
      if (switchAutoCommit || readOnly || otherIsolation) {
        // Settings the application asked for before the first statement, applied now: pgjdbc sends
        // some as statements (an isolation level, a session read-only mode), so they are bounded
        // like the library's own statements.
        boolean unused = Jdbc.bounded(physical, owner.queryTimeout(), server + " (applying the connection's settings)", () -> {
          if (switchAutoCommit) {
            physical.setAutoCommit(autoCommit);
          }
          if (readOnly) {
            physical.setReadOnly(true);
          }
          if (otherIsolation) {
            physical.setTransactionIsolation(isolation);
          }
          return true;
        });
      }
    } catch (SQLException | RuntimeException e) {
      Jdbc.closeAfter(bound, e);
      throw e;
    }
    if (chosen == Kind.REPLICA) {
      owner.replicaConnections.increment();
    } else {
      owner.primaryConnections.increment();
    }
    target = bound;
    kind = chosen;
    writable = chosen == Kind.PRIMARY && !readOnlyWork;
    used = false;
    return bound;
  }

  /** After a commit: records the write position when the primary ran something for writable work. */
  private void afterCommit() {
    Connection bound = target;
    if (bound != null && writable && used && owner.recordWrites()) {
      used = false;
      record(bound);
    }
  }

  private void record(Connection bound) {
    ConsistencyToken written;
    try {
      written = WritePosition.tokenAfterCommit(bound, owner.queryTimeout());
    } catch (SQLException | RuntimeException e) {
      // The commit happened: failing it now would tell the caller it did not. Later reads of this
      // work may then miss the write on a replica, which the warning says.
      LOG.log(System.Logger.Level.WARNING, "committed, but the write position could not be read, so "
          + "reads that follow may not see this write on a replica: " + e);
      return;
    }
    owner.written(written);
  }

  private void release() throws SQLException {
    Connection bound = target;
    if (bound == null) {
      return;
    }
    if (autoCommit) {
      afterCommit();
    }
    target = null;
    kind = null;
    writable = false;
    used = false;
    bound.close();
  }

  private void close() throws SQLException {
    if (closed) {
      return;
    }
    closed = true;
    release();
  }
}
