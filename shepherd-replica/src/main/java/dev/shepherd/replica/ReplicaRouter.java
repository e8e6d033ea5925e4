package dev.shepherd.replica;

import dev.shepherd.core.Deadline;
import dev.shepherd.core.internal.Require;
import dev.shepherd.core.Ticker;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAccumulator;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;

/**
 * Routes reads to a replica that has replayed the position they must see, the least lagging of
 * several, and falls back to the primary, recording why, when none has within a bound.
 *
 * <pre>{@code
 * ReplicaRouter router = ReplicaRouter.builder(primary)
 *     .replica(tracker1).replica(tracker2)
 *     .maxWait(Duration.ofMillis(200))
 *     .build();
 * String name = router.read(token.lsn(), c -> ...query...);
 * }</pre>
 *
 * <p>For a required position, {@link #route(Lsn)} first looks at each tracker's cached replay
 * position: if some replica has replayed it, the one furthest ahead is chosen without a query.
 * Otherwise it waits on every replica at once (each through its tracker's single poller) and takes
 * the first that replays it; when every replica has failed (unavailable, promoted, not replicating)
 * it falls back at once, and when {@link Builder#maxWait(Duration)} passes, it falls back with
 * {@link Route.FallbackReason#TIMED_OUT}. Without a required position, the replica furthest ahead
 * that is not known to be failing is chosen. No connection, transaction or snapshot is held on any
 * replica while waiting: the read's own transaction starts after the replica has replayed.
 *
 * <p>Every decision is counted ({@link #stats()}) and given to the
 * {@linkplain Builder#listener(Consumer) listener}, for metrics and logs.
 *
 * <p>Thread-safe.
 */
public final class ReplicaRouter {

  private final Config config;
  private final DataSource primary;
  private final List<ReplicaTracker> replicas;
  private final Duration maxWait;
  private final Ticker ticker;
  private final Consumer<Route> listener;

  private final LongAdder replicaReads = new LongAdder();
  private final Map<Route.FallbackReason, LongAdder> fallbacks = new EnumMap<>(Route.FallbackReason.class);
  private final LongAdder waitNanos = new LongAdder();
  private final LongAccumulator maxWaitNanos = new LongAccumulator(Math::max, 0L);

  private ReplicaRouter(DataSource primary, Config config) {
    this.config = config;
    this.primary = primary;
    this.replicas = config.replicas();
    this.maxWait = config.maxWait();
    this.ticker = config.ticker();
    this.listener = config.listener();
    for (Route.FallbackReason reason : Route.FallbackReason.values()) {
      fallbacks.put(reason, new LongAdder());
    }
  }

  /**
   * The settings of a router, as its {@link Builder} left them: immutable, for logging and metrics.
   *
   * @param replicas the replicas' trackers, in the order added
   * @param maxWait how long a read waits for some replica before it goes to the primary
   * @param listener the listener told of every routing decision
   * @param ticker the time source
   */
  public record Config(List<ReplicaTracker> replicas, Duration maxWait, Consumer<Route> listener, Ticker ticker) {

    /**
     * Copies the replicas, so that the config cannot change; the builder has already checked each
     * setting when it was set, naming it in the error.
     *
     * @param replicas the trackers
     * @param maxWait the bound
     * @param listener the listener
     * @param ticker the ticker
     * @throws NullPointerException if {@code replicas} is or holds null (the message names
     *     {@code replicas})
     */
    public Config {
      replicas = List.copyOf(Require.nonNull(replicas, "replicas"));
    }
  }

  /**
   * Returns the router's settings.
   *
   * @return the immutable config its builder produced
   */
  public Config config() {
    return config;
  }

  /**
   * Returns a builder for a router whose fallback is {@code primary}.
   *
   * @param primary the primary's data source
   * @return the builder
   * @throws NullPointerException if {@code primary} is null
   */
  public static Builder builder(DataSource primary) {
    return new Builder(Require.nonNull(primary, "primary"));
  }

