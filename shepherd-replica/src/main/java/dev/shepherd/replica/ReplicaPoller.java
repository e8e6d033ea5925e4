package dev.shepherd.replica;

import java.lang.System.Logger.Level;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.jspecify.annotations.Nullable;

/**
 * One polling period of a {@link ReplicaTracker}: the single task that, while anyone waits, queries
 * the replica's replay position, releases the waiters it has reached, fails them all when the
 * replica turns out unavailable, promoted or not replicating, and pauses between polls.
 *
 * <p>A tracker runs at most one poller at a time; each poller is used once ({@link #run()}) and
 * holds one connection of the replica's pool while it runs.
 *
 * <pre>
 * State machine (the poller's part; the waiters' and the health's are in ReplicaTracker).
 *
 * IDLE --(a waiter registers and wins the CAS polling false-&gt;true; the tracker starts a poller)--&gt; RUNNING
 * IDLE --(the executor refuses the poller: polling := false, fail every waiter Unavailable naming it)--&gt; IDLE
 * RUNNING --(waiter set empty or tracker closed; polling := false; re-check: empty, or the CAS is lost)--&gt; IDLE
 * RUNNING --(the re-check finds a waiter and wins the CAS back)--&gt; RUNNING (same poller)
 * RUNNING --(its thread is interrupted: fail every waiter Unavailable, then as above)--&gt; IDLE
 * RUNNING --(unexpected throwable: polling := false, fail every waiter Unavailable)--&gt; IDLE
 * </pre>
 *
 * <p>Only the thread that wins the CAS on {@code polling} starts a poller, and a poller exits only
 * after clearing {@code polling} and re-checking the waiter set, so a waiter that registers at any
 * moment is seen either by the running poller or by the CAS it then wins itself: no lost wake-up,
 * never two pollers querying at once. A stopping poller gives back its connection, the tracker's
 * {@code pollerThread} and its count of active pollers BEFORE it clears {@code polling} (and takes
 * them again if it wins the CAS back), so the next poller never overlaps it.
 *
 * <p>Inside RUNNING, each turn: a failure health younger than the retry interval fails racing
 * waiters without a query; else one poll ({@code SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()})
 * sets the health and releases reached waiters; without progress for the stall period it checks
 * for a WAL receiver; then it pauses (or, on PostgreSQL 19, blocks in {@code WAIT FOR LSN}). The
 * pause is published before the {@code urgent} flag is read, the mirror of a new waiter setting the
 * flag before reading the pause, so one of the two always sees the other.
 */
final class ReplicaPoller implements Runnable {

  private final ReplicaTracker tracker;

  ReplicaPoller(ReplicaTracker tracker) {
    this.tracker = tracker;
  }

