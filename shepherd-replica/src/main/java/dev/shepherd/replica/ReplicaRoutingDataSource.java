package dev.shepherd.replica;

import dev.shepherd.core.internal.Require;
import java.io.PrintWriter;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.time.Duration;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.logging.Logger;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;

/**
 * A {@link DataSource} that sends read-only work to a replica that has replayed what the current
 * work must see, and everything else to the primary, deciding per transaction; after a read-write
 * transaction commits on the primary, it records the commit's position for later reads.
 *
 * <pre>{@code
 * DataSource dataSource = ReplicaRoutingDataSource.builder(primary, router).build();
 * // a transaction manager calls connection.setReadOnly(true) for read-only transactions:
 * try (Connection c = dataSource.getConnection()) {
 *   c.setReadOnly(true);                         // recorded, no connection taken yet
 *   c.prepareStatement("SELECT ...")...          // now routed: replica, or primary after the bound
 * }
 * }</pre>
 *
 * <p>{@link #getConnection()} returns a connection that takes no physical connection until it is
 * first used for something other than its settings (auto-commit, read-only, isolation): transaction
 * managers set those first ({@code setReadOnly(true)} for {@code @Transactional(readOnly = true)}),
 * then run statements. At that first use the work is read-only when the connection was set
 * read-only or when the {@linkplain Builder#readOnlyWhen(BooleanSupplier) read-only signal} says so;
 * read-only work is routed by {@link ReplicaRouter#routeAfter(ConsistencyToken)} with the token of
 * {@link ConsistencyContext#current()} merged with the thread's own last write (a replica that has
 * replayed its position, on its timeline when the token knows it; the primary after the router's
 * bound), and everything else goes to the primary. A replica whose pool gives no
 * connection is replaced by the primary.
 *
 * <p>After a commit on the primary of a connection that ran statements since the last commit, and
 * when a primary connection used in auto-commit mode is closed, the connection asks the primary for
 * {@link WritePosition#tokenAfterCommit its written position and identity} (one query) and records it: in the current
 * {@link ConsistencyContext} when there is one (under {@link ConsistencyTokenFilter}, the response
 * then carries the token), so the next read of the same request or of the next request that sends
 * the token sees the write; outside any scope (a scheduled job, a message listener) for the current
 * thread, so that the thread's later read-only work sees it
 * ({@linkplain Builder#rememberWritesPerThread(boolean) unless turned off}). The
 * {@linkplain Builder#onWrite(Consumer) write listener} is told too. A rollback records nothing.
 *
 * <p>A connection that a framework keeps across transactions (Hibernate holds one per session) is
 * routed again at each transaction boundary: when its read-only setting changes while no
 * transaction is open, it gives its physical connection back and takes one of the other kind at the
 * next use.
 *
 * <p>Thread-safe; each connection it returns is, as always in JDBC, used by one thread at a time.
 */
public final class ReplicaRoutingDataSource implements DataSource {

  /*
   * Why a lazy connection and not a routing decision in getConnection(): transaction managers take
   * the connection before they say the transaction is read-only (DataSourceTransactionManager calls
   * setReadOnly on the connection it got; Hibernate does it on the connection it holds), so the
   * decision can only be made when the first statement arrives. The design is Spring's
   * LazyConnectionDataSourceProxy, written here without Spring and with the router and the write
   * recording added. The connection's state machine is in RoutingConnection's class comment.
   */

  private final DataSource primary;
  private final ReplicaRouter router;
  private final BooleanSupplier readOnlyWhen;
  private final Consumer<Lsn> onWrite;
  private final boolean recordWrites;
  private final boolean perThread;
  private final Duration queryTimeout;
  /**
   * The newest write of each thread made outside any consistency scope. Per instance on purpose: a
   * write through one routing data source says nothing about the replicas of another.
   */
  @SuppressWarnings("ThreadLocalUsage")
  private final ThreadLocal<ConsistencyToken> lastWriteOutsideScope = new ThreadLocal<>();
  private volatile @Nullable ConnectionDefaults defaults;

  final LongAdder replicaConnections = new LongAdder();
  final LongAdder primaryConnections = new LongAdder();
  final LongAdder writesRecorded = new LongAdder();

  /** The auto-commit and isolation a fresh primary connection has, read once. */
  record ConnectionDefaults(boolean autoCommit, int isolation) {}