  /**
   * A unit of JDBC work on a connection the router chose.
   *
   * @param <T> the result type
   */
  @FunctionalInterface
  public interface SqlWork<T> {
    /**
     * Runs the work.
     *
     * @param connection the connection, closed by the router afterwards
     * @return the result
     * @throws SQLException if the work fails
     */
    T apply(Connection connection) throws SQLException;
  }

  /**
   * Chooses where a read that must see {@code required} goes, waiting up to the maximum wait.
   *
   * @param required the position the read must see (from a {@link ConsistencyToken}), or null for
   *     any replica
   * @return the route
   * @throws InterruptedException if interrupted while waiting
   */
  public Route route(@Nullable Lsn required) throws InterruptedException {
    long start = ticker.read();
    Route route = required == null ? routeAny() : routeFor(required, null, Deadline.after(maxWait, ticker), start);
    record(route);
    return route;
  }

  /**
   * Chooses where a read that must see {@code token}'s write goes, as {@link #route(Lsn)}, and when
   * the token knows its {@linkplain ConsistencyToken#database() history}, counts a replica only
   * while it replays that history (see {@link ReplicaTracker#awaitReplay(ConsistencyToken, Duration)}):
   * one of another cluster or timeline is not waited for, and when no replica serves, the read goes
   * to the primary with {@link Route.FallbackReason#OTHER_HISTORY} if that is all they answered.
   *
   * @param token the token of the write the read must see, or null for any replica
   * @return the route
   * @throws InterruptedException if interrupted while waiting
   */
  public Route routeAfter(@Nullable ConsistencyToken token) throws InterruptedException {
    long start = ticker.read();
    Route route = token == null ? routeAny() : routeFor(token.lsn(), token.database(), Deadline.after(maxWait, ticker), start);
    record(route);
    return route;
  }

  /**
   * Routes a read with {@link #route(Lsn)}, then runs {@code work} on a connection from the chosen
   * data source. When the chosen replica's pool cannot hand out a connection, the read goes to the
   * primary instead (recorded as {@link Route.FallbackReason#REPLICA_UNAVAILABLE}); a failure of
   * the work itself is not retried.
   *
   * @param required the position the read must see, or null
   * @param work the read
   * @param <T> the result type
   * @return what {@code work} returned
   * @throws NullPointerException if {@code work} is null
   * @throws SQLException if the primary cannot be reached or the work fails
   * @throws InterruptedException if interrupted while waiting for a replica
   */
  public <T> T read(@Nullable Lsn required, SqlWork<T> work) throws SQLException, InterruptedException {
    Require.nonNull(work, "work");
    return run(route(required), required, work);
  }

  /**
   * Routes a read with {@link #routeAfter(ConsistencyToken)}, then runs {@code work} as
   * {@link #read(Lsn, SqlWork)} does.
   *
   * <p>The library bounds its own statements only; {@code work}'s statements run with whatever the
   * chosen pool's connections have (pgjdbc's {@code socketTimeout}, none by default), so give the
   * pools a socket timeout when a read must not outlive a server that stops answering.
   *
   * @param token the token of the write the read must see (for example
   *     {@code ConsistencyContext.current().orElse(null)}), or null
   * @param work the read
   * @param <T> the result type
   * @return what {@code work} returned
   * @throws NullPointerException if {@code work} is null
   * @throws SQLException if the primary cannot be reached or the work fails
   * @throws InterruptedException if interrupted while waiting for a replica
   */
  public <T> T readAfter(@Nullable ConsistencyToken token, SqlWork<T> work) throws SQLException, InterruptedException {
    Require.nonNull(work, "work");
    return run(routeAfter(token), token == null ? null : token.lsn(), work);
  }

