package dev.shepherd.replica;

import dev.shepherd.core.Deadline;
import dev.shepherd.core.Durations;
import dev.shepherd.core.Require;
import dev.shepherd.core.Ticker;
import java.lang.System.Logger.Level;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Comparator;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;

/**
 * Tracks how far one PostgreSQL streaming replica has replayed the primary's WAL, and lets callers
 * wait until it has replayed a position: the read side of read-your-writes.
 *
 * <pre>{@code
 * ReplicaTracker tracker = ReplicaTracker.builder(replicaDataSource).name("replica-1").build();
 * ReplayResult result = tracker.awaitReplay(lsn, Duration.ofMillis(500));
 * }</pre>
 *
 * <p>{@link #awaitReplay(Lsn, Duration)} answers from the cached replay position without any query
 * when that position is already at or past the target. Otherwise the caller joins a queue of waiters
 * ordered by position, and <em>one</em> poller per tracker queries the replica ({@code SELECT
 * pg_is_in_recovery(), pg_last_wal_replay_lsn()}, autocommit, so no transaction or snapshot is held
 * between queries) and releases, in one pass, every waiter whose position has been replayed. The
 * poller runs only while someone waits: an idle tracker sends no query at all.
 *
 * <p>The poll interval adapts: it starts at {@link Builder#minPollInterval(Duration)} (default
 * 500 microseconds), doubles after every poll that sees no progress up to
 * {@link Builder#maxPollInterval(Duration)} (default 50 ms), and drops back to the minimum when the
 * replay position moves or a waiter arrives with a position the replica has not reached (a fresh
 * write: replay is about to move). So the wait a caller adds follows the real replication lag
 * (a fraction of a millisecond on a healthy replica) instead of a fixed period, and a replica
 * whose replay is paused costs about 20 queries per second while someone waits.
 *
 * <p>Roles come from {@code pg_is_in_recovery()}, never from {@code pg_last_wal_replay_lsn()} alone
 * (which stays non-null after a promotion). A replica that fails to answer, was promoted, or is not
 * replicating fails every current waiter at once with {@link ReplayResult.ReplicaUnavailable},
 * {@link ReplayResult.Promoted} or {@link ReplayResult.NotReplicating}; for the
 * {@linkplain Builder#retryInterval(Duration) retry interval} (default 1 s) after that, new callers get
 * the same answer at once, then the next caller's wait tries the replica again.
 *
 * <p>On PostgreSQL 19 and later the poller blocks in {@code WAIT FOR LSN} between polls instead
 * of sleeping (see {@link ReplayStrategy}).
 *
 * <p>Thread-safe. Close it to fail pending waiters and stop the poller.
 */
public final class ReplicaTracker implements AutoCloseable {

  /*
   * State machine.
   *
   * Poller: IDLE --(a waiter registers, CAS polling false->true)--> RUNNING
   *         RUNNING --(waiter set empty or closed; polling := false; re-check empty, CAS fails or set empty)--> IDLE
   *         RUNNING --(poller thread interrupted: fail every waiter Unavailable, then as above)--> IDLE
   *         RUNNING --(unexpected throwable in the poller: polling := false, fail every waiter Unavailable)--> IDLE
   * Only the thread that wins the CAS on `polling` starts a poller, and a poller exits only after
   * clearing `polling` and re-checking the waiter set, so a waiter that registers at any moment is
   * seen either by the running poller or by the CAS it then wins itself: no lost wake-up, never two
   * pollers querying at once. A stopping poller gives back its connection, `pollerThread` and its
   * count in `activePollers` BEFORE it clears `polling` (and takes them again if it wins the CAS
   * back), so the next poller never overlaps it.
   *
   * Waiter: PENDING --(poller: replay >= target)--> Replayed
   *         PENDING --(poller: query failed / not in recovery / no WAL receiver)--> failure result
   *         PENDING --(its own caller: deadline passed)--> TimedOut
   *         PENDING --(its own caller: interrupted; close())--> removed / Unavailable
   * Each waiter owns one CompletableFuture; whoever completes it first wins, and the caller always
   * returns the future's value, so a waiter released by the poller at its deadline reports Replayed.
   *
   * Health: STREAMING <-> UNAVAILABLE | PROMOTED | NOT_REPLICATING. Written only by the poller. A
   * failure health, for retryInterval after it was set, answers new callers at once (and the poller
   * fails racing waiters without a query); after that, a caller's wait makes the poller try again.
   *
   * Who wakes whom: a caller that registers a target beyond the cached replay position unparks the
   * poller if it is sleeping longer than the minimum interval and asks it to reset the interval.
   * The caller writes `urgent` then reads `sleepingNanos`; the poller writes `sleepingNanos` then
   * reads (and clears) `urgent`, once per pause: one of the two always sees the other.
   * The poller completes futures; callers block in future.get(remaining).
   */