  private ReplicaRoutingDataSource(Builder builder) {
    this.primary = builder.primary;
    this.router = builder.router;
    this.readOnlyWhen = builder.readOnlyWhen;
    this.onWrite = builder.onWrite;
    this.recordWrites = builder.recordWrites;
    this.perThread = builder.perThread;
    this.queryTimeout = builder.queryTimeout;
  }

  /**
   * Returns a builder for a data source over {@code primary} that routes read-only work with
   * {@code router}.
   *
   * @param primary the primary's data source (writes and fallbacks)
   * @param router the router that chooses a replica for read-only work
   * @return the builder
   * @throws NullPointerException if an argument is null
   */
  public static Builder builder(DataSource primary, ReplicaRouter router) {
    return new Builder(Require.nonNull(primary, "primary"), Require.nonNull(router, "router"));
  }

  /**
   * Returns the primary's data source.
   *
   * @return the primary
   */
  public DataSource primary() {
    return primary;
  }

  /**
   * Returns the router that chooses replicas.
   *
   * @return the router
   */
  public ReplicaRouter router() {
    return router;
  }

  /**
   * Returns counters of physical connections taken and writes recorded so far.
   *
   * @return a snapshot
   */
  public Stats stats() {
    return new Stats(replicaConnections.sum(), primaryConnections.sum(), writesRecorded.sum());
  }

  /**
   * Counters of a routing data source.
   *
   * @param replicaConnections physical connections taken from a replica for read-only work
   * @param primaryConnections physical connections taken from the primary (writes, and read-only
   *     work that fell back)
   * @param writesRecorded write positions handed to the write listener
   */
  public record Stats(long replicaConnections, long primaryConnections, long writesRecorded) {}

  /**
   * Returns a connection that is routed at its first use (see the class comment).
   *
   * @return the connection
   * @throws SQLException if the primary cannot be asked for its connection defaults (first call
   *     only)
   */
  @Override
  public Connection getConnection() throws SQLException {
    ConnectionDefaults known = defaults;
    if (known == null) {
      try (Connection probe = primary.getConnection()) {
        known = Jdbc.bounded(probe, queryTimeout, "the primary (connection defaults)",
            () -> new ConnectionDefaults(probe.getAutoCommit(), probe.getTransactionIsolation()));
      }
      defaults = known;
    }
    RoutingConnection handler = new RoutingConnection(this, known);
    return (Connection) Proxy.newProxyInstance(
        ReplicaRoutingDataSource.class.getClassLoader(), new Class<?>[] {Connection.class}, handler);
  }

  /**
   * Not supported: credentials belong to the primary's and the replicas' own pools.
   *
   * @param username ignored
   * @param password ignored
   * @return never
   * @throws SQLFeatureNotSupportedException always
   */
  @Override
  public Connection getConnection(String username, String password) throws SQLException {
    throw new SQLFeatureNotSupportedException(
        "ReplicaRoutingDataSource.getConnection(user, password): configure credentials on the primary's and replicas' pools");
  }

  boolean readOnlySignal() {
    return readOnlyWhen.getAsBoolean();
  }

  boolean recordWrites() {
    return recordWrites;
  }

  Duration queryTimeout() {
    return queryTimeout;
  }

  void written(ConsistencyToken written) {
    writesRecorded.increment();
    Lsn lsn = written.lsn();
    boolean inScope;
    try {
      ConsistencyContext.recordWrite(written);
      inScope = true;
    } catch (IllegalStateException outsideAScope) {
      inScope = false; // no filter and no callWith around this work
    }
    if (!inScope && perThread) {
      lastWriteOutsideScope.set(written.merge(lastWriteOutsideScope.get()));
    }
    onWrite.accept(lsn);
  }

  /** The position read-only work on this thread must see: the scope's, or this thread's own last write. */
  @Nullable Lsn requiredLsn() {
    ConsistencyToken required = required();
    return required == null ? null : required.lsn();
  }

  /**
   * The token read-only work on this thread must see, with its history when known: the scope's
   * merged with this thread's own last write.
   */
  @Nullable ConsistencyToken required() {
    ConsistencyToken scoped = ConsistencyContext.current().orElse(null);
    ConsistencyToken own = perThread ? lastWriteOutsideScope.get() : null;
    return ConsistencyToken.merge(scoped, own);
  }