  private <T> T run(Route chosen, @Nullable Lsn required, SqlWork<T> work) throws SQLException {
    Route route = chosen;
    if (route instanceof Route.ToReplica toReplica) {
      Connection connection;
      try {
        connection = toReplica.dataSource().getConnection();
      } catch (SQLException e) {
        route = replicaGaveNoConnection(toReplica, required, e);
        connection = primary.getConnection();
      }
      try (Connection c = connection) {
        return work.apply(c);
      }
    }
    try (Connection c = route.dataSource().getConnection()) {
      return work.apply(c);
    }
  }

  private Route routeAny() {
    ReplicaTracker best = null;
    Lsn bestLsn = null;
    for (ReplicaTracker replica : replicas) {
      if (!replica.servesReads()) {
        continue; // closed, or failing (a poll is under way to find it again)
      }
      Lsn lsn = replica.lastReplayed().orElse(null);
      if (best == null || (lsn != null && (bestLsn == null || lsn.compareTo(bestLsn) > 0))) {
        best = replica;
        bestLsn = lsn;
      }
    }
    if (best != null) {
      return new Route.ToReplica(best.dataSource(), best, null, bestLsn, Duration.ZERO);
    }
    return replicas.isEmpty()
        ? new Route.ToPrimary(primary, Route.FallbackReason.NO_REPLICAS, "no replica configured", null, List.of(), Duration.ZERO)
        : new Route.ToPrimary(primary, Route.FallbackReason.REPLICA_UNAVAILABLE,
            "every replica is failing: " + replicas, null, List.of(), Duration.ZERO);
  }

  // NullAway cannot follow the two arrays: a slot of 'results' is read only once set, and a slot
  // of 'waiting' is cleared only after its result was taken.
  @SuppressWarnings("NullAway")
  private Route routeFor(Lsn required, @Nullable DatabaseIdentity history, Deadline deadline, long start)
      throws InterruptedException {
    if (replicas.isEmpty()) {
      return new Route.ToPrimary(primary, Route.FallbackReason.NO_REPLICAS, "no replica configured", required, List.of(), Duration.ZERO);
    }
    int n = replicas.size();
    // The caches first: when a replica has replayed the position already, no other replica gets a
    // waiter (a lagging one would start polling, and query, for a read that does not need it).
    ReplicaTracker cachedBest = null;
    ReplayResult.Replayed cachedBestResult = null;
    for (ReplicaTracker replica : replicas) {
      ReplayResult.Replayed hit = replica.closed ? null : replica.cachedReplay(required, history);
      if (hit != null && (cachedBestResult == null || hit.replayed().compareTo(cachedBestResult.replayed()) > 0)) {
        cachedBest = replica;
        cachedBestResult = hit;
      }
    }
    if (cachedBest != null) {
      return new Route.ToReplica(cachedBest.dataSource(), cachedBest, required, cachedBestResult.replayed(),
          elapsed(start));
    }
    ReplayResult[] results = new ReplayResult[n];
    ReplicaTracker.Waiter[] waiting = new ReplicaTracker.Waiter[n];
    Semaphore completions = new Semaphore(0);
    int pending = 0;
    try {
      for (int i = 0; i < n; i++) {
        ReplicaTracker.Start begun;
        try {
          begun = replicas.get(i).begin(required, history, deadline);
        } catch (IllegalStateException closed) {
          if (!replicas.get(i).closed) {
            throw closed;
          }
          // Closed by its owner (at shutdown, or taken out of service): skip it, do not fail the read.
          begun = new ReplicaTracker.Start.Answered(new ReplayResult.ReplicaUnavailable(required, closed, Duration.ZERO));
        }
        switch (begun) {
          case ReplicaTracker.Start.Answered answered -> results[i] = answered.result();
          case ReplicaTracker.Waiter waiter -> {
            waiting[i] = waiter;
            var unusedRelease = waiter.result().whenComplete((r, e) -> completions.release());
            pending++;
          }
        }
      }
      while (true) {
        int best = -1;
        for (int i = 0; i < n; i++) {
          if (results[i] == null && waiting[i] != null && waiting[i].result().isDone()) {
            results[i] = waiting[i].result().join();
            waiting[i] = null;
            pending--;
          }
          if (results[i] instanceof ReplayResult.Replayed replayed
              && (best == -1 || replayed.replayed().compareTo(((ReplayResult.Replayed) results[best]).replayed()) > 0)) {
            best = i;
          }
        }
        if (best >= 0) {
          ReplicaTracker chosen = replicas.get(best);
          return new Route.ToReplica(chosen.dataSource(), chosen, required,
              ((ReplayResult.Replayed) results[best]).replayed(), elapsed(start));
        }
        if (pending == 0) {
          return fallback(required, results, start);
        }
        long remaining = deadline.remainingNanos();
        if (remaining == 0L) {
          for (int i = 0; i < n; i++) {
            if (waiting[i] != null) {
              replicas.get(i).expire(waiting[i]);
            }
          }
          continue; // collect the TimedOut (or a Replayed that won the race) on the next pass
        }
        if (!completions.tryAcquire(remaining, TimeUnit.NANOSECONDS)) {
          continue;
        }
        completions.drainPermits();
      }
    } finally {
      for (int i = 0; i < n; i++) {
        if (waiting[i] != null) {
          replicas.get(i).expire(waiting[i]);
        }
      }
    }
  }