  /** Polls while waiters exist; see the state machine above. */
  @Override
  public void run() {
    tracker.claimPoller();
    boolean owning = true;
    Session session = new Session();
    try {
      PollInterval interval = new PollInterval(tracker.minIntervalNanos, tracker.maxIntervalNanos);
      @Nullable Lsn previous = null;
      long lastMove = tracker.ticker.read();
      long lastReceiverCheck = tracker.ticker.read();
      while (true) {
        boolean interrupted = Thread.currentThread().isInterrupted();
        if (tracker.waiters.isEmpty() || tracker.closed || interrupted) {
          if (interrupted) {
            // The executor cancels its task (shutdownNow): park would return at once from now on
            // and the poller would query without pause. Stop, answer the waiters now rather than
            // at their timeouts, leave the replica's health alone (it did nothing wrong) and the
            // interrupt status set; the next wait starts a new poller.
            tracker.failAll(new ReplicaTracker.Health(ReplicaTracker.Status.UNAVAILABLE, tracker.ticker.read(),
                new InterruptedException("the poller of replica " + tracker.name + " was interrupted"), null));
          }
          // Give back the connection, the thread slot and the count BEFORE `polling`: once it is
          // false, a new waiter may start the next poller, which must find none of them still held
          // (this poller clearing pollerThread after the next one set it left that one unwakeable).
          session.close();
          owning = false;
          tracker.unclaimPoller();
          tracker.polling.set(false);
          if (tracker.closed || tracker.waiters.isEmpty() || !tracker.polling.compareAndSet(false, true)) {
            return;
          }
          if (interrupted) {
            // A waiter registered after failAll, while `polling` was still set, so it started no
            // poller. This thread may not poll for it (its interrupt stays set: it would fail the
            // waiter as interrupted at once): hand it a fresh poller, or its answer if refused.
            tracker.startPoller();
            return;
          }
          tracker.claimPoller();
          owning = true;
        }
        ReplicaTracker.Health current = tracker.health;
        if (tracker.failureOf(current, Lsn.ZERO, Duration.ZERO) != null && tracker.ticker.read() - current.sinceNanos() < tracker.retryNanos) {
          tracker.failAll(current); // racing waiters that registered before they could see the failure
          continue;
        }
        Sample sample;
        try {
          sample = session.poll();
        } catch (SQLException | RuntimeException e) {
          session.close();
          session = new Session();
          ReplicaTracker.LOG.log(Level.WARNING, "replica " + tracker.name + " did not answer: " + e);
          tracker.failAll(tracker.health(ReplicaTracker.Status.UNAVAILABLE, e, null));
          continue;
        }
        if (!sample.inRecovery) {
          ReplicaTracker.Health terminal = sample.replayed != null
              ? tracker.health(ReplicaTracker.Status.PROMOTED, null, "pg_is_in_recovery() is false: the server was promoted")
              : tracker.health(ReplicaTracker.Status.NOT_REPLICATING, null,
                  "pg_is_in_recovery() is false and it never replayed WAL: the server is a primary, not a replica");
          ReplicaTracker.LOG.log(Level.WARNING, "replica " + tracker.name + ": " + terminal.reason());
          tracker.lastReplayed = sample.replayed;
          tracker.failAll(terminal);
          continue;
        }
        Lsn replayed = sample.replayed != null ? sample.replayed : Lsn.ZERO;
        ReplicaHistory before = tracker.history;
        if (before != null && sample.history != null && (before.timeline() != sample.history.timeline()
            || before.systemIdentifier() != sample.history.systemIdentifier())) {
          ReplicaTracker.LOG.log(Level.INFO, "replica " + tracker.name + " now replays " + sample.history + " (was "
              + before + "): tokens of other histories are not served by it");
        }
        tracker.history = sample.history; // before the position: see ReplicaHistory
        tracker.lastReplayed = replayed;
        if (tracker.health.status() != ReplicaTracker.Status.STREAMING) {
          if (tracker.health.status() != ReplicaTracker.Status.UNKNOWN) {
            ReplicaTracker.LOG.log(Level.INFO, "replica " + tracker.name + " is streaming again at " + replayed);
          }
          tracker.health = tracker.health(ReplicaTracker.Status.STREAMING, null, null);
        }
        tracker.release(replayed, sample.history);
        long now = tracker.ticker.read();
        boolean moved = previous == null || !previous.equals(replayed);
        previous = replayed;
        if (moved) {
          interval.reset();
          lastMove = now;
        } else {
          interval.backOff();
        }
        if (!moved && now - lastMove >= tracker.stallNanos && now - lastReceiverCheck >= tracker.stallNanos && !tracker.waiters.isEmpty()) {
          lastReceiverCheck = now;
          try {
            if (!session.hasWalReceiver()) {
              ReplicaTracker.Health stalled = tracker.health(ReplicaTracker.Status.NOT_REPLICATING, null, "in recovery at " + replayed
                  + " but no WAL receiver is running (primary_conninfo unset or the primary unreachable)");
              ReplicaTracker.LOG.log(Level.WARNING, "replica " + tracker.name + ": " + stalled.reason());
              tracker.failAll(stalled);
              continue;
            }
          } catch (SQLException | RuntimeException e) {
            session.close();
            session = new Session();
            tracker.failAll(tracker.health(ReplicaTracker.Status.UNAVAILABLE, e, null));
            continue;
          }
        }
        if (tracker.waiters.isEmpty()) {
          continue;
        }
        ReplicaTracker.Waiter lowest = tracker.firstOrNull();
        if (session.strategy == ReplayStrategy.WAIT_FOR_LSN && lowest != null) {
          try {
            session.waitFor(
                lowest.target(), waitForLsnNanos(tracker.maxIntervalNanos, tracker.networkTimeoutMillis));
          } catch (SQLException | RuntimeException e) {
            session.close();
            session = new Session();
            tracker.failAll(tracker.health(ReplicaTracker.Status.UNAVAILABLE, e, null));
          }
        } else {
          // Publish the pause BEFORE reading `urgent`, which begin() sets BEFORE reading the pause:
          // either this poller sees a new waiter's flag and pauses only the minimum, or the waiter
          // sees the pause and unparks it. The flag is read here only, never cleared before a poll:
          // a waiter that arrived during the last pause (and unparked it) still resets the interval.
          tracker.sleepingNanos = interval.nanos();
          if (tracker.urgent.getAndSet(false)) {
            interval.reset();
            tracker.sleepingNanos = interval.nanos();
          }
          tracker.lastPauseNanos = interval.nanos();
          LockSupport.parkNanos(this, interval.nanos());
          tracker.sleepingNanos = 0L;
        }
      }
    } catch (RuntimeException | Error e) {
      if (owning) {
        // Only a bug or an Error gets here (every query failure is handled above). Still holding
        // `polling`, the tracker would never start a poller again and every later wait would run
        // to its timeout: let go of it and answer the current waiters now.
        session.close();
        owning = false;
        tracker.unclaimPoller();
        tracker.polling.set(false);
        tracker.failAll(new ReplicaTracker.Health(ReplicaTracker.Status.UNAVAILABLE, 0L,
            new IllegalStateException("the poller of replica " + tracker.name + " failed: " + e, e), null));
      }
      if (e instanceof VirtualMachineError) {
        throw e;
      }
      ReplicaTracker.LOG.log(Level.ERROR, "the poller of replica " + tracker.name + " failed; the next wait starts a new one", e);
    } finally {
      if (owning) {
        session.close();
        tracker.unclaimPoller();
      }
    }
  }