  @Override
  public PrintWriter getLogWriter() throws SQLException {
    return primary.getLogWriter();
  }

  @Override
  public void setLogWriter(PrintWriter out) throws SQLException {
    primary.setLogWriter(out);
  }

  @Override
  public void setLoginTimeout(int seconds) throws SQLException {
    primary.setLoginTimeout(seconds);
  }

  @Override
  public int getLoginTimeout() throws SQLException {
    return primary.getLoginTimeout();
  }

  @Override
  public Logger getParentLogger() throws SQLFeatureNotSupportedException {
    return primary.getParentLogger();
  }

  /**
   * Unwraps to this data source or, through it, to the primary's.
   *
   * @param type the wanted type
   * @param <T> the type
   * @return this, or the primary unwrapped
   * @throws SQLException if neither is a {@code type}
   */
  @Override
  public <T> T unwrap(Class<T> type) throws SQLException {
    if (type.isInstance(this)) {
      return type.cast(this);
    }
    return primary.unwrap(type);
  }

  @Override
  public boolean isWrapperFor(Class<?> type) throws SQLException {
    return type.isInstance(this) || primary.isWrapperFor(type);
  }

  DataSource primaryDataSource() {
    return primary;
  }

  @Override
  public String toString() {
    return "ReplicaRoutingDataSource[primary=" + primary + "]";
  }

  /** Builds a {@link ReplicaRoutingDataSource}. Not thread-safe; {@link #build()} copies the settings. */
  public static final class Builder {
    private final DataSource primary;
    private final ReplicaRouter router;
    private BooleanSupplier readOnlyWhen = () -> false;
    private Consumer<Lsn> onWrite = lsn -> {};
    private boolean recordWrites = true;
    private boolean perThread = true;
    private Duration queryTimeout = Jdbc.DEFAULT_QUERY_TIMEOUT;

    private Builder(DataSource primary, ReplicaRouter router) {
      this.primary = primary;
      this.router = router;
    }

    /**
     * Sets a second signal that the current work is read-only, asked when a connection is first
     * used (for example a framework's "current transaction is read-only" flag). Default: none; only
     * {@link Connection#setReadOnly(boolean)} counts.
     *
     * @param signal true when the current work is read-only; called on the working thread
     * @return this builder
     * @throws NullPointerException if {@code signal} is null
     */
    public Builder readOnlyWhen(BooleanSupplier signal) {
      this.readOnlyWhen = Require.nonNull(signal, "signal");
      return this;
    }

    /**
     * Sets who else is told the position of each committed write, after it was recorded in the
     * current {@link ConsistencyContext} (or for the thread). Default: nobody.
     *
     * @param listener called on the committing thread, right after the commit
     * @return this builder
     * @throws NullPointerException if {@code listener} is null
     */
    public Builder onWrite(Consumer<Lsn> listener) {
      this.onWrite = Require.nonNull(listener, "listener");
      return this;
    }

    /**
     * Sets whether commits on the primary are followed by the write-position query. Default true;
     * false saves that query per read-write transaction when nothing reads with a token.
     *
     * @param record whether to record write positions
     * @return this builder
     */
    public Builder recordWrites(boolean record) {
      this.recordWrites = record;
      return this;
    }

    /**
     * Sets whether a write made outside any {@link ConsistencyContext} scope is remembered for its
     * thread, so that the thread's later read-only work waits for it. Default true: waiting for an
     * old position costs nothing once replicas have it; false leaves such work to read any replica.
     *
     * @param remember whether to remember writes per thread
     * @return this builder
     */
    public Builder rememberWritesPerThread(boolean remember) {
      this.perThread = remember;
      return this;
    }

    /**
     * Sets the bound of each statement this data source sends on its own (the write-position query
     * after a commit, the first call's read of the connection defaults, and the settings the
     * application chose before its first statement, which a routed connection applies to the physical
     * connection it takes: auto-commit, read-only, isolation): the connection's network timeout while
     * it runs, set back afterwards. Default 2 s. The application's own statements get
     * whatever their pool's connections have (pgjdbc's {@code socketTimeout}, none by default).
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
     * Builds the data source.
     *
     * @return the data source
     */
    public ReplicaRoutingDataSource build() {
      return new ReplicaRoutingDataSource(this);
    }
  }
}
