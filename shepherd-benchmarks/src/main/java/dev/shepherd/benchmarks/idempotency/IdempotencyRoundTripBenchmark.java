package dev.shepherd.benchmarks.idempotency;

import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.JdbcIdempotencyStore;
import dev.shepherd.idempotency.StoredResponse;
import dev.shepherd.idempotency.Tracked;
import dev.shepherd.idempotency.redis.RedisIdempotencyStore;
import io.lettuce.core.SetArgs;
import io.lettuce.core.api.sync.RedisCommands;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The tracker's round trips against the raw statements they stand for, side by side in one run:
 *
 * <ul>
 *   <li>a new request costs two round trips (claim, complete); against two raw statements of the
 *       same size: PostgreSQL {@code INSERT} then {@code UPDATE} of the row, Redis
 *       {@code SET NX PX} then {@code SET XX PX};
 *   <li>a replay costs one round trip; against one raw read: PostgreSQL {@code SELECT} of the
 *       stored bytes, Redis {@code GET}.
 * </ul>
 *
 * The target is at least 0.8x of the raw pair's (and the raw read's) throughput. Same servers,
 * same HikariCP pool, same Lettuce client; PostgreSQL and Redis are real servers on 127.0.0.1
 * started by the shepherd-testing fixtures. Replays cycle through {@value #REPLAY_KEYS} keys
 * completed (or written) at set-up.
 *
 * <p>Like for like on PostgreSQL: the raw table has the tracker table's row shape (the same
 * columns and types, a primary key on the key and an index on the expiry, which any table of
 * records that expire needs for its clean-up), the raw rows hold the same encoded response
 * (same size), both sides use prepared statements from the same pool in auto-commit (one
 * statement, no BEGIN/COMMIT). The raw side stays leaner where the tracker pays for its
 * guarantees: no query or network timeout, a fencing token counted in this JVM instead of a
 * sequence, no fingerprint check, no decoding of the stored response.
 *
 * <p>Run on a quiet machine: {@code java -jar shepherd-benchmarks/target/benchmarks.jar
 * IdempotencyRoundTripBenchmark -t 1} (and {@code -t 4}).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class IdempotencyRoundTripBenchmark {

  static final int REPLAY_KEYS = 2_000;
  private static final String FINGERPRINT = "fingerprint-sha256-hex";

  private static final StoredResponse RESPONSE = StoreServers.RESPONSE;

  private static final byte[] RAW_VALUE = RESPONSE.toBytes();
  private static final byte[] RAW_CLAIM = FINGERPRINT.getBytes(StandardCharsets.UTF_8);
  private static final long DAY_MILLIS = Duration.ofHours(24).toMillis();

  /** The servers, clients and replay keys, shared by all threads. */
  @State(Scope.Benchmark)
  public static class Servers {
    StoreServers servers;
    HikariDataSource dataSource;
    RedisCommands<byte[], byte[]> raw;
    RedisIdempotencyStore redisStore;
    IdempotencyTracker jdbcTracker;
    IdempotencyTracker redisTracker;
    final String run = UUID.randomUUID().toString();
    /** The raw peer's fencing tokens: counted here, cheaper than the tracker's sequence. */
    final AtomicLong rawTokens = new AtomicLong();

    @Setup(Level.Trial)
    public void start() throws SQLException {
      servers = new StoreServers();
      dataSource = servers.dataSource;
      raw = servers.raw;
      try (Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
        // The tracker's row shape: the same columns, types and expiry index as its schema.
        s.execute("CREATE TABLE IF NOT EXISTS raw_round_trip (k text PRIMARY KEY, fingerprint text"
            + " NOT NULL, state char(1) NOT NULL, fencing_token bigint NOT NULL, took_over boolean"
            + " NOT NULL DEFAULT false, claimed_at timestamptz NOT NULL, lease_until timestamptz"
            + " NOT NULL, expires_at timestamptz NOT NULL, v bytea, reason text)");
        s.execute("CREATE INDEX IF NOT EXISTS raw_round_trip_expires_at_idx"
            + " ON raw_round_trip (expires_at)");
      }
      jdbcTracker = IdempotencyTracker.builder()
          .store(JdbcIdempotencyStore.builder(dataSource).createSchema(true).build()).build();
      redisStore = RedisIdempotencyStore.builder(servers.redisClient).build();
      redisTracker = IdempotencyTracker.builder().store(redisStore).build();
      for (int i = 0; i < REPLAY_KEYS; i++) {
        String key = replayKey(i);
        jdbcTracker.complete((Tracked.Claimed) jdbcTracker.track(key, FINGERPRINT), RESPONSE);
        redisTracker.complete((Tracked.Claimed) redisTracker.track(key, FINGERPRINT), RESPONSE);
        rawInsert(this, key);
        rawUpdate(this, key);
        raw.set(rawRedisKey(key), RAW_VALUE, SetArgs.Builder.px(DAY_MILLIS));
      }
    }

    String replayKey(int i) {
      return "replay:" + run + ":" + i;
    }

    @TearDown(Level.Trial)
    public void stop() {
      jdbcTracker.close();
      redisTracker.close();
      redisStore.close();
      servers.close();
    }
  }

  /** Fresh keys and a replay cursor per thread. */
  @State(Scope.Thread)
  public static class Keys {
    private final String prefix = UUID.randomUUID() + ":";
    private long next;
    private int replay;

    String fresh() {
      return prefix + next++;
    }

    String replay(Servers s) {
      replay = (replay + 1) % REPLAY_KEYS;
      return s.replayKey(replay);
    }
  }

  private static byte[] rawRedisKey(String key) {
    return ("raw:" + key).getBytes(StandardCharsets.UTF_8);
  }

  private static int rawInsert(Servers s, String key) throws SQLException {
    try (Connection c = s.dataSource.getConnection();
        PreparedStatement ps = c.prepareStatement(
            "INSERT INTO raw_round_trip (k, fingerprint, state, fencing_token, claimed_at,"
                + " lease_until, expires_at) VALUES (?, ?, 'P', ?, statement_timestamp(),"
                + " statement_timestamp() + interval '60 seconds', statement_timestamp()"
                + " + interval '24 hours 60 seconds') ON CONFLICT (k) DO NOTHING")) {
      ps.setString(1, key);
      ps.setString(2, FINGERPRINT);
      ps.setLong(3, s.rawTokens.incrementAndGet());
      return ps.executeUpdate();
    }
  }

  private static int rawUpdate(Servers s, String key) throws SQLException {
    try (Connection c = s.dataSource.getConnection();
        PreparedStatement ps = c.prepareStatement(
            "UPDATE raw_round_trip SET state = 'C', v = ?, expires_at = statement_timestamp()"
                + " + interval '24 hours' WHERE k = ? AND state = 'P'")) {
      ps.setBytes(1, RAW_VALUE);
      ps.setString(2, key);
      return ps.executeUpdate();
    }
  }

  // ---- PostgreSQL ---------------------------------------------------------------------------

  /** Shepherd, PostgreSQL: a new request, claim + complete (two round trips). */
  @Benchmark
  public void jdbcTrackedNew(Servers s, Keys k) {
    Tracked.Claimed claim = (Tracked.Claimed) s.jdbcTracker.track(k.fresh(), FINGERPRINT);
    s.jdbcTracker.complete(claim, RESPONSE);
  }

  /** Raw, PostgreSQL: {@code INSERT} then {@code UPDATE} of the same sizes. */
  @Benchmark
  public int jdbcRawInsertUpdate(Servers s, Keys k) throws SQLException {
    String key = k.fresh();
    return rawInsert(s, key) + rawUpdate(s, key);
  }

  /** Shepherd, PostgreSQL: a replay (one round trip). */
  @Benchmark
  public void jdbcTrackedReplay(Servers s, Keys k, Blackhole bh) {
    bh.consume(((Tracked.Completed) s.jdbcTracker.track(k.replay(s), FINGERPRINT)).response());
  }

  /** Raw, PostgreSQL: one {@code SELECT} of the stored bytes. */
  @Benchmark
  public byte[] jdbcRawSelect(Servers s, Keys k) throws SQLException {
    try (Connection c = s.dataSource.getConnection();
        PreparedStatement ps = c.prepareStatement(
            "SELECT v FROM raw_round_trip WHERE k = ? AND expires_at > statement_timestamp()")) {
      ps.setString(1, k.replay(s));
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getBytes(1);
      }
    }
  }

  // ---- Redis --------------------------------------------------------------------------------

  /** Shepherd, Redis: a new request, claim + complete (two round trips). */
  @Benchmark
  public void redisTrackedNew(Servers s, Keys k) {
    Tracked.Claimed claim = (Tracked.Claimed) s.redisTracker.track(k.fresh(), FINGERPRINT);
    s.redisTracker.complete(claim, RESPONSE);
  }

  /** Raw, Redis: {@code SET NX PX} (the claim) then {@code SET XX PX} (the response). */
  @Benchmark
  public Object redisRawSetNxSet(Servers s, Keys k) {
    byte[] key = rawRedisKey(k.fresh());
    s.raw.set(key, RAW_CLAIM, SetArgs.Builder.nx().px(DAY_MILLIS));
    return s.raw.set(key, RAW_VALUE, SetArgs.Builder.xx().px(DAY_MILLIS));
  }

  /** Shepherd, Redis: a replay (one round trip). */
  @Benchmark
  public void redisTrackedReplay(Servers s, Keys k, Blackhole bh) {
    bh.consume(((Tracked.Completed) s.redisTracker.track(k.replay(s), FINGERPRINT)).response());
  }

  /** Raw, Redis: one {@code GET}. */
  @Benchmark
  public byte[] redisRawGet(Servers s, Keys k) {
    return s.raw.get(rawRedisKey(k.replay(s)));
  }
}