  private static final System.Logger LOG = System.getLogger(ReplicaTracker.class.getName());
  static final String POLL_QUERY = "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text";
  static final String RECEIVER_QUERY = "SELECT EXISTS (SELECT 1 FROM pg_stat_wal_receiver)";
  static final String VERSION_QUERY = "SELECT current_setting('server_version_num')";

  /** The tracker's health, as last seen by the poller. */
  public enum Status {
    /** Not contacted yet. */
    UNKNOWN,
    /** In recovery and answering: waits are served. */
    STREAMING,
    /** The last query failed. */
    UNAVAILABLE,
    /** Left recovery after replaying WAL. */
    PROMOTED,
    /** Not in recovery and never was, or no WAL receiver. */
    NOT_REPLICATING
  }

  private record Health(Status status, long sinceNanos, @Nullable Exception cause, @Nullable String reason) {}

  private final String name;
  private final DataSource dataSource;
  private final Ticker ticker;
  private final long minIntervalNanos;
  private final long maxIntervalNanos;
  private final long retryNanos;
  private final long stallNanos;
  private final int networkTimeoutMillis;
  private final @Nullable Executor executor;
  private final ReplayStrategy configuredStrategy;

  private final ConcurrentSkipListSet<Waiter> waiters = new ConcurrentSkipListSet<>(
      Comparator.comparing((Waiter w) -> w.target).thenComparingLong(w -> w.sequence));
  private final AtomicLong sequence = new AtomicLong();
  private final AtomicBoolean polling = new AtomicBoolean();
  private final AtomicBoolean urgent = new AtomicBoolean();
  private final AtomicInteger activePollers = new AtomicInteger();
  private final LongAdder queries = new LongAdder();
  private final LongAdder pollerStarts = new LongAdder();
  private final LongAdder cacheHits = new LongAdder();
  private volatile int maxActivePollers;
  private volatile @Nullable Lsn lastReplayed;
  private volatile Health health;
  private volatile @Nullable Thread pollerThread;
  private volatile long sleepingNanos;
  private volatile long lastPauseNanos;
  private volatile @Nullable ReplayStrategy resolvedStrategy;
  private volatile boolean closed;

  private ReplicaTracker(Builder builder) {
    this.name = builder.name;
    this.dataSource = builder.dataSource;
    this.ticker = builder.ticker;
    this.minIntervalNanos = Durations.toNanosSaturated(builder.minPollInterval);
    this.maxIntervalNanos = Durations.toNanosSaturated(builder.maxPollInterval);
    this.retryNanos = Durations.toNanosSaturated(builder.retryInterval);
    this.stallNanos = Durations.toNanosSaturated(builder.stallCheckAfter);
    this.networkTimeoutMillis = (int) Math.min(Integer.MAX_VALUE, Math.max(1L, builder.queryTimeout.toMillis()));
    this.executor = builder.executor;
    this.configuredStrategy = builder.strategy;
    this.health = new Health(Status.UNKNOWN, ticker.read(), null, null);
  }

