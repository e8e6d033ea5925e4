package dev.shepherd.idempotency;

import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.Require;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;

/**
 * An {@link IdempotencyStore} in a PostgreSQL table, reached through any {@link DataSource}
 * (HikariCP, a container's pool, PGSimpleDataSource): trackers in many JVMs that share the table
 * share the keys.
 *
 * <pre>{@code
 * JdbcIdempotencyStore store = JdbcIdempotencyStore.builder(dataSource)
 *     .tableName("shepherd_idempotency")   // the default
 *     .createSchema(true)                  // run the schema file at build(); default false
 *     .build();
 * }</pre>
 *
 * <h2>Schema</h2>
 *
 * The schema ships in this jar as {@value #SCHEMA_RESOURCE} (a table, a sequence for fencing
 * tokens, an index on expiry); {@link #schemaSql(String)} returns it for a migration tool (Flyway,
 * Liquibase). With {@link Builder#createSchema(boolean) createSchema(true)} the store runs it at
 * {@link Builder#build()}, under an advisory lock so that JVMs starting together do not collide.
 *
 * <h2>Atomicity</h2>
 *
 * A claim is one statement that reads the existing record and, only if there is none, inserts
 * it ({@code INSERT ... ON CONFLICT DO NOTHING}) in the same round trip, so a replay is one index
 * lookup; a take-over of an expired or orphaned record is one
 * conditional {@code UPDATE} that names the fencing token it saw, so of two JVMs racing for an
 * orphan exactly one wins (the other sees the winner's claim). Fencing tokens come from a sequence
 * and never shrink for a key: a take-over takes {@code greatest(nextval, token + 1)}, and a
 * released record is kept (state {@code R}) so the key's next token is still larger. A released
 * record is free whatever its expiry says: the next claim takes it over like an expired one, even
 * if the database's clock stepped back after the release. Complete,
 * halt, release and renew are single {@code UPDATE}s conditioned on the token. Leases and
 * retention are measured by the database server's clock ({@code statement_timestamp()}).
 *
 * <h2>Timeouts</h2>
 *
 * Every statement has a query timeout ({@link Builder#queryTimeout(Duration)}, default 5 s: the
 * store cancels it on the server, from one watchdog thread rather than a timer task per
 * statement) and every connection the store uses a network timeout
 * ({@link Builder#networkTimeout(Duration)}, default the query timeout plus 1 s: a database or
 * network that stops answering fails the call, where a cancel could not get through either; a
 * cancel still in flight then is given up, since the driver would hold the call until the cancel
 * ended). The network timeout is set for each call and put back after it.
 * Getting a connection is bounded by the {@code DataSource} (HikariCP's
 * {@code connectionTimeout}, pgjdbc's {@code connectTimeout}).
 *
 * <p>Statements run in auto-commit; a connection handed out with auto-commit off is committed
 * after each statement. {@link JdbcClaimTransaction} completes a claim inside the request's own
 * transaction instead. Thread-safe.
 */
public final class JdbcIdempotencyStore implements IdempotencyStore {

  /*
   * Why the take-over is a second statement and not the WHERE of ON CONFLICT DO UPDATE: DO UPDATE
   * locks the conflicting row before it evaluates its WHERE, so every replay and every duplicate
   * would take a row lock, get a transaction id and write WAL. With DO NOTHING plus a read of the
   * existing row in the same statement, a replay is read-only; the rare take-over (a lease that
   * ran out, a record past retention) is one UPDATE conditioned on the fencing token it saw, so
   * it is as atomic as the single statement would be: of two racers, the second one's UPDATE
   * matches no row and it reads again.
   *
   * Why the claim reads first (the CTE r) and inserts only WHERE NOT EXISTS (SELECT 1 FROM r):
   * the values of an INSERT are computed before ON CONFLICT finds the existing row, so a plain
   * INSERT ... VALUES would draw a fencing token from the sequence (and write its WAL every few
   * dozen calls) and probe the index twice for every replay. Reading first makes a replay one
   * index lookup, the same work as a raw SELECT of the record. Both parts see one snapshot: if
   * another session inserts the key after that snapshot, r is empty, the INSERT meets the
   * conflict and does nothing, the statement returns no row and the claim looks again (with a
   * new snapshot) — the same as before.
   */