  private Route fallback(Lsn required, ReplayResult[] results, long start) {
    Route.FallbackReason reason = null;
    StringBuilder detail = new StringBuilder("no replica has replayed ").append(required).append(':');
    for (int i = 0; i < results.length; i++) {
      ReplayResult result = results[i];
      Route.FallbackReason own = switch (result) {
        case ReplayResult.TimedOut t -> Route.FallbackReason.TIMED_OUT;
        case ReplayResult.ReplicaUnavailable u -> Route.FallbackReason.REPLICA_UNAVAILABLE;
        case ReplayResult.Promoted p -> Route.FallbackReason.PROMOTED;
        case ReplayResult.NotReplicating x -> Route.FallbackReason.NOT_REPLICATING;
        case ReplayResult.OtherHistory o -> Route.FallbackReason.OTHER_HISTORY;
        case ReplayResult.Replayed r -> throw new IllegalStateException("fallback with a replayed replica");
      };
      // A timeout says the replicas are merely behind: that is the most useful reason to report.
      if (reason == null || own == Route.FallbackReason.TIMED_OUT) {
        reason = own;
      }
      detail.append(' ').append(replicas.get(i).name()).append(' ').append(describe(result));
      if (i < results.length - 1) {
        detail.append(';');
      }
    }
    return new Route.ToPrimary(
        primary, Require.nonNull(reason, "reason"), detail.toString(), required, List.of(results),
        elapsed(start));
  }

  private static String describe(ReplayResult result) {
    return switch (result) {
      case ReplayResult.TimedOut t -> "timed out after " + t.waited() + " at " + t.lastReplayed();
      case ReplayResult.ReplicaUnavailable u -> "unavailable (" + u.cause() + ")";
      case ReplayResult.Promoted p -> "promoted";
      case ReplayResult.NotReplicating x -> "not replicating (" + x.reason() + ")";
      case ReplayResult.OtherHistory o -> "of another history (" + o.replica() + ": " + o.reason() + ")";
      case ReplayResult.Replayed r -> "replayed " + r.replayed();
    };
  }

  private Duration elapsed(long start) {
    return Duration.ofNanos(Math.max(0L, ticker.read() - start));
  }