  /**
   * Returns a builder for a tracker of the replica that {@code replica} connects to.
   *
   * @param replica the replica's data source (a pool such as HikariCP; the poller holds one of its
   *     connections while it runs and returns it when nobody waits)
   * @return the builder
   * @throws NullPointerException if {@code replica} is null
   */
  public static Builder builder(DataSource replica) {
    return new Builder(Require.nonNull(replica, "replica"));
  }

  /**
   * Returns the tracker's name, used in logs and results.
   *
   * @return the name
   */
  public String name() {
    return name;
  }

  /**
   * Returns the replica's data source, for reads once a wait has returned {@link ReplayResult.Replayed}.
   *
   * @return the data source given to the builder
   */
  public DataSource dataSource() {
    return dataSource;
  }

  /**
   * Returns the replay position the poller saw last, without a query.
   *
   * @return the cached position, empty before the first poll
   */
  public Optional<Lsn> lastReplayed() {
    return Optional.ofNullable(lastReplayed);
  }

  /**
   * Returns the replica's health as the poller saw it last.
   *
   * @return the status
   */
  public Status status() {
    return health.status;
  }

  /**
   * Returns the strategy in use: {@link ReplayStrategy#AUTO} until the replica was first reached.
   *
   * @return the resolved strategy, or the configured one before resolution
   */
  public ReplayStrategy strategy() {
    ReplayStrategy resolved = resolvedStrategy;
    return resolved != null ? resolved : configuredStrategy;
  }

  /**
   * Returns counters of this tracker's work since it was built.
   *
   * @return a snapshot of the counters
   */
  public Stats stats() {
    return new Stats(queries.sum(), pollerStarts.sum(), cacheHits.sum(), waiters.size(), maxActivePollers);
  }

  /** Returns whether a poller is running (someone waits); for tests. */
  boolean isPolling() {
    return polling.get();
  }

  /** Returns the poller's current or last pause between two polls, in nanoseconds; for tests. */
  long lastPauseNanos() {
    return lastPauseNanos;
  }

  /**
   * Counters of a tracker's work.
   *
   * @param queries statements sent to the replica (polls, receiver checks, version checks, waits)
   * @param pollerStarts how many times a poller started because someone waited while none ran
   * @param cacheHits waits answered from the cached replay position without a query
   * @param waiting callers waiting now
   * @param maxConcurrentPollers the most pollers ever running at once: 1 by design
   */
  public record Stats(long queries, long pollerStarts, long cacheHits, int waiting, int maxConcurrentPollers) {}

  /**
   * Waits until the replica has replayed {@code target}, it turns out it never will, or the timeout
   * passes, whichever comes first.
   *
   * <p>Returns at once, without a query, when the cached replay position is at or past the target,
   * or when the replica failed within the retry interval. Holds no connection of its own: the single
   * poller does the querying for every waiter.
   *
   * @param target the position to wait for, usually from {@link WritePosition#afterCommit}
   * @param timeout how long to wait at most; zero checks the cache only
   * @return the outcome; {@link ReplayResult.TimedOut} only after the whole timeout
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if {@code timeout} is negative
   * @throws IllegalStateException if the tracker is closed
   * @throws InterruptedException if the calling thread is interrupted while waiting
   */
  public ReplayResult awaitReplay(Lsn target, Duration timeout) throws InterruptedException {
    Require.nonNull(target, "target");
    Require.nonNegative(timeout, "timeout");
    Deadline deadline = Deadline.after(timeout, ticker);
    Object started = begin(target, deadline);
    if (started instanceof ReplayResult immediate) {
      return immediate;
    }
    return finish((Waiter) started, deadline);
  }

