package dev.shepherd.idempotency;

import java.lang.System.Logger.Level;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

/**
 * Cancels statements that run past their query timeout, for every {@link JdbcIdempotencyStore}
 * of the JVM, with one ticking thread instead of a timer task per statement.
 *
 * <p>Why not {@code Statement.setQueryTimeout}: pgjdbc implements it with a
 * {@code java.util.Timer} task scheduled and cancelled around every execution, which locks the
 * timer's queue twice and wakes its thread whenever the queue was empty; measured on the store's
 * round trip it cost more client CPU than the rest of the call. Here a statement costs one entry
 * added to and removed from a concurrent set.
 *
 * <h2>State machine</h2>
 *
 * <pre>
 *   IDLE ──a statement is watched──▶ TICKING (one virtual thread: every TICK it cancels
 *     ▲                                 watched statements past their deadline, and interrupts
 *     │                                 cancels in flight past their network deadline)
 *     └── a tick finds nothing watched and no cancel in flight, and nothing was added meanwhile ─┘
 * </pre>
 *
 * {@code ticking} is true while a ticking thread exists. A watcher adds its entry and then starts
 * a thread if {@code ticking} was false; the thread, finding the set empty, sets {@code ticking}
 * false and looks again, so an entry added meanwhile is never left without a thread (either it
 * sees the entry and claims {@code ticking} back, or the watcher does and starts a new thread).
 *
 * <p>A statement is cancelled between its deadline and one tick later
 * ({@value #TICK_MILLIS} ms), through {@link Statement#cancel()} on a virtual thread of its own
 * (the driver opens a connection to send the cancel, which must not hold up the tick). The driver
 * makes a cancel that races with the statement's end harmless: it cancels only a statement still
 * executing, and the executing thread waits for a cancel in progress before it goes on.
 *
 * <h2>Why a cancel is given up at the statement's network deadline</h2>
 *
 * That wait is the catch: pgjdbc's cancel opens a socket to the server and waits for the server to
 * close it, bounded only by the driver's {@code cancelSignalTimeout} (10 s by default). Against a
 * database or network that hangs, the cancel hangs too, and the executing thread, whose read
 * fails at its network timeout, then waits for it: a call took the query timeout plus the cancel
 * signal timeout (15 s with the defaults) instead of the network timeout (6 s). So every cancel
 * runs on a virtual thread that the tick interrupts once the statement's network deadline (its
 * start plus the network timeout) has passed: a virtual thread blocked in socket I/O is unblocked
 * by an interrupt, which closes that socket; the driver ignores a cancel that failed on I/O, and
 * the executing thread goes on with its own timeout's error. The tick keeps running while a
 * cancel is in flight, so the interrupt never lacks a thread to send it.
 */
final class StatementWatchdog {

  static final long TICK_MILLIS = 100;

  private static final System.Logger LOG = System.getLogger(StatementWatchdog.class.getName());
  private static final long TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(TICK_MILLIS);

  /** The JVM's watchdog, shared by every store (each entry carries its own deadline). */
  static final StatementWatchdog SHARED = new StatementWatchdog();

  /** A watched execution; identity, not the statement's equals. */
  private static final class Watch {
    final Statement statement;
    final long deadline;
    /** When the cancel of this statement, if one is sent, is given up (the network deadline). */
    final long giveUpAt;

    Watch(Statement statement, long deadline, long giveUpAt) {
      this.statement = statement;
      this.deadline = deadline;
      this.giveUpAt = giveUpAt;
    }
  }

  /** A cancel in flight, on its own virtual thread. */
  private record Cancel(Thread thread, long giveUpAt) {}

  private final Set<Watch> watched = ConcurrentHashMap.newKeySet();
  /** Cancels in flight; added only by the ticking thread, removed by each cancel's thread. */
  private final Set<Cancel> cancelling = ConcurrentHashMap.newKeySet();
  private final AtomicBoolean ticking = new AtomicBoolean();

  private StatementWatchdog() {}

  /**
   * Runs {@code executeQuery()}, cancelling it if it runs longer than {@code timeoutNanos}; a
   * cancel still in flight {@code giveUpNanos} after the start is interrupted.
   */
  ResultSet executeQuery(PreparedStatement ps, long timeoutNanos, long giveUpNanos)
      throws SQLException {
    return execute(ps, timeoutNanos, giveUpNanos, PreparedStatement::executeQuery);
  }

  /**
   * Runs {@code executeUpdate()}, cancelling it if it runs longer than {@code timeoutNanos}; a
   * cancel still in flight {@code giveUpNanos} after the start is interrupted.
   */
  int executeUpdate(PreparedStatement ps, long timeoutNanos, long giveUpNanos)
      throws SQLException {
    return execute(ps, timeoutNanos, giveUpNanos, PreparedStatement::executeUpdate);
  }

  /** One execution of a prepared statement. */
  private interface Execution<T> {
    T run(PreparedStatement ps) throws SQLException;
  }

  private <T> T execute(PreparedStatement ps, long timeoutNanos, long giveUpNanos,
      Execution<T> execution) throws SQLException {
    Watch watch = watch(ps, timeoutNanos, giveUpNanos);
    try {
      return execution.run(ps);
    } finally {
      watched.remove(watch);
    }
  }

  private Watch watch(Statement statement, long timeoutNanos, long giveUpNanos) {
    long now = System.nanoTime();
    Watch watch = new Watch(statement, now + timeoutNanos, now + giveUpNanos);
    watched.add(watch);
    if (!ticking.get() && ticking.compareAndSet(false, true)) {
      Thread.ofVirtual().name("shepherd-idempotency-statement-watchdog").start(this::tick);
    }
    return watch;
  }

  private void tick() {
    while (true) {
      LockSupport.parkNanos(TICK_NANOS);
      long now = System.nanoTime();
      List<Watch> late = new ArrayList<>();
      for (Watch watch : watched) { // weakly consistent: entries come and go meanwhile
        if (now - watch.deadline >= 0) {
          late.add(watch);
        }
      }
      for (Watch watch : late) {
        if (watched.remove(watch)) { // still executing: cancel it
          startCancel(watch);
        }
      }
      for (Cancel cancel : cancelling) {
        if (now - cancel.giveUpAt() >= 0) {
          cancel.thread().interrupt(); // closes the cancel's socket; see the class comment
        }
      }
      // Only this thread adds to `cancelling`, so it may stop once both sets are empty.
      if (watched.isEmpty() && cancelling.isEmpty()) {
        ticking.set(false);
        if (watched.isEmpty() || !ticking.compareAndSet(false, true)) {
          return;
        }
      }
    }
  }

  private void startCancel(Watch watch) {
    // The thread removes its own entry when done; it starts after the entry is in the set.
    Cancel[] self = new Cancel[1];
    Thread thread = Thread.ofVirtual().name("shepherd-idempotency-statement-cancel").unstarted(
        () -> {
          try {
            cancel(watch.statement);
          } finally {
            cancelling.remove(self[0]);
          }
        });
    self[0] = new Cancel(thread, watch.giveUpAt);
    cancelling.add(self[0]);
    thread.start();
  }

  private static void cancel(Statement statement) {
    try {
      statement.cancel();
    } catch (SQLException | RuntimeException e) {
      LOG.log(Level.WARNING, "could not cancel a statement past its query timeout", e);
    }
  }
}