  /** The class-path resource holding the schema. */
  public static final String SCHEMA_RESOURCE = "dev/shepherd/idempotency/postgresql-schema.sql";

  /** The default table name. */
  public static final String DEFAULT_TABLE = "shepherd_idempotency";

  private static final Pattern IDENTIFIER =
      Pattern.compile("([a-z_][a-z0-9_]{0,62}\\.)?[a-z_][a-z0-9_]{0,40}");
  private static final long MAX_MICROS = Duration.ofDays(365L * 100).toNanos() / 1000;
  private static final int MAX_CLAIM_ATTEMPTS = 16;
  private static final System.Logger LOG = System.getLogger(JdbcIdempotencyStore.class.getName());
  private static final StatementWatchdog WATCHDOG = StatementWatchdog.SHARED;

  private final DataSource dataSource;
  /** Where {@link JdbcClaimTransaction} connections come from: the store's own, unless set. */
  private final DataSource transactionDataSource;
  private final String table;
  private final long queryTimeoutNanos;
  private final int networkTimeoutMillis;
  private final long networkTimeoutNanos;
  private volatile boolean networkTimeoutUnsupported;
  private final String claimSql;
  private final String takeOverSql;
  private final String haltOrphanSql;
  private final String renewSql;
  private final String completeSql;
  private final String haltSql;
  private final String releaseSql;
  private final String releaseClaimSql;
  private final String finishedSql;
  private final String pruneSql;

  private JdbcIdempotencyStore(DataSource dataSource, DataSource transactionDataSource,
      String table, Duration queryTimeout, Duration networkTimeout) {
    this.dataSource = dataSource;
    this.transactionDataSource = transactionDataSource;
    this.table = table;
    this.queryTimeoutNanos = Durations.toNanosSaturated(queryTimeout);
    this.networkTimeoutMillis = (int) Math.min(Integer.MAX_VALUE, networkTimeout.toMillis());
    this.networkTimeoutNanos = TimeUnit.MILLISECONDS.toNanos(networkTimeoutMillis);
    String seq = table + "_token_seq";
    String now = "statement_timestamp()";
    String plus = " + (?::bigint * interval '1 microsecond')";
    this.claimSql =
        "WITH r AS (SELECT fencing_token, claimed_at, fingerprint, state, lease_until,"
            + " expires_at, response, reason FROM " + table + " WHERE idempotency_key = ?),"
            + " ins AS (INSERT INTO " + table + " (idempotency_key, fingerprint, state,"
            + " fencing_token, took_over, claimed_at, lease_until, expires_at, claim_id)"
            + " SELECT ?, ?, 'P', nextval('" + seq + "'), false, " + now + ", " + now + plus
            + ", " + now + plus + ", ? WHERE NOT EXISTS (SELECT 1 FROM r)"
            + " ON CONFLICT (idempotency_key) DO NOTHING RETURNING fencing_token, claimed_at)"
            + " SELECT true, i.fencing_token, i.claimed_at, NULL::text, NULL::char(1),"
            + " NULL::timestamptz, NULL::timestamptz, NULL::bytea, NULL::text, " + now
            + " FROM ins i"
            + " UNION ALL SELECT false, r.fencing_token, r.claimed_at, r.fingerprint, r.state,"
            + " r.lease_until, r.expires_at, r.response, r.reason, " + now + " FROM r";
    this.takeOverSql =
        "UPDATE " + table + " SET fingerprint = ?, state = 'P',"
            + " fencing_token = greatest(nextval('" + seq + "'), fencing_token + 1),"
            + " took_over = (state <> 'R' AND expires_at > " + now + "), claimed_at = " + now
            + ", lease_until = " + now + plus + ", expires_at = " + now + plus + ","
            + " response = NULL, reason = NULL, claim_id = ?"
            + " WHERE idempotency_key = ? AND fencing_token = ? AND (state = 'R' OR expires_at <= "
            + now + " OR (state = 'P' AND lease_until <= " + now + " AND fingerprint = ?))"
            + " RETURNING fencing_token, claimed_at, took_over";
    this.haltOrphanSql =
        "UPDATE " + table + " SET state = 'H', reason = ?, expires_at = " + now + plus
            + " WHERE idempotency_key = ? AND fencing_token = ? AND state = 'P'"
            + " AND lease_until <= " + now + " AND expires_at > " + now
            + " RETURNING expires_at";
    String owned =
        " WHERE idempotency_key = ? AND fencing_token = ? AND state = 'P' AND expires_at > "
            + now;
    this.renewSql =
        "UPDATE " + table + " SET lease_until = " + now + plus + ", expires_at = " + now + plus
            + owned;
    this.completeSql =
        "UPDATE " + table + " SET state = 'C', response = ?, expires_at = " + now + plus + owned;
    this.haltSql =
        "UPDATE " + table + " SET state = 'H', reason = ?, expires_at = " + now + plus + owned;
    this.finishedSql =
        "SELECT state FROM " + table + " WHERE idempotency_key = ? AND fencing_token = ?"
            + " AND expires_at > " + now;
    this.releaseSql =
        "UPDATE " + table + " SET state = 'R', expires_at = " + now + ", response = NULL,"
            + " reason = NULL" + owned;
    this.releaseClaimSql =
        "UPDATE " + table + " SET state = 'R', expires_at = " + now + ", response = NULL,"
            + " reason = NULL WHERE idempotency_key = ? AND claim_id = ? AND state = 'P'"
            + " AND expires_at > " + now;
    this.pruneSql =
        "DELETE FROM " + table + " WHERE idempotency_key IN (SELECT idempotency_key FROM "
            + table + " WHERE expires_at <= " + now
            + " ORDER BY expires_at LIMIT ? FOR UPDATE SKIP LOCKED) AND expires_at <= " + now;
  }

