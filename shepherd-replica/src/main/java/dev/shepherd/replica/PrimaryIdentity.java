package dev.shepherd.replica;

import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.Require;
import dev.shepherd.core.Ticker;
import java.lang.System.Logger.Level;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Optional;
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
 * {@linkplain Builder#refreshInterval(Duration) refresh interval} (default 5 s), else reads it again
 * (one caller at a time; the others answer the previous value meanwhile). After a failover, where the
 * primary's data source now reaches the promoted server, tokens from the old timeline are thus
 * recognised within one refresh interval. When the read fails (the primary is down, or the data
 * source reaches a standby), the last identity known is kept and the failure logged; before any
 * successful read the identity is unknown (empty), and tokens are then not checked for history.
 *
 * <p>Thread-safe.
 */
public final class PrimaryIdentity {

  /*
   * State: `known` (the last identity read, or null) and `readAtNanos` (when it was last tried). A
   * caller that finds the value older than the interval and wins the `refreshing` flag queries;
   * every other caller answers `known` at once, so a slow or failing primary never stalls requests
   * beyond the one that refreshes (bounded by the data source's connection and network timeouts).
   */

  private static final System.Logger LOG = System.getLogger(PrimaryIdentity.class.getName());

  private final DataSource primary;
  private final long refreshNanos;
  private final Ticker ticker;
  private final AtomicBoolean refreshing = new AtomicBoolean();
  private volatile @Nullable DatabaseIdentity known;
  private volatile long readAtNanos;
  private volatile boolean everTried;

  private PrimaryIdentity(Builder builder) {
    this.primary = builder.primary;
    this.refreshNanos = Durations.toNanosSaturated(builder.refreshInterval);
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
   * Returns the primary's identity, reading it again when the last read is older than the refresh
   * interval.
   *
   * @return the identity, empty while it has never been read successfully
   */
  public Optional<DatabaseIdentity> current() {
    if ((!everTried || ticker.read() - readAtNanos >= refreshNanos) && refreshing.compareAndSet(false, true)) {
      try {
        if (!everTried || ticker.read() - readAtNanos >= refreshNanos) {
          refresh();
        }
      } finally {
        refreshing.set(false);
      }
    }
    return Optional.ofNullable(known);
  }

  private void refresh() {
    try {
      DatabaseIdentity read = DatabaseIdentity.of(primary);
      DatabaseIdentity before = known;
      if (before != null && !before.equals(read)) {
        LOG.log(Level.INFO, "the primary's identity changed from " + before + " to " + read
            + ": consistency tokens of the old history are ignored from now on");
      }
      known = read;
    } catch (SQLException | RuntimeException e) {
      LOG.log(Level.WARNING, "cannot read the primary's identity (keeping " + known + "): " + e);
    } finally {
      readAtNanos = ticker.read();
      everTried = true;
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