  /**
   * Turns a read routed to a replica whose pool then gave no connection into a read on the
   * primary: counted as that fallback instead of a replica read, and told to the listener, but its
   * wait counted once (it was counted when the route was chosen).
   */
  Route replicaGaveNoConnection(Route.ToReplica chosen, @Nullable Lsn required, SQLException e) {
    chosen.replica().readerGotNoConnection(e);
    replicaReads.decrement();
    Route fallback = new Route.ToPrimary(primary, Route.FallbackReason.REPLICA_UNAVAILABLE,
        "replica " + chosen.replica().name() + " gave no connection: " + e.getMessage(), required,
        List.of(), chosen.waited());
    Require.nonNull(fallbacks.get(Route.FallbackReason.REPLICA_UNAVAILABLE), "fallback counter").increment();
    listener.accept(fallback);
    return fallback;
  }

  private void record(Route route) {
    long nanos = route.waited().toNanos();
    waitNanos.add(nanos);
    maxWaitNanos.accumulate(nanos);
    switch (route) {
      case Route.ToReplica r -> replicaReads.increment();
      case Route.ToPrimary p -> Require.nonNull(fallbacks.get(p.reason()), "fallback counter").increment();
    }
    listener.accept(route);
  }

  /**
   * Returns counters of the routing decisions so far.
   *
   * @return a snapshot
   */
  public Stats stats() {
    Map<Route.FallbackReason, Long> counts = new EnumMap<>(Route.FallbackReason.class);
    fallbacks.forEach((reason, count) -> counts.put(reason, count.sum()));
    return new Stats(replicaReads.sum(), Map.copyOf(counts), Duration.ofNanos(waitNanos.sum()),
        Duration.ofNanos(maxWaitNanos.get()));
  }

  /**
   * Counters of routing decisions.
   *
   * @param replicaReads reads routed to a replica
   * @param fallbacks reads routed to the primary, by reason
   * @param totalWait the time spent waiting for replicas, summed
   * @param maxWait the longest single wait
   */
  public record Stats(long replicaReads, Map<Route.FallbackReason, Long> fallbacks, Duration totalWait, Duration maxWait) {

    /**
     * Returns the number of reads routed to the primary, for every reason.
     *
     * @return the sum of {@link #fallbacks()}
     */
    public long primaryReads() {
      return fallbacks.values().stream().mapToLong(Long::longValue).sum();
    }
  }

  /** Builds a {@link ReplicaRouter}. Not thread-safe; {@link #build()} copies the settings. */
  public static final class Builder {
    private final DataSource primary;
    private final List<ReplicaTracker> replicas = new ArrayList<>();
    private Duration maxWait = Duration.ofMillis(500);
    private Ticker ticker = Ticker.system();
    private Consumer<Route> listener = route -> {};

    private Builder(DataSource primary) {
      this.primary = primary;
    }

    /**
     * Adds a replica.
     *
     * @param tracker the replica's tracker
     * @return this builder
     * @throws NullPointerException if {@code tracker} is null
     */
    public Builder replica(ReplicaTracker tracker) {
      replicas.add(Require.nonNull(tracker, "tracker"));
      return this;
    }

    /**
     * Sets how long a read waits for some replica to replay its position before it goes to the
     * primary. Default 500 ms; zero never waits (replicas that have it per their cache, or the
     * primary).
     *
     * @param maxWait the bound
     * @return this builder
     * @throws NullPointerException if {@code maxWait} is null
     * @throws IllegalArgumentException if it is negative
     */
    public Builder maxWait(Duration maxWait) {
      this.maxWait = Require.nonNegative(maxWait, "maxWait");
      return this;
    }

    /**
     * Sets a listener told of every routing decision, on the routing thread (keep it quick).
     *
     * @param listener the listener
     * @return this builder
     * @throws NullPointerException if {@code listener} is null
     */
    public Builder listener(Consumer<Route> listener) {
      this.listener = Require.nonNull(listener, "listener");
      return this;
    }

    /**
     * Sets the time source for waits. Default {@link Ticker#system()}.
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
     * Builds the router.
     *
     * @return the router
     */
    public ReplicaRouter build() {
      return new ReplicaRouter(primary, new Config(replicas, maxWait, listener, ticker));
    }
  }
}