  /**
   * Returns a builder for a store over a data source.
   *
   * @param dataSource where connections come from; the store does not close it
   * @return a new builder
   * @throws NullPointerException if {@code dataSource} is null
   */
  public static Builder builder(DataSource dataSource) {
    return new Builder(Require.nonNull(dataSource, "dataSource"));
  }

  /**
   * Returns the schema for a table name: the contents of {@value #SCHEMA_RESOURCE} with
   * {@value #DEFAULT_TABLE} replaced by {@code tableName}.
   *
   * @param tableName the table name, as for {@link Builder#tableName(String)}
   * @return the SQL statements, separated by semicolons
   * @throws IllegalArgumentException if the table name is not a plain lower-case identifier
   */
  public static String schemaSql(String tableName) {
    checkTable(tableName);
    try (InputStream in =
        JdbcIdempotencyStore.class.getClassLoader().getResourceAsStream(SCHEMA_RESOURCE)) {
      if (in == null) {
        throw new IllegalStateException("schema resource missing from the jar: " + SCHEMA_RESOURCE);
      }
      String sql = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      // An index takes its table's schema: its name must not be qualified.
      String bareName = tableName.substring(tableName.indexOf('.') + 1);
      return sql.replace(DEFAULT_TABLE + "_expires_at_idx", bareName + "_expires_at_idx")
          .replace(DEFAULT_TABLE, tableName);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + SCHEMA_RESOURCE, e);
    }
  }

  private static String checkTable(String tableName) {
    Require.notEmpty(tableName, "tableName");
    Require.argument(
        IDENTIFIER.matcher(tableName).matches(),
        "tableName must be a lower-case SQL identifier, optionally schema-qualified (at most 40"
            + " characters, so the sequence and index names derived from it fit), was '"
            + tableName + "'");
    return tableName;
  }

  /**
   * Returns the table name.
   *
   * @return the table
   */
  public String tableName() {
    return table;
  }

  private void createSchema() {
    String sql = schemaSql(table);
    withConnection("create the schema of", null, c -> {
      boolean auto = c.getAutoCommit();
      c.setAutoCommit(false);
      try (Statement s = c.createStatement()) {
        // Serializes concurrent creators: CREATE ... IF NOT EXISTS alone can race in the catalog.
        s.execute("SELECT pg_advisory_xact_lock(hashtext('" + table + "'))");
        String code = sql.lines()
            .filter(line -> !line.strip().startsWith("--"))
            .reduce("", (a, b) -> a + "\n" + b);
        for (String statement : code.split(";", -1)) {
          if (!statement.isBlank()) {
            s.execute(statement.strip());
          }
        }
        c.commit();
      } catch (SQLException e) {
        c.rollback();
        throw e;
      } finally {
        c.setAutoCommit(auto);
      }
      return Boolean.TRUE;
    });
  }

  @Override
  public Tracked claim(
      String key, String fingerprint, Duration lease, Duration retention, OrphanPolicy policy) {
    return claim(key, fingerprint, lease, retention, policy, null);
  }

  @Override
  public Tracked claim(String key, String fingerprint, Duration lease, Duration retention,
      OrphanPolicy policy, @Nullable String claimId) {
    long leaseMicros = micros(lease);
    long expiryMicros = Math.min(MAX_MICROS, leaseMicros + micros(retention));
    return withConnection("claim", key, c -> {
      for (int attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt++) {
        Tracked tracked = claimOnce(c, key, fingerprint, leaseMicros, expiryMicros, retention,
            policy, claimId);
        if (tracked != null) {
          return tracked;
        }
      }
      throw new IdempotencyStoreException(
          "idempotency key '" + key + "' changed under " + MAX_CLAIM_ATTEMPTS
              + " claim attempts in a row (heavy contention); try again", null);
    });
  }

  /** One attempt; null when the record changed under it and the claim must be tried again. */
  private @Nullable Tracked claimOnce(
      Connection c,
      String key,
      String fingerprint,
      long leaseMicros,
      long expiryMicros,
      Duration retention,
      OrphanPolicy policy,
      @Nullable String claimId)
      throws SQLException {
    ClaimRow row = queryRow(c, claimSql, rs -> ClaimRow.read(rs, key),
        key, key, fingerprint, leaseMicros, expiryMicros, new NullText(claimId));
    if (row == null) {
      return null; // inserted and committed by another session after our snapshot: look again
    }
    if (row instanceof ClaimRow.Inserted inserted) {
      return inserted.claim();
    }
    ClaimRow.Existing seen = (ClaimRow.Existing) row;
    if (seen.state.equals("R") || !seen.expiresAt.isAfter(seen.now)) {
      return takeOver(c, key, fingerprint, seen.token, leaseMicros, expiryMicros, claimId);
    }
    if (!seen.fingerprint.equals(fingerprint)) {
      return new Tracked.Mismatch(seen.expiresAt);
    }
    switch (seen.state) {
      case "C" -> {
        return new Tracked.Completed(decode(key, seen.response), seen.expiresAt);
      }
      case "H" -> {
        return new Tracked.Halted(seen.reason == null ? "" : seen.reason, seen.expiresAt);
      }
      case "P" -> {
        if (seen.leaseUntil.isAfter(seen.now)) {
          return new Tracked.InProgress(
              seen.claimedAt, Duration.between(seen.now, seen.leaseUntil));
        }
        if (policy == OrphanPolicy.TAKE_OVER) {
          return takeOver(c, key, fingerprint, seen.token, leaseMicros, expiryMicros, claimId);
        }
        return haltOrphan(c, key, seen.token, retention);
      }
      default -> throw new IdempotencyStoreException(
          "idempotency key '" + key + "' has an unknown state '" + seen.state + "' in table "
              + table, null);
    }
  }

  /** The row of the claim statement: the claim it inserted, or the record that was there. */
  private sealed interface ClaimRow {
    record Inserted(Tracked.Claimed claim) implements ClaimRow {}

    /** The record that was there (a class, not a record: it holds the response's bytes). */
    final class Existing implements ClaimRow {
      final long token;
      final Instant claimedAt;
      final String fingerprint;
      final String state;
      final Instant leaseUntil;
      final Instant expiresAt;
      final byte @Nullable [] response;
      final @Nullable String reason;
      final Instant now;

      Existing(ResultSet rs) throws SQLException {
        this.token = rs.getLong(2);
        this.claimedAt = instant(rs, 3);
        this.fingerprint = rs.getString(4);
        this.state = rs.getString(5);
        this.leaseUntil = instant(rs, 6);
        this.expiresAt = instant(rs, 7);
        this.response = rs.getBytes(8);
        this.reason = rs.getString(9);
        this.now = instant(rs, 10);
      }
    }

    static ClaimRow read(ResultSet rs, String key) throws SQLException {
      return rs.getBoolean(1)
          ? new Inserted(new Tracked.Claimed(key, rs.getLong(2), instant(rs, 3), false))
          : new Existing(rs);
    }
  }

  private Tracked.@Nullable Claimed takeOver(
      Connection c, String key, String fingerprint, long seenToken, long leaseMicros,
      long expiryMicros, @Nullable String claimId) throws SQLException {
    // No row: someone else changed it first, look again.
    return queryRow(c, takeOverSql,
        rs -> new Tracked.Claimed(key, rs.getLong(1), instant(rs, 2), rs.getBoolean(3)),
        fingerprint, leaseMicros, expiryMicros, new NullText(claimId), key, seenToken,
        fingerprint);
  }

  private Tracked.@Nullable Halted haltOrphan(
      Connection c, String key, long seenToken, Duration retention) throws SQLException {
    return queryRow(c, haltOrphanSql,
        rs -> new Tracked.Halted(IdempotencyTracker.OWNER_VANISHED, instant(rs, 1)),
        IdempotencyTracker.OWNER_VANISHED, micros(retention), key, seenToken);
  }

  /** Reads the current row of a result. */
  private interface RowReader<T> {
    T read(ResultSet rs) throws SQLException;
  }

  /**
   * Runs a statement that returns at most one row and commits it (unless in auto-commit), then
   * reads the row.
   *
   * @return what {@code reader} read, or null if the statement returned no row
   */
  private <T> @Nullable T queryRow(Connection c, String sql, RowReader<T> reader,
      Object... parameters) throws SQLException {
    try (PreparedStatement ps = prepare(c, sql)) {
      bind(ps, parameters);
      try (ResultSet rs = WATCHDOG.executeQuery(ps, queryTimeoutNanos, cancelGiveUpNanos())) {
        commitIfNeeded(c);
        return rs.next() ? reader.read(rs) : null;
      }
    }
  }

  @Override
  public boolean renew(String key, long fencingToken, Duration lease, Duration retention) {
    long leaseMicros = micros(lease);
    long expiryMicros = Math.min(MAX_MICROS, leaseMicros + micros(retention));
    return update("renew", key, renewSql, leaseMicros, expiryMicros, key, fencingToken);
  }

  @Override
  public boolean complete(
      String key, long fencingToken, StoredResponse response, Duration retention) {
    return withConnection("complete", key, c -> {
      boolean done = complete(c, key, fencingToken, response, retention);
      commitIfNeeded(c);
      return done;
    });
  }

  /**
   * Completes a claim on the caller's connection, inside the caller's transaction: the record
   * becomes completed only if the transaction commits. Nothing is committed here.
   */
  boolean complete(
      Connection c, String key, long fencingToken, StoredResponse response, Duration retention)
      throws SQLException {
    byte[] bytes = response.toBytes();
    try (PreparedStatement ps = prepare(c, completeSql)) {
      bind(ps, bytes, micros(retention), key, fencingToken);
      return WATCHDOG.executeUpdate(ps, queryTimeoutNanos, cancelGiveUpNanos()) == 1
          || alreadyFinished(c, key, fencingToken, "C");
    }
  }

  @Override
  public boolean halt(String key, long fencingToken, String reason, Duration retention) {
    return withConnection("halt", key, c -> {
      try (PreparedStatement ps = prepare(c, haltSql)) {
        bind(ps, reason, micros(retention), key, fencingToken);
        boolean done = WATCHDOG.executeUpdate(ps, queryTimeoutNanos, cancelGiveUpNanos()) == 1
            || alreadyFinished(c, key, fencingToken, "H");
        commitIfNeeded(c);
        return done;
      }
    });
  }

  /**
   * Whether the record was already finished with this token in this state: a retry of a
   * complete or halt whose first reply was lost reports success and changes nothing.
   */
  private boolean alreadyFinished(Connection c, String key, long fencingToken, String state)
      throws SQLException {
    try (PreparedStatement ps = prepare(c, finishedSql)) {
      bind(ps, key, fencingToken);
      try (ResultSet rs = WATCHDOG.executeQuery(ps, queryTimeoutNanos, cancelGiveUpNanos())) {
        return rs.next() && state.equals(rs.getString(1));
      }
    }
  }

  @Override
  public boolean release(String key, long fencingToken) {
    return update("release", key, releaseSql, key, fencingToken);
  }

  @Override
  public boolean releaseClaim(String key, String claimId) {
    Require.nonNull(claimId, "claimId");
    return update("release the claim of", key, releaseClaimSql, key, claimId);
  }

  @Override
  public int prune(int limit) {
    Require.atLeast(limit, 1, "limit");
    return withConnection("prune expired records of", null, c -> {
      try (PreparedStatement ps = prepare(c, pruneSql)) {
        bind(ps, limit);
        int deleted = WATCHDOG.executeUpdate(ps, queryTimeoutNanos, cancelGiveUpNanos());
        commitIfNeeded(c);
        return deleted;
      }
    });
  }

  /** Runs an update of one key's record; true if it changed the record. */
  private boolean update(String operation, String key, String sql, Object... parameters) {
    return withConnection(operation, key, c -> {
      try (PreparedStatement ps = prepare(c, sql)) {
        bind(ps, parameters);
        int rows = WATCHDOG.executeUpdate(ps, queryTimeoutNanos, cancelGiveUpNanos());
        commitIfNeeded(c);
        return rows == 1;
      }
    });
  }

  private interface SqlWork<T> {
    T run(Connection c) throws SQLException;
  }

  /**
   * Runs work on a pooled connection. The failure message is built only on failure: a replay
   * should not pay for formatting a message it never shows.
   *
   * @param operation what the work does ("claim"; or, without a key, "prune expired records of")
   * @param key the idempotency key it works on, or null for work on the whole table
   */
  private <T> T withConnection(String operation, @Nullable String key, SqlWork<T> work) {
    try (Connection c = dataSource.getConnection()) {
      int previous = setNetworkTimeout(c);
      try {
        return work.run(c);
      } finally {
        restoreNetworkTimeout(c, previous);
      }
    } catch (SQLException e) {
      String what = key == null
          ? operation + " table " + table
          : operation + " idempotency key '" + key + "' in table " + table;
      throw new IdempotencyStoreException(
          "PostgreSQL failed to " + what + ": " + e.getMessage(), e);
    }
  }

  /**
   * Gets a connection for a caller's transaction and sets this store's network timeout on it;
   * the caller gives it back with {@link #restoreNetworkTimeout} and closes it.
   *
   * @param previous receives the connection's network timeout before (element 0)
   */
  Connection openConnection(int[] previous) throws SQLException {
    Connection c = transactionDataSource.getConnection();
    try {
      previous[0] = setNetworkTimeout(c);
      return c;
    } catch (SQLException | RuntimeException e) {
      c.close();
      throw e;
    }
  }

  /*
   * Why the network timeout is put back: a pool hands the same physical connection to the
   * application next, and not every pool resets it (HikariCP does; DBCP2 and Tomcat JDBC do
   * not), so the store's 6 s would cut the application's own long queries. Both calls are local
   * to the driver (pgjdbc sets the socket's SO_TIMEOUT): no round trip.
   */

  /**
   * Sets the network timeout and returns the one the connection had; a driver without it
   * (SQLFeatureNotSupportedException) keeps only the query timeout, and the store says so once.
   *
   * @return the previous network timeout in milliseconds, or -1 if none was set
   */
  private int setNetworkTimeout(Connection c) throws SQLException {
    if (networkTimeoutUnsupported) {
      return -1;
    }
    try {
      int previous = c.getNetworkTimeout();
      if (previous != networkTimeoutMillis) {
        c.setNetworkTimeout(Runnable::run, networkTimeoutMillis);
      }
      return previous;
    } catch (SQLFeatureNotSupportedException e) {
      networkTimeoutUnsupported = true;
      LOG.log(System.Logger.Level.WARNING, "the JDBC driver has no network timeout: a database"
          + " that stops answering is bounded by the query timeout only", e);
      return -1;
    }
  }

  /**
   * Puts back the network timeout a connection had before {@link #setNetworkTimeout}; a
   * connection that broke meanwhile is left as it is (the pool discards it).
   */
  void restoreNetworkTimeout(Connection c, int previous) {
    if (previous < 0 || previous == networkTimeoutMillis) {
      return;
    }
    try {
      if (!c.isClosed()) {
        c.setNetworkTimeout(Runnable::run, previous);
      }
    } catch (SQLException | RuntimeException e) {
      LOG.log(System.Logger.Level.DEBUG, "could not restore a connection's network timeout", e);
    }
  }

  /**
   * How long after a statement's start a cancel of it still in flight is given up: its network
   * deadline, when the executing thread has failed on its own (see {@link StatementWatchdog});
   * without a network timeout, never, since the cancel is then all that ends the statement.
   */
  private long cancelGiveUpNanos() {
    return networkTimeoutUnsupported ? Long.MAX_VALUE / 2 : networkTimeoutNanos;
  }

  /**
   * Prepares a statement; its executions go through {@link #WATCHDOG}, which enforces the query
   * timeout (the driver's own {@code setQueryTimeout} would schedule a timer task per execution).
   */
  private static PreparedStatement prepare(Connection c, String sql) throws SQLException {
    return c.prepareStatement(sql);
  }

  /**
   * Sets a statement's parameters, in order, each with its typed setter.
   *
   * @param parameters the values: {@code String}, {@code Long}, {@code Integer}, {@code byte[]} or
   *     {@link NullText}
   */
  private static void bind(PreparedStatement ps, Object... parameters) throws SQLException {
    for (int i = 0; i < parameters.length; i++) {
      int index = i + 1;
      switch (parameters[i]) {
        case String s -> ps.setString(index, s);
        case Long l -> ps.setLong(index, l);
        case Integer n -> ps.setInt(index, n);
        case byte[] b -> ps.setBytes(index, b);
        case NullText t -> {
          if (t.value() == null) {
            ps.setNull(index, java.sql.Types.VARCHAR);
          } else {
            ps.setString(index, t.value());
          }
        }
        default -> throw new IllegalArgumentException(
            "no setter for a parameter of " + parameters[i].getClass());
      }
    }
  }

  /** A text parameter that may be SQL NULL. */
  private record NullText(@Nullable String value) {}

  private static void commitIfNeeded(Connection c) throws SQLException {
    if (!c.getAutoCommit()) {
      c.commit();
    }
  }

  private StoredResponse decode(String key, byte @Nullable [] bytes) {
    if (bytes == null) {
      throw new IdempotencyStoreException(
          "idempotency key '" + key + "' is completed without a response in table " + table,
          null);
    }
    try {
      return StoredResponse.fromBytes(bytes);
    } catch (IllegalArgumentException e) {
      throw new IdempotencyStoreException(
          "stored response of idempotency key '" + key + "' is unreadable: " + e.getMessage(), e);
    }
  }

  private static Instant instant(ResultSet rs, int column) throws SQLException {
    return rs.getObject(column, OffsetDateTime.class).toInstant();
  }

  private static long micros(Duration d) {
    long seconds = d.getSeconds();
    if (seconds >= MAX_MICROS / 1_000_000) {
      return MAX_MICROS;
    }
    return Math.max(1, seconds * 1_000_000 + d.getNano() / 1000);
  }

  @Override
  public String toString() {
    return "JdbcIdempotencyStore[" + table + "]";
  }

  /** Builds a {@link JdbcIdempotencyStore}. Not thread-safe. */
  public static final class Builder {
    private final DataSource dataSource;
    private @Nullable DataSource transactionDataSource;
    private String tableName = DEFAULT_TABLE;
    private boolean createSchema;
    private Duration queryTimeout = Duration.ofSeconds(5);
    private @Nullable Duration networkTimeout;

    private Builder(DataSource dataSource) {
      this.dataSource = dataSource;
    }

    /**
     * Sets the table name: a lower-case identifier, optionally schema-qualified
     * ({@code myschema.idempotency}). The sequence is named {@code <table>_token_seq}. Default
     * {@value JdbcIdempotencyStore#DEFAULT_TABLE}.
     *
     * @param tableName the table name
     * @return this builder
     * @throws NullPointerException if {@code tableName} is null
     * @throws IllegalArgumentException if it is not such an identifier
     */
    public Builder tableName(String tableName) {
      this.tableName = checkTable(tableName);
      return this;
    }

    /**
     * Sets where {@link JdbcClaimTransaction} takes its connections from: the application's pool,
     * to the same database, while the store's own statements (claims, renewals, completes) keep
     * the pool given to {@link JdbcIdempotencyStore#builder(DataSource)}. Default: that same pool.
     *
     * <p>Why: a claim transaction holds its connection for the whole request. If requests and the
     * store share one pool, as many transactional requests as the pool has connections leave no
     * connection for the renewals of their own claims; the renewals wait for the pool's
     * connection timeout (HikariCP: 30 s, more than a third of the default lease), the leases run
     * out and other requests take the keys over while the first ones still run. Give the store a
     * small pool of its own (two to four connections, a connection timeout well under a third of
     * the lease) and the requests theirs, here.
     *
     * @param transactionDataSource the pool claim transactions use; the store does not close it
     * @return this builder
     * @throws NullPointerException if {@code transactionDataSource} is null
     */
    public Builder transactionDataSource(DataSource transactionDataSource) {
      this.transactionDataSource = Require.nonNull(transactionDataSource, "transactionDataSource");
      return this;
    }

    /**
     * Sets whether {@link #build()} creates the table, sequence and index if they are missing.
     * Default false (the schema is left to migrations; see {@link #schemaSql(String)}).
     *
     * @param createSchema true to create the schema at build
     * @return this builder
     */
    public Builder createSchema(boolean createSchema) {
      this.createSchema = createSchema;
      return this;
    }

    /**
     * Sets the most a statement may run before the store cancels it on the server
     * ({@code Statement.cancel()}, sent by one watchdog thread for all stores that looks every
     * 100 ms: the cancel comes between the timeout and 100 ms later). Default 5 s.
     *
     * @param timeout the timeout, positive
     * @return this builder
     * @throws NullPointerException if {@code timeout} is null
     * @throws IllegalArgumentException if it is not positive
     */
    public Builder queryTimeout(Duration timeout) {
      this.queryTimeout = Require.positive(timeout, "queryTimeout");
      return this;
    }

    /**
     * Sets the most the driver waits for the database's next bytes on a socket
     * ({@code Connection.setNetworkTimeout}): a database or network that stops answering fails the
     * call with an exception and the connection is closed, where a query timeout alone would wait
     * for a cancel that cannot get through either. Default: the query timeout plus 1 s.
     *
     * @param timeout the timeout, at least 1 ms
     * @return this builder
     * @throws NullPointerException if {@code timeout} is null
     * @throws IllegalArgumentException if it is under 1 ms
     */
    public Builder networkTimeout(Duration timeout) {
      this.networkTimeout = IdempotencyTracker.checkAtLeastOneMilli(timeout, "networkTimeout");
      return this;
    }

    /**
     * Builds the store, creating the schema first if asked to.
     *
     * @return the store
     * @throws IdempotencyStoreException if the schema could not be created
     */
    public JdbcIdempotencyStore build() {
      JdbcIdempotencyStore store = new JdbcIdempotencyStore(dataSource,
          transactionDataSource != null ? transactionDataSource : dataSource, tableName,
          queryTimeout,
          networkTimeout != null ? networkTimeout : queryTimeout.plusSeconds(1));
      if (createSchema) {
        store.createSchema();
      }
      return store;
    }
  }
}
