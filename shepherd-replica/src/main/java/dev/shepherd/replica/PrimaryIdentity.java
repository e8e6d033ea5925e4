package dev.shepherd.replica;

import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.Require;
import dev.shepherd.core.Ticker;
import java.lang.System.Logger.Level;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;

/**
 * The {@link DatabaseIdentity} of the current primary, read from its data source and kept for a
 * refresh interval, so that checking a token's history costs no query on most requests.
 *
 * <pre>{@code
 * PrimaryIdentity identity = PrimaryIdentity.builder(primaryDataSource).build();
 * ConsistencyTokenFilter filter = ConsistencyTokenFilter.builder(codec).policy(ConsistencyTokenPolicy.builder().database(identity).build()).build();
 * }</pre>
 *
 * <p>{@link #current()} answers the identity read last while it is younger than the
 * {@linkplain Builder#refreshInterval(Duration) refresh interval} (default 5 s). When it is older,
 * one caller starts a read on a virtual thread of its own and every caller, that one included,
 * answers the previous value at once: a slow or unreachable primary never holds a request. Only the
 * very first read is waited for, at most the {@linkplain Builder#queryTimeout(Duration) query
 * timeout} (default 2 s). After a failover, where the primary's data source now reaches the promoted
 * server, tokens from the old timeline are thus recognised within one refresh interval and one read.
 * When the read fails (the primary is down, or the data source reaches a standby), the last identity
 * known is kept and the failure logged; before any successful read the identity is unknown (empty),
 * and tokens are then not checked for history.
 *
 * <p>The read is bounded: the identity query runs with the query timeout as its connection's
 * network timeout ({@link java.sql.Connection#setNetworkTimeout}, set back afterwards), so a
 * primary that stops answering on a pooled connection fails the read after that long instead of
 * holding it, and with it every later refresh, forever. Getting the connection is bounded by the
 * data source's own timeout (HikariCP's {@code connectionTimeout}, 30 s by default).
 *
 * <p>Thread-safe.
 */
public final class PrimaryIdentity {

  /*
   * State: `known` (the last identity read, or null), `readAtNanos` (when a read last ended) and
   * `refreshing` (a read is running). A caller that finds the value older than the interval and
   * wins `refreshing` starts the read on a virtual thread, which sets `known` (on success) and
   * `readAtNanos`, then clears `refreshing`; nobody else ever waits for it, except the callers
   * before the first read ended (`firstRead`), who wait at most the query timeout.
   */

  private static final System.Logger LOG = System.getLogger(PrimaryIdentity.class.getName());

  private final DataSource primary;
  private final long refreshNanos;
  private final Duration queryTimeout;
  private final Ticker ticker;
  private final AtomicBoolean refreshing = new AtomicBoolean();
  private final CompletableFuture<Void> firstRead = new CompletableFuture<>();
  private volatile @Nullable DatabaseIdentity known;
  private volatile long readAtNanos;
  private volatile boolean everTried;

  private PrimaryIdentity(Builder builder) {
    this.primary = builder.primary;
    this.refreshNanos = Durations.toNanosSaturated(builder.refreshInterval);
    this.queryTimeout = builder.queryTimeout;
    this.ticker = builder.ticker;
  }

  /**
   * Returns a builder for the identity of the primary {@code primary} reaches.
   *
   * @param primary the primary's data source
   * @return the builder
   * @throws NullPointerException if {@code primary} is null
   */
  public static Builder builder(DataSource primary) {
    return new Builder(Require.nonNull(primary, "primary"));
  }

  /**
   * Returns the primary's identity, starting a read in the background when the last one is older
   * than the refresh interval. Waits only for the first read, at most the query timeout.
   *
   * @return the identity, empty while it has never been read successfully
   */
  public Optional<DatabaseIdentity> current() {
    if ((!everTried || ticker.read() - readAtNanos >= refreshNanos) && refreshing.compareAndSet(false, true)) {
      if (!everTried || ticker.read() - readAtNanos >= refreshNanos) {
        try {
          Thread.ofVirtual().name("shepherd-replica-primary-identity").start(this::refresh);
        } catch (RuntimeException | OutOfMemoryError e) {
          refreshing.set(false);
          LOG.log(Level.WARNING, "cannot start a read of the primary's identity: " + e);
        }
      } else {
        refreshing.set(false);
      }
    }
    if (!firstRead.isDone()) {
      try {
        firstRead.get(queryTimeout.toNanos(), TimeUnit.NANOSECONDS);
      } catch (TimeoutException | ExecutionException e) {
        // not read yet: unknown for now
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    return Optional.ofNullable(known);
  }

  private void refresh() {
    try (Connection connection = primary.getConnection()) {
      DatabaseIdentity read = DatabaseIdentity.of(connection, queryTimeout); // network timeout set back after
      DatabaseIdentity previous = known;
      if (previous != null && !previous.equals(read)) {
        LOG.log(Level.INFO, "the primary's identity changed from " + previous + " to " + read
            + ": consistency tokens of the old history are ignored from now on");
      }
      known = read;
    } catch (SQLException | RuntimeException e) {
      LOG.log(Level.WARNING, "cannot read the primary's identity (keeping " + known + "): " + e);
    } finally {
      readAtNanos = ticker.read();
      everTried = true;
      refreshing.set(false);
      firstRead.complete(null);
    }
  }

  @Override
  public String toString() {
    return "PrimaryIdentity[" + known + "]";
  }

  /** Builds a {@link PrimaryIdentity}. Not thread-safe. */
  public static final class Builder {
    private final DataSource primary;
    private Duration refreshInterval = Duration.ofSeconds(5);
    private Duration queryTimeout = Duration.ofSeconds(2);
    private Ticker ticker = Ticker.system();

    private Builder(DataSource primary) {
      this.primary = primary;
    }

    /**
     * Sets how long an identity read is used before it is read again. Default 5 s: after a
     * failover, tokens of the old timeline are recognised at most this late.
     *
     * @param interval the interval; zero reads on every call
     * @return this builder
     * @throws NullPointerException if {@code interval} is null
     * @throws IllegalArgumentException if it is negative
     */
    public Builder refreshInterval(Duration interval) {
      this.refreshInterval = Require.nonNegative(interval, "refreshInterval");
      return this;
    }

    /**
     * Sets how long one read of the identity may take on its connection (the connection's network
     * timeout while the query runs), and how long the callers before the first read ended wait for
     * it. Default 2 s.
     *
     * @param timeout positive
     * @return this builder
     * @throws NullPointerException if {@code timeout} is null
     * @throws IllegalArgumentException if it is not positive
     */
    public Builder queryTimeout(Duration timeout) {
      this.queryTimeout = Require.positive(timeout, "queryTimeout");
      return this;
    }

    /**
     * Sets the time source of the refresh interval. Default {@link Ticker#system()}; the test seam.
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
     * Builds it; no query is sent until {@link PrimaryIdentity#current()} is called.
     *
     * @return the primary identity
     */
    public PrimaryIdentity build() {
      return new PrimaryIdentity(this);
    }
  }
}