  /**
   * Starts a wait: returns a result at once when the cache or the health answers, else a
   * registered waiter. Shared by {@link #awaitReplay} and the router.
   */
  Object begin(Lsn target, Deadline deadline) {
    Require.state(!closed, "ReplicaTracker " + name + " is closed");
    Health current = health;
    Lsn cached = lastReplayed;
    if (current.status == Status.STREAMING && cached != null && cached.isAtLeast(target)) {
      cacheHits.increment();
      return new ReplayResult.Replayed(target, cached, Duration.ZERO);
    }
    ReplayResult failure = failureOf(current, target, Duration.ZERO);
    if (failure != null && ticker.read() - current.sinceNanos < retryNanos) {
      return failure;
    }
    if (deadline.isExpired()) {
      return new ReplayResult.TimedOut(target, cached, Duration.ZERO);
    }
    Waiter waiter = new Waiter(target, sequence.incrementAndGet(), ticker.read(), ticker);
    waiters.add(waiter);
    if (closed) { // close() ran between the check above and the add: it may have missed this waiter
      waiters.remove(waiter);
      throw new IllegalStateException("ReplicaTracker " + name + " is closed");
    }
    urgent.set(true);
    if (polling.compareAndSet(false, true)) {
      startPoller();
    } else if (sleepingNanos > minIntervalNanos) {
      Thread poller = pollerThread;
      if (poller != null) {
        LockSupport.unpark(poller);
      }
    }
    return waiter;
  }