  /**
   * How long one {@code WAIT FOR LSN} may wait on the server: the longest pause between polls, but
   * at most half the connection's network timeout, or a replica that is merely behind would trip
   * the socket timeout and be reported unavailable (and its connection closed) instead of waited
   * for.
   */
  static long waitForLsnNanos(long maxIntervalNanos, int networkTimeoutMillis) {
    return Math.min(maxIntervalNanos, TimeUnit.MILLISECONDS.toNanos(networkTimeoutMillis) / 2);
  }

  private record Sample(boolean inRecovery, @Nullable Lsn replayed, @Nullable ReplicaHistory history) {}

  /**
   * Reads the history columns of a poll: the receiver's timeline (exact) when visible, else the
   * last restartpoint's (a lower bound); null when the server reports neither.
   */
  static @Nullable ReplicaHistory history(@Nullable String receivedTli, @Nullable String checkpointTli,
      @Nullable String systemIdentifier) throws SQLException {
    String tli = receivedTli != null ? receivedTli : checkpointTli;
    if (systemIdentifier == null || tli == null) {
      return null;
    }
    try {
      boolean exact = receivedTli != null;
      int timeline = Integer.parseInt(tli);
      if (timeline <= 0) {
        throw new SQLException("unexpected timeline " + timeline + " in the poll of a replica");
      }
      return new ReplicaHistory(Long.parseUnsignedLong(systemIdentifier), timeline, exact);
    } catch (NumberFormatException e) {
      throw new SQLException("unexpected history in the poll of a replica: received_tli=" + receivedTli
          + ", checkpoint timeline=" + checkpointTli + ", system_identifier=" + systemIdentifier, e);
    }
  }

