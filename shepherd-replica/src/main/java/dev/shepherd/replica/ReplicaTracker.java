package dev.shepherd.replica;

import dev.shepherd.core.Deadline;
import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.Require;
import dev.shepherd.core.Ticker;
import java.lang.System.Logger.Level;
import java.sql.SQLException;
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
   * Poller: IDLE <-> RUNNING, one at a time, started here by the caller that wins the CAS on
   * `polling`; its transitions and why no wake-up is lost are in ReplicaPoller's class comment.
   *
   * Waiter: PENDING --(poller: replay >= target)--> Replayed
   *         PENDING --(poller: query failed / not in recovery / no WAL receiver)--> failure result
   *         PENDING --(its own caller: deadline passed)--> TimedOut
   *         PENDING --(its own caller: interrupted; close())--> removed / Unavailable
   * Each waiter owns one CompletableFuture; whoever completes it first wins, and the caller always
   * returns the future's value, so a waiter released by the poller at its deadline reports Replayed.
   *
   * Health: STREAMING <-> UNAVAILABLE | PROMOTED | NOT_REPLICATING. Written by the poller, and
   * set to UNAVAILABLE by the router when this replica's pool gives a reader no connection
   * (readerGotNoConnection): a dead replica is otherwise seen only by a poll, and reads without a
   * position start none. A failure health, for retryInterval after it was set, answers new callers
   * at once (and the poller fails racing waiters without a query); after that, a caller's wait
   * makes the poller try again, and so does a read without a position (servesReads starts a poll
   * for position zero, at most once a retry interval, and sends the read elsewhere meanwhile).
   *
   * Who wakes whom: a caller that registers a target beyond the cached replay position unparks the
   * poller if it is sleeping longer than the minimum interval and asks it to reset the interval.
   * The caller writes `urgent` then reads `sleepingNanos`; the poller writes `sleepingNanos` then
   * reads (and clears) `urgent`, once per pause: one of the two always sees the other.
   * The poller completes futures; callers block in future.get(remaining).
   *
   * History: a waiter may carry the history of its token's position (system identifier, timeline).
   * The poller writes `history` BEFORE `lastReplayed`, and readers (the cache) read `lastReplayed`
   * BEFORE `history`, so a reader never pairs a new position with an older history (the pair that
   * could count a position of a newer timeline as the older one's); see ReplicaHistory. Such a
   * waiter is released only when the sample's history is the token's, and failed with
   * OtherHistory as soon as a sample shows the replica never will replay it.
   */

  static final System.Logger LOG = System.getLogger(ReplicaTracker.class.getName());
  /**
   * The poll: the role, the replay position, then (read after the position, see ReplicaHistory) the
   * receiver's timeline, the last restartpoint's timeline and the system identifier.
   */
  static final String POLL_QUERY = "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text,"
      + " (pg_stat_get_wal_receiver()).received_tli::text, (pg_control_checkpoint()).timeline_id::text,"
      + " (pg_control_system()).system_identifier::text";
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

  record Health(Status status, long sinceNanos, @Nullable Exception cause, @Nullable String reason) {}

  private final Config config;
  final String name;
  final DataSource dataSource;
  final Ticker ticker;
  final long minIntervalNanos;
  final long maxIntervalNanos;
  final long retryNanos;
  final long stallNanos;
  final int networkTimeoutMillis;
  private final @Nullable Executor executor;
  final ReplayStrategy configuredStrategy;

  final ConcurrentSkipListSet<Waiter> waiters = new ConcurrentSkipListSet<>(
      Comparator.comparing(Waiter::target).thenComparingLong(Waiter::sequence));
  private final AtomicLong sequence = new AtomicLong();
  final AtomicBoolean polling = new AtomicBoolean();
  final AtomicBoolean urgent = new AtomicBoolean();
  private final AtomicInteger activePollers = new AtomicInteger();
  final LongAdder queries = new LongAdder();
  private final LongAdder pollerStarts = new LongAdder();
  private final LongAdder cacheHits = new LongAdder();
  /** When {@link #servesReads} last started a poll for an unavailable replica. */
  private final AtomicLong lastProbeNanos = new AtomicLong(Long.MIN_VALUE); // MIN_VALUE: never
  private volatile int maxActivePollers;
  /** Written by the poller after {@link #history}, read before it: see {@link ReplicaHistory}. */
  volatile @Nullable Lsn lastReplayed;
  /** The history the replica replays, as the last poll saw it; written before {@link #lastReplayed}. */
  volatile @Nullable ReplicaHistory history;
  volatile Health health;
  private volatile @Nullable Thread pollerThread;
  volatile long sleepingNanos;
  volatile long lastPauseNanos;
  volatile @Nullable ReplayStrategy resolvedStrategy;
  volatile boolean closed;

  private ReplicaTracker(DataSource dataSource, Config config) {
    this.config = config;
    this.name = config.name();
    this.dataSource = dataSource;
    this.ticker = config.ticker();
    this.minIntervalNanos = Durations.toNanosSaturated(config.minPollInterval());
    this.maxIntervalNanos = Durations.toNanosSaturated(config.maxPollInterval());
    this.retryNanos = Durations.toNanosSaturated(config.retryInterval());
    this.stallNanos = Durations.toNanosSaturated(config.stallCheckAfter());
    this.networkTimeoutMillis = (int) Math.min(Integer.MAX_VALUE, Math.max(1L, config.queryTimeout().toMillis()));
    this.executor = config.executor();
    this.configuredStrategy = config.strategy();
    this.health = new Health(Status.UNKNOWN, ticker.read(), null, null);
  }

  /**
   * The settings of a tracker, as its {@link Builder} left them: immutable, for logging, metrics
   * and building a like tracker. Defaults are listed on the builder's methods.
   *
   * @param name the name used in logs, results and the poller thread's name
   * @param minPollInterval the pause after progress and when a new write is awaited
   * @param maxPollInterval the longest pause, reached by doubling while replay does not move
   * @param retryInterval how long a failure is answered at once before the replica is tried again
   * @param stallCheckAfter how long without progress before checking for a WAL receiver
   * @param queryTimeout the network timeout of the poller's connection
   * @param strategy how replay is detected
   * @param executor the executor that runs the poller, or null for a virtual thread per period
   * @param ticker the time source
   */
  public record Config(String name, Duration minPollInterval, Duration maxPollInterval, Duration retryInterval,
      Duration stallCheckAfter, Duration queryTimeout, ReplayStrategy strategy, @Nullable Executor executor,
      Ticker ticker) {

    /**
     * Checks the one rule that joins two settings; the builder has already checked each setting
     * alone when it was set, naming it in the error.
     *
     * @param name the name
     * @param minPollInterval the shortest pause
     * @param maxPollInterval the longest pause
     * @param retryInterval the retry interval
     * @param stallCheckAfter the stall period
     * @param queryTimeout the network timeout
     * @param strategy the strategy
     * @param executor the executor, or null
     * @param ticker the ticker
     * @throws NullPointerException if {@code minPollInterval} or {@code maxPollInterval} is null
     * @throws IllegalArgumentException if {@code minPollInterval > maxPollInterval}
     */
    public Config {
      Require.argument(minPollInterval.compareTo(maxPollInterval) <= 0,
          "minPollInterval must be at most maxPollInterval " + maxPollInterval + ", was " + minPollInterval);
    }
  }

  /**
   * Returns the tracker's settings.
   *
   * @return the immutable config its builder produced
   */
  public Config config() {
    return config;
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
    return switch (begin(target, deadline)) {
      case Start.Answered answered -> answered.result();
      case Waiter waiter -> finish(waiter, deadline);
    };
  }

  /**
   * Waits until the replica has replayed the position of {@code token} within the token's history,
   * it turns out it never will, or the timeout passes.
   *
   * <p>As {@link #awaitReplay(Lsn, Duration)}, and when the token knows its
   * {@linkplain ConsistencyToken#database() history}, the replica counts only while it replays that
   * history: the same cluster (system identifier) and the token's timeline. A replica of another
   * cluster, on a newer timeline, or one that replayed past the token's position on an older
   * timeline (so its WAL left the token's history before that position) answers
   * {@link ReplayResult.OtherHistory} as soon as a poll shows it; one on an older timeline that has
   * not reached the position is waited for, since it may still switch to the token's timeline.
   * How the replica's timeline is read, and what it needs, is in the README ("Timelines").
   *
   * @param token the token whose position the read must see
   * @param timeout how long to wait at most; zero checks the cache only
   * @return the outcome
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if {@code timeout} is negative
   * @throws IllegalStateException if the tracker is closed
   * @throws InterruptedException if the calling thread is interrupted while waiting
   */
  public ReplayResult awaitReplay(ConsistencyToken token, Duration timeout) throws InterruptedException {
    Require.nonNull(token, "token");
    Require.nonNegative(timeout, "timeout");
    Deadline deadline = Deadline.after(timeout, ticker);
    return switch (begin(token.lsn(), token.database(), deadline)) {
      case Start.Answered answered -> answered.result();
      case Waiter waiter -> finish(waiter, deadline);
    };
  }

  /**
   * What starting a wait gave: an answer at once (from the cache, the health, or an expired
   * deadline), or a registered {@link Waiter} the caller then {@linkplain #finish finishes} (or
   * {@linkplain #expire expires}).
   */
  sealed interface Start permits Start.Answered, Waiter {

    /**
     * Answered without a wait.
     *
     * @param result the answer
     */
    record Answered(ReplayResult result) implements Start {}
  }

  /**
   * Called by the router when this replica's pool gave a reader no connection: the replica is
   * marked UNAVAILABLE (unless a poll already found it promoted or not replicating), so reads go
   * elsewhere for the retry interval instead of each waiting out the pool's connection timeout.
   */
  void readerGotNoConnection(SQLException cause) {
    Health current = health;
    if (current.status == Status.STREAMING || current.status == Status.UNKNOWN) {
      LOG.log(Level.WARNING, "replica " + name + " gave a reader no connection; reads go elsewhere until a poll"
          + " finds it again: " + cause);
      health(Status.UNAVAILABLE, cause, null);
    }
  }

  /**
   * Whether a read that needs no position may go to this replica: yes while it streams or has not
   * been contacted. When it is unavailable and its retry interval has passed, starts a poll (a wait
   * for position zero, which the next poll answers, whatever it finds) so that it comes back once
   * it answers, and still answers no for this read.
   */
  boolean servesReads() {
    Health current = health;
    if (current.status == Status.STREAMING || current.status == Status.UNKNOWN) {
      return !closed;
    }
    long now = ticker.read();
    long last = lastProbeNanos.get();
    if (current.status == Status.UNAVAILABLE && !closed && now - current.sinceNanos >= retryNanos
        && (last == Long.MIN_VALUE || now - last >= retryNanos) && lastProbeNanos.compareAndSet(last, now)) {
      try {
        var unusedProbe = begin(Lsn.ZERO, Deadline.after(Duration.ofNanos(retryNanos), ticker));
      } catch (IllegalStateException closedMeanwhile) {
        // closed: nothing to probe
      }
    }
    return false;
  }

  /**
   * Answers from the cache alone: the replica is streaming and its last polled position is at or
   * past {@code target}. Sends no query and registers nothing; counted as a cache hit when it
   * answers.
   *
   * @return the answer, or null when the cache does not have it
   */
  ReplayResult.@Nullable Replayed cachedReplay(Lsn target) {
    return cachedReplay(target, null);
  }

  /**
   * As {@link #cachedReplay(Lsn)}, and with {@code required}, only when the cached history is the
   * token's (see {@link ReplicaHistory#reached}).
   */
  ReplayResult.@Nullable Replayed cachedReplay(Lsn target, @Nullable DatabaseIdentity required) {
    Lsn cached = lastReplayed; // before the history: see ReplicaHistory
    ReplicaHistory seen = history;
    boolean sameHistory = required == null || (seen != null && cached != null && seen.reached(required, target, cached));
    if (health.status == Status.STREAMING && cached != null && cached.isAtLeast(target) && sameHistory) {
      cacheHits.increment();
      return new ReplayResult.Replayed(target, cached, Duration.ZERO);
    }
    return null;
  }

  /**
   * Starts a wait: returns a result at once when the cache or the health answers, else a
   * registered waiter. Shared by {@link #awaitReplay} and the router.
   */
  Start begin(Lsn target, Deadline deadline) {
    return begin(target, null, deadline);
  }

  /** As {@link #begin(Lsn, Deadline)}, for a position of the history {@code required} (null: any). */
  Start begin(Lsn target, @Nullable DatabaseIdentity required, Deadline deadline) {
    Require.state(!closed, "ReplicaTracker " + name + " is closed");
    ReplayResult.Replayed hit = cachedReplay(target, required);
    if (hit != null) {
      return new Start.Answered(hit);
    }
    Health current = health;
    Lsn cached = lastReplayed;
    ReplicaHistory seen = history;
    if (required != null && current.status == Status.STREAMING && cached != null && seen != null) {
      String never = seen.never(required, target, cached);
      if (never != null) {
        return new Start.Answered(otherHistory(target, required, seen, never, Duration.ZERO));
      }
    }
    ReplayResult failure = failureOf(current, target, Duration.ZERO);
    if (failure != null && ticker.read() - current.sinceNanos < retryNanos) {
      return new Start.Answered(failure);
    }
    if (deadline.isExpired()) {
      return new Start.Answered(new ReplayResult.TimedOut(target, cached, Duration.ZERO));
    }
    Waiter waiter = new Waiter(target, required, sequence.incrementAndGet(), ticker);
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
          return waiter.result().join();
        }
        try {
          return waiter.result().get(remaining, TimeUnit.NANOSECONDS);
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
    waiter.result().complete(new ReplayResult.TimedOut(waiter.target(), lastReplayed, waiter.waited()));
  }

  @Nullable ReplayResult failureOf(Health current, Lsn target, Duration waited) {
    return switch (current.status) {
      case UNAVAILABLE -> new ReplayResult.ReplicaUnavailable(target,
          current.cause != null ? current.cause : new SQLException("replica " + name + " unavailable"), waited);
      case PROMOTED -> new ReplayResult.Promoted(target, lastReplayed, waited);
      case NOT_REPLICATING -> new ReplayResult.NotReplicating(target,
          current.reason != null ? current.reason : "not replicating", waited);
      case UNKNOWN, STREAMING -> null;
    };
  }

  void startPoller() {
    pollerStarts.increment();
    try {
      if (executor != null) {
        executor.execute(new ReplicaPoller(this));
      } else {
        Thread.ofVirtual().name("shepherd-replica-poller-" + name).start(new ReplicaPoller(this));
      }
    } catch (RuntimeException e) {
      // The executor refused the poller (RejectedExecutionException: saturated or shut down).
      // Nobody will poll for the waiters registered so far, this caller's included: answer them
      // now, naming the rejection, rather than throw out of awaitReplay or leave them to their
      // timeouts. The replica did nothing wrong, so its health stays; the next wait tries again.
      polling.set(false);
      LOG.log(Level.WARNING, "the executor of replica " + name + " refused its poller: " + e);
      failAll(new Health(Status.UNAVAILABLE, ticker.read(), e, null));
    }
  }

  void claimPoller() {
    int active = activePollers.incrementAndGet();
    if (active > maxActivePollers) {
      maxActivePollers = active;
    }
    pollerThread = Thread.currentThread();
  }

  void unclaimPoller() {
    pollerThread = null;
    activePollers.decrementAndGet();
  }

  @Nullable Waiter firstOrNull() {
    try {
      return waiters.first();
    } catch (java.util.NoSuchElementException e) {
      return null;
    }
  }

  Health health(Status status, @Nullable Exception cause, @Nullable String reason) {
    Health next = new Health(status, ticker.read(), cause, reason);
    health = next;
    return next;
  }

  /**
   * Completes, in one pass, every waiter whose target is at or before {@code replayed} and whose
   * history (if it has one) {@code seen} is, and fails with {@link ReplayResult.OtherHistory} every
   * waiter whose history the replica will never replay. A waiter with a history and an unknown
   * {@code seen} (a server that does not report it) keeps waiting.
   */
  void release(Lsn replayed, @Nullable ReplicaHistory seen) {
    for (Waiter waiter : waiters) {
      DatabaseIdentity required = waiter.required();
      if (required == null) {
        if (!replayed.isAtLeast(waiter.target())) {
          continue; // ordered by target, but later waiters with a history may still be failed
        }
        if (waiters.remove(waiter)) {
          waiter.result().complete(new ReplayResult.Replayed(waiter.target(), replayed, waiter.waited()));
        }
      } else if (seen != null) {
        String never = seen.never(required, waiter.target(), replayed);
        if (never != null) {
          if (waiters.remove(waiter)) {
            LOG.log(Level.DEBUG, "replica " + name + " will never replay " + waiter.target() + " of " + required + ": " + never);
            waiter.result().complete(otherHistory(waiter.target(), required, seen, never, waiter.waited()));
          }
        } else if (seen.reached(required, waiter.target(), replayed) && waiters.remove(waiter)) {
          waiter.result().complete(new ReplayResult.Replayed(waiter.target(), replayed, waiter.waited()));
        }
      }
    }
  }

  ReplayResult.OtherHistory otherHistory(Lsn target, DatabaseIdentity required, ReplicaHistory seen, String reason,
      Duration waited) {
    return new ReplayResult.OtherHistory(target, required, "replica " + name + ": " + seen, reason, waited);
  }

  /** Completes every current waiter with the failure {@code current} stands for. */
  void failAll(Health current) {
    Waiter waiter;
    while ((waiter = waiters.pollFirst()) != null) {
      ReplayResult failure = failureOf(current, waiter.target(), waiter.waited());
      waiter.result().complete(failure != null ? failure
          : new ReplayResult.ReplicaUnavailable(waiter.target(), new SQLException("replica " + name + " unavailable"), waiter.waited()));
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

  /**
   * One caller's wait.
   *
   * @param target the position waited for
   * @param required the history the position belongs to, or null for any
   * @param sequence the order of registration, which orders waiters for the same target
   * @param startNanos when the wait began, by {@code ticker}
   * @param ticker the time source
   * @param result completed by the poller, the deadline or {@link #close()}
   */
  record Waiter(Lsn target, @Nullable DatabaseIdentity required, long sequence, long startNanos, Ticker ticker,
      CompletableFuture<ReplayResult> result) implements Start {

    Waiter(Lsn target, @Nullable DatabaseIdentity required, long sequence, Ticker ticker) {
      this(target, required, sequence, ticker.read(), ticker, new CompletableFuture<>());
    }

    Duration waited() {
      return Duration.ofNanos(Math.max(0L, ticker.read() - startNanos));
    }
  }

  /**
   * Builds a {@link ReplicaTracker}. Not thread-safe; {@link #build()} copies the settings.
   */
  public static final class Builder {
    final DataSource dataSource;
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
     * Sets the network timeout of the poller's connection ({@link java.sql.Connection#setNetworkTimeout}): a
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
      return new ReplicaTracker(dataSource, new Config(name, minPollInterval, maxPollInterval, retryInterval,
          stallCheckAfter, queryTimeout, strategy, executor, ticker));
    }
  }
}