  /** Blocks until the waiter completes or the deadline passes. */
  ReplayResult finish(Waiter waiter, Deadline deadline) throws InterruptedException {
    try {
      while (true) {
        long remaining = deadline.remainingNanos();
        if (remaining == 0L) {
          expire(waiter);
          return waiter.result.join();
        }
        try {
          return waiter.result.get(remaining, TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
          // loop: the ticker decides whether the deadline has passed
        } catch (ExecutionException e) {
          throw new IllegalStateException("waiter completed exceptionally", e); // never: only complete() is used
        }
      }
    } finally {
      waiters.remove(waiter);
    }
  }

  /** Completes a waiter as timed out, unless the poller completed it first. */
  void expire(Waiter waiter) {
    waiters.remove(waiter);
    waiter.result.complete(new ReplayResult.TimedOut(waiter.target, lastReplayed, waiter.waited()));
  }

  private @Nullable ReplayResult failureOf(Health current, Lsn target, Duration waited) {
    return switch (current.status) {
      case UNAVAILABLE -> new ReplayResult.ReplicaUnavailable(target,
          current.cause != null ? current.cause : new SQLException("replica " + name + " unavailable"), waited);
      case PROMOTED -> new ReplayResult.Promoted(target, lastReplayed, waited);
      case NOT_REPLICATING -> new ReplayResult.NotReplicating(target,
          current.reason != null ? current.reason : "not replicating", waited);
      case UNKNOWN, STREAMING -> null;
    };
  }

  private void startPoller() {
    pollerStarts.increment();
    try {
      if (executor != null) {
        executor.execute(this::pollLoop);
      } else {
        Thread.ofVirtual().name("shepherd-replica-poller-" + name).start(this::pollLoop);
      }
    } catch (RuntimeException e) {
      polling.set(false);
      failAll(health(Status.UNAVAILABLE, e, null));
      throw e;
    }
  }

  /** The poller: runs while waiters exist; see the state machine above. */
  private void pollLoop() {
    claimPoller();
    boolean owning = true;
    Session session = new Session();
    try {
      PollInterval interval = new PollInterval(minIntervalNanos, maxIntervalNanos);
      @Nullable Lsn previous = null;
      long lastMove = ticker.read();
      long lastReceiverCheck = ticker.read();
      while (true) {
        boolean interrupted = Thread.currentThread().isInterrupted();
        if (waiters.isEmpty() || closed || interrupted) {
          if (interrupted) {
            // The executor cancels its task (shutdownNow): park would return at once from now on
            // and the poller would query without pause. Stop, answer the waiters now rather than
            // at their timeouts, leave the replica's health alone (it did nothing wrong) and the
            // interrupt status set; the next wait starts a new poller.
            failAll(new Health(Status.UNAVAILABLE, ticker.read(),
                new InterruptedException("the poller of replica " + name + " was interrupted"), null));
          }
          // Give back the connection, the thread slot and the count BEFORE `polling`: once it is
          // false, a new waiter may start the next poller, which must find none of them still held
          // (this poller clearing pollerThread after the next one set it left that one unwakeable).
          session.close();
          owning = false;
          unclaimPoller();
          polling.set(false);
          if (closed || waiters.isEmpty() || !polling.compareAndSet(false, true)) {
            return;
          }
          claimPoller();
          owning = true;
        }
        Health current = health;
        if (failureOf(current, Lsn.ZERO, Duration.ZERO) != null && ticker.read() - current.sinceNanos < retryNanos) {
          failAll(current); // racing waiters that registered before they could see the failure
          continue;
        }
        Sample sample;
        try {
          sample = session.poll();
        } catch (SQLException | RuntimeException e) {
          session.close();
          session = new Session();
          LOG.log(Level.WARNING, "replica " + name + " did not answer: " + e);
          failAll(health(Status.UNAVAILABLE, e, null));
          continue;
        }
        if (!sample.inRecovery) {
          Health terminal = sample.replayed != null
              ? health(Status.PROMOTED, null, "pg_is_in_recovery() is false: the server was promoted")
              : health(Status.NOT_REPLICATING, null,
                  "pg_is_in_recovery() is false and it never replayed WAL: the server is a primary, not a replica");
          LOG.log(Level.WARNING, "replica " + name + ": " + terminal.reason);
          lastReplayed = sample.replayed;
          failAll(terminal);
          continue;
        }
        Lsn replayed = sample.replayed != null ? sample.replayed : Lsn.ZERO;
        lastReplayed = replayed;
        if (health.status != Status.STREAMING) {
          if (health.status != Status.UNKNOWN) {
            LOG.log(Level.INFO, "replica " + name + " is streaming again at " + replayed);
          }
          health = health(Status.STREAMING, null, null);
        }
        release(replayed);
        long now = ticker.read();
        boolean moved = previous == null || !previous.equals(replayed);
        previous = replayed;
        if (moved) {
          interval.reset();
          lastMove = now;
        } else {
          interval.backOff();
        }
        if (!moved && now - lastMove >= stallNanos && now - lastReceiverCheck >= stallNanos && !waiters.isEmpty()) {
          lastReceiverCheck = now;
          try {
            if (!session.hasWalReceiver()) {
              Health stalled = health(Status.NOT_REPLICATING, null, "in recovery at " + replayed
                  + " but no WAL receiver is running (primary_conninfo unset or the primary unreachable)");
              LOG.log(Level.WARNING, "replica " + name + ": " + stalled.reason);
              failAll(stalled);
              continue;
            }
          } catch (SQLException | RuntimeException e) {
            session.close();
            session = new Session();
            failAll(health(Status.UNAVAILABLE, e, null));
            continue;
          }
        }
        if (waiters.isEmpty()) {
          continue;
        }
        Waiter lowest = firstOrNull();
        if (session.strategy == ReplayStrategy.WAIT_FOR_LSN && lowest != null) {
          try {
            session.waitFor(lowest.target, maxIntervalNanos);
          } catch (SQLException | RuntimeException e) {
            session.close();
            session = new Session();
            failAll(health(Status.UNAVAILABLE, e, null));
          }
        } else {
          // Publish the pause BEFORE reading `urgent`, which begin() sets BEFORE reading the pause:
          // either this poller sees a new waiter's flag and pauses only the minimum, or the waiter
          // sees the pause and unparks it. The flag is read here only, never cleared before a poll:
          // a waiter that arrived during the last pause (and unparked it) still resets the interval.
          sleepingNanos = interval.nanos();
          if (urgent.getAndSet(false)) {
            interval.reset();
            sleepingNanos = interval.nanos();
          }
          lastPauseNanos = interval.nanos();
          LockSupport.parkNanos(this, interval.nanos());
          sleepingNanos = 0L;
        }
      }
    } catch (RuntimeException | Error e) {
      if (owning) {
        // Only a bug or an Error gets here (every query failure is handled above). Still holding
        // `polling`, the tracker would never start a poller again and every later wait would run
        // to its timeout: let go of it and answer the current waiters now.
        session.close();
        owning = false;
        unclaimPoller();
        polling.set(false);
        failAll(new Health(Status.UNAVAILABLE, 0L,
            new IllegalStateException("the poller of replica " + name + " failed: " + e, e), null));
      }
      if (e instanceof VirtualMachineError) {
        throw e;
      }
      LOG.log(Level.ERROR, "the poller of replica " + name + " failed; the next wait starts a new one", e);
    } finally {
      if (owning) {
        session.close();
        unclaimPoller();
      }
    }
  }

  private void claimPoller() {
    int active = activePollers.incrementAndGet();
    if (active > maxActivePollers) {
      maxActivePollers = active;
    }
    pollerThread = Thread.currentThread();
  }

  private void unclaimPoller() {
    pollerThread = null;
    activePollers.decrementAndGet();
  }

  private @Nullable Waiter firstOrNull() {
    try {
      return waiters.first();
    } catch (java.util.NoSuchElementException e) {
      return null;
    }
  }

  private Health health(Status status, @Nullable Exception cause, @Nullable String reason) {
    Health next = new Health(status, ticker.read(), cause, reason);
    health = next;
    return next;
  }

  /** Completes every waiter whose target is at or before {@code replayed}, in one pass. */
  private void release(Lsn replayed) {
    for (Waiter waiter : waiters) {
      if (!replayed.isAtLeast(waiter.target)) {
        break; // ordered by target: the rest are later
      }
      if (waiters.remove(waiter)) {
        waiter.result.complete(new ReplayResult.Replayed(waiter.target, replayed, waiter.waited()));
      }
    }
  }

  /** Completes every current waiter with the failure {@code current} stands for. */
  private void failAll(Health current) {
    Waiter waiter;
    while ((waiter = waiters.pollFirst()) != null) {
      ReplayResult failure = failureOf(current, waiter.target, waiter.waited());
      waiter.result.complete(failure != null ? failure
          : new ReplayResult.ReplicaUnavailable(waiter.target, new SQLException("replica " + name + " unavailable"), waiter.waited()));
    }
  }

  /**
   * Fails every pending waiter with {@link ReplayResult.ReplicaUnavailable} and stops the poller;
   * later calls to {@link #awaitReplay} throw {@link IllegalStateException}. Idempotent.
   */
  @Override
  public void close() {
    closed = true;
    failAll(new Health(Status.UNAVAILABLE, ticker.read(),
        new IllegalStateException("ReplicaTracker " + name + " was closed"), null));
    Thread poller = pollerThread;
    if (poller != null) {
      LockSupport.unpark(poller);
    }
  }

  @Override
  public String toString() {
    return "ReplicaTracker[" + name + ", " + health.status + ", lastReplayed=" + lastReplayed + "]";
  }

  /** One caller's wait. */
  static final class Waiter {
    final Lsn target;
    final long sequence;
    final long startNanos;
    final CompletableFuture<ReplayResult> result = new CompletableFuture<>();
    private final Ticker ticker;

    Waiter(Lsn target, long sequence, long startNanos, Ticker ticker) {
      this.target = target;
      this.sequence = sequence;
      this.startNanos = startNanos;
      this.ticker = ticker;
    }

    Duration waited() {
      return Duration.ofNanos(Math.max(0L, ticker.read() - startNanos));
    }
  }

  private record Sample(boolean inRecovery, @Nullable Lsn replayed) {}

  /** The poller's connection, opened lazily and closed when the poller stops or a query fails. */
  private final class Session {
    private @Nullable Connection connection;
    private @Nullable PreparedStatement poll;
    ReplayStrategy strategy = ReplayStrategy.POLLING;

    private Connection connection() throws SQLException {
      Connection c = connection;
      if (c != null) {
        return c;
      }
      c = dataSource.getConnection();
      try {
        c.setAutoCommit(true); // no transaction, so no snapshot, is held between polls
        c.setNetworkTimeout(Runnable::run, networkTimeoutMillis);
        ReplayStrategy resolved = resolvedStrategy;
        if (resolved == null) {
          resolved = configuredStrategy;
          if (resolved == ReplayStrategy.AUTO) {
            try (Statement s = c.createStatement(); ResultSet row = s.executeQuery(VERSION_QUERY)) {
              queries.increment();
              row.next();
              resolved = ReplayStrategy.AUTO.resolve(ReplayStrategy.parseServerVersionNum(row.getString(1)));
            }
          }
          resolvedStrategy = resolved;
        }
        strategy = resolved;
        poll = c.prepareStatement(POLL_QUERY);
      } catch (SQLException | RuntimeException e) {
        try {
          c.close();
        } catch (SQLException suppressed) {
          e.addSuppressed(suppressed);
        }
        throw e;
      }
      connection = c;
      return c;
    }

    Sample poll() throws SQLException {
      connection();
      PreparedStatement statement = poll;
      if (statement == null) {
        throw new IllegalStateException("poll statement missing");
      }
      queries.increment();
      try (ResultSet row = statement.executeQuery()) {
        if (!row.next()) {
          throw new SQLException("no row from " + POLL_QUERY);
        }
        boolean inRecovery = row.getBoolean(1);
        String text = row.getString(2);
        return new Sample(inRecovery, text == null ? null : Lsn.parse(text));
      }
    }

    boolean hasWalReceiver() throws SQLException {
      queries.increment();
      try (Statement s = connection().createStatement(); ResultSet row = s.executeQuery(RECEIVER_QUERY)) {
        return row.next() && row.getBoolean(1);
      }
    }

    void waitFor(Lsn target, long timeoutNanos) throws SQLException {
      queries.increment();
      try (Statement s = connection().createStatement()) {
        // The status row (success, timeout, not in recovery) is not needed: the next poll reads the truth.
        s.execute(ReplayStrategy.waitForLsnSql(target, TimeUnit.NANOSECONDS.toMillis(timeoutNanos)));
      }
    }

    void close() {
      Connection c = connection;
      connection = null;
      poll = null;
      if (c != null) {
        try {
          c.close();
        } catch (SQLException e) {
          LOG.log(Level.DEBUG, "closing the poll connection of replica " + name + ": " + e);
        }
      }
    }
  }

  /**
   * Builds a {@link ReplicaTracker}. Not thread-safe; {@link #build()} copies the settings.
   */
  public static final class Builder {
    private final DataSource dataSource;
    private String name = "replica";
    private Ticker ticker = Ticker.system();
    private Duration minPollInterval = Duration.ofNanos(500_000);
    private Duration maxPollInterval = Duration.ofMillis(50);
    private Duration retryInterval = Duration.ofSeconds(1);
    private Duration stallCheckAfter = Duration.ofSeconds(1);
    private Duration queryTimeout = Duration.ofSeconds(2);
    private @Nullable Executor executor;
    private ReplayStrategy strategy = ReplayStrategy.AUTO;

    private Builder(DataSource dataSource) {
      this.dataSource = dataSource;
    }

    /**
     * Sets the name used in logs, results and the poller thread's name. Default {@code "replica"}.
     *
     * @param name the name
     * @return this builder
     * @throws NullPointerException if {@code name} is null
     * @throws IllegalArgumentException if it is empty
     */
    public Builder name(String name) {
      this.name = Require.notEmpty(name, "name");
      return this;
    }

    /**
     * Sets the poll interval used after progress and when a new write is awaited. Default 500 µs.
     *
     * @param interval the shortest pause between two polls
     * @return this builder
     * @throws NullPointerException if {@code interval} is null
     * @throws IllegalArgumentException if it is not positive
     */
    public Builder minPollInterval(Duration interval) {
      this.minPollInterval = Require.positive(interval, "minPollInterval");
      return this;
    }

    /**
     * Sets the longest pause between two polls, reached by doubling while replay does not move.
     * Default 50 ms. On PostgreSQL 19 it is also the {@code WAIT FOR LSN} timeout.
     *
     * @param interval the longest pause
     * @return this builder
     * @throws NullPointerException if {@code interval} is null
     * @throws IllegalArgumentException if it is not positive
     */
    public Builder maxPollInterval(Duration interval) {
      this.maxPollInterval = Require.positive(interval, "maxPollInterval");
      return this;
    }

    /**
     * Sets how long a failure (unavailable, promoted, not replicating) is reported at once to new
     * callers before one of them makes the tracker try the replica again. Default 1 s.
     *
     * @param interval the retry interval; zero retries on every wait
     * @return this builder
     * @throws NullPointerException if {@code interval} is null
     * @throws IllegalArgumentException if it is negative
     */
    public Builder retryInterval(Duration interval) {
      this.retryInterval = Require.nonNegative(interval, "retryInterval");
      return this;
    }

    /**
     * Sets after how long without replay progress, while someone waits, the poller checks that a
     * WAL receiver runs ({@code pg_stat_wal_receiver}); none means {@link ReplayResult.NotReplicating}.
     * Default 1 s. A replica whose replay is paused still has its receiver and keeps being polled.
     *
     * @param after the stall period
     * @return this builder
     * @throws NullPointerException if {@code after} is null
     * @throws IllegalArgumentException if it is not positive
     */
    public Builder stallCheckAfter(Duration after) {
      this.stallCheckAfter = Require.positive(after, "stallCheckAfter");
      return this;
    }

    /**
     * Sets the network timeout of the poller's connection ({@link Connection#setNetworkTimeout}): a
     * replica that stops answering mid-query is reported unavailable after this. Default 2 s. Also
     * bound your pool's connection timeout (HikariCP {@code connectionTimeout}, at least 250 ms),
     * which decides how fast a replica that refuses connections is reported.
     *
     * @param timeout the timeout, rounded to milliseconds
     * @return this builder
     * @throws NullPointerException if {@code timeout} is null
     * @throws IllegalArgumentException if it is not positive
     */
    public Builder queryTimeout(Duration timeout) {
      this.queryTimeout = Require.positive(timeout, "queryTimeout");
      return this;
    }

    /**
     * Sets the executor that runs the poller, one task per period during which someone waits.
     * Default: a new virtual thread per period.
     *
     * @param executor the executor
     * @return this builder
     * @throws NullPointerException if {@code executor} is null
     */
    public Builder executor(Executor executor) {
      this.executor = Require.nonNull(executor, "executor");
      return this;
    }

    /**
     * Sets how replay is detected. Default {@link ReplayStrategy#AUTO}.
     *
     * @param strategy the strategy
     * @return this builder
     * @throws NullPointerException if {@code strategy} is null
     */
    public Builder strategy(ReplayStrategy strategy) {
      this.strategy = Require.nonNull(strategy, "strategy");
      return this;
    }

    /**
     * Sets the time source for deadlines, intervals and waited durations. Default
     * {@link Ticker#system()}; the test seam.
     *
     * @param ticker the ticker
     * @return this builder
     * @throws NullPointerException if {@code ticker} is null
     */
    public Builder ticker(Ticker ticker) {
      this.ticker = Require.nonNull(ticker, "ticker");
      return this;
    }

    /**
     * Builds the tracker; no query is sent until someone waits.
     *
     * @return the tracker
     * @throws IllegalArgumentException if {@code minPollInterval > maxPollInterval}
     */
    public ReplicaTracker build() {
      Require.argument(minPollInterval.compareTo(maxPollInterval) <= 0,
          "minPollInterval must be at most maxPollInterval " + maxPollInterval + ", was " + minPollInterval);
      return new ReplicaTracker(this);
    }
  }
}