  /** The poller's connection, opened lazily and closed when the poller stops or a query fails. */
  private final class Session {
    private @Nullable Connection connection;
    private @Nullable PreparedStatement poll;
    /** The connection's own network timeout, set back before it returns to the pool. */
    private int networkTimeoutBefore;
    ReplayStrategy strategy = ReplayStrategy.POLLING;

    private Connection connection() throws SQLException {
      Connection c = connection;
      if (c != null) {
        return c;
      }
      c = tracker.dataSource.getConnection();
      try {
        c.setAutoCommit(true); // no transaction, so no snapshot, is held between polls
        networkTimeoutBefore = c.getNetworkTimeout();
        c.setNetworkTimeout(Runnable::run, tracker.networkTimeoutMillis);
        ReplayStrategy resolved = tracker.resolvedStrategy;
        if (resolved == null) {
          resolved = tracker.configuredStrategy;
          if (resolved == ReplayStrategy.AUTO) {
            try (Statement s = c.createStatement(); ResultSet row = s.executeQuery(ReplicaTracker.VERSION_QUERY)) {
              tracker.queries.increment();
              row.next();
              resolved = ReplayStrategy.AUTO.resolve(ReplayStrategy.parseServerVersionNum(row.getString(1)));
            }
          }
          tracker.resolvedStrategy = resolved;
        }
        strategy = resolved;
        poll = c.prepareStatement(ReplicaTracker.POLL_QUERY);
      } catch (SQLException | RuntimeException e) {
        Jdbc.closeAfter(c, e);
        throw e;
      }
      connection = c;
      return c;
    }

    /** Names the replica and the network timeout in a failure that is the timeout. */
    SQLException named(SQLException e) {
      return Jdbc.timedOut(e, "replica " + tracker.name, Duration.ofMillis(tracker.networkTimeoutMillis));
    }

    Sample poll() throws SQLException {
      try {
        return pollOnce();
      } catch (SQLException e) {
        throw named(e);
      }
    }

    private Sample pollOnce() throws SQLException {
      connection();
      PreparedStatement statement = poll;
      if (statement == null) {
        throw new IllegalStateException("poll statement missing");
      }
      tracker.queries.increment();
      try (ResultSet row = statement.executeQuery()) {
        if (!row.next()) {
          throw new SQLException("no row from " + ReplicaTracker.POLL_QUERY);
        }
        boolean inRecovery = row.getBoolean(1);
        String text = row.getString(2);
        ReplicaHistory history = history(row.getString(3), row.getString(4), row.getString(5));
        return new Sample(inRecovery, text == null ? null : Lsn.parse(text), history);
      }
    }

    boolean hasWalReceiver() throws SQLException {
      tracker.queries.increment();
      try (Statement s = connection().createStatement(); ResultSet row = s.executeQuery(ReplicaTracker.RECEIVER_QUERY)) {
        return row.next() && row.getBoolean(1);
      } catch (SQLException e) {
        throw named(e);
      }
    }

    void waitFor(Lsn target, long timeoutNanos) throws SQLException {
      tracker.queries.increment();
      try (Statement s = connection().createStatement()) {
        // The status row (success, timeout, not in recovery) is not needed: the next poll reads the truth.
        s.execute(ReplayStrategy.waitForLsnSql(target, TimeUnit.NANOSECONDS.toMillis(timeoutNanos)));
      } catch (SQLException e) {
        throw named(e);
      }
    }

    void close() {
      Connection c = connection;
      connection = null;
      poll = null;
      if (c != null) {
        try {
          if (!c.isClosed()) {
            c.setNetworkTimeout(Runnable::run, networkTimeoutBefore); // as the pool lent it
          }
        } catch (SQLException e) {
          ReplicaTracker.LOG.log(Level.DEBUG, "restoring the network timeout of the poll connection of replica "
              + tracker.name + ": " + e);
        }
        try {
          c.close();
        } catch (SQLException e) {
          ReplicaTracker.LOG.log(Level.DEBUG, "closing the poll connection of replica " + tracker.name + ": " + e);
        }
      }
    }
  }
}
