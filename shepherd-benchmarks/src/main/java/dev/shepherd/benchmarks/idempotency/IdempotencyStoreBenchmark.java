package dev.shepherd.benchmarks.idempotency;

import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.InMemoryIdempotencyStore;
import dev.shepherd.idempotency.JdbcIdempotencyStore;
import dev.shepherd.idempotency.StoredResponse;
import dev.shepherd.idempotency.Tracked;
import dev.shepherd.idempotency.redis.RedisIdempotencyStore;
import io.lettuce.core.SetArgs;
import io.lettuce.core.api.sync.RedisCommands;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
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
 * One tracked request per store (claim a fresh key, complete it with a small response, replay it:
 * three store operations) against the raw store operation on the same server and the same
 * client: {@code ConcurrentHashMap.putIfAbsent}; one {@code INSERT ... ON CONFLICT DO NOTHING}
 * over the same HikariCP pool; one Lettuce {@code SET NX PX} on a connection like the store's.
 * PostgreSQL and Redis are real servers on 127.0.0.1 started by the shepherd-testing fixtures
 * (PostgreSQL with fsync off).
 *
 * <p>The {@code *TrackedCached} variants turn on the tracker's optional local replay cache
 * ({@code localReplayCache}), so the replay is answered in this JVM: two round trips instead of
 * three.
 *
 * <p>Run: {@code java -jar benchmarks.jar IdempotencyStoreBenchmark -t 1} (and {@code -t 4}).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class IdempotencyStoreBenchmark {

  private static final StoredResponse RESPONSE = StoreServers.RESPONSE;

  private static final byte[] RAW_VALUE = RESPONSE.toBytes();

  /** The servers and clients, shared by all threads. */
  @State(Scope.Benchmark)
  public static class Servers {
    StoreServers servers;
    HikariDataSource dataSource;
    RedisCommands<byte[], byte[]> rawRedisCommands;
    IdempotencyTracker memoryTracker;
    IdempotencyTracker jdbcTracker;
    IdempotencyTracker redisTracker;
    IdempotencyTracker jdbcCachedTracker;
    IdempotencyTracker redisCachedTracker;
    RedisIdempotencyStore redisStore;
    final ConcurrentHashMap<String, byte[]> rawMap = new ConcurrentHashMap<>();
    final String run = UUID.randomUUID().toString();

    @Setup(Level.Trial)
    public void start() throws SQLException {
      servers = new StoreServers();
      dataSource = servers.dataSource;
      rawRedisCommands = servers.raw;
      try (Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
        s.execute("CREATE TABLE IF NOT EXISTS raw_idempotency (k text PRIMARY KEY, v bytea NOT"
            + " NULL, expires_at timestamptz NOT NULL)");
      }
      memoryTracker =
          IdempotencyTracker.builder().store(InMemoryIdempotencyStore.create()).build();
      jdbcTracker =
          IdempotencyTracker.builder()
              .store(JdbcIdempotencyStore.builder(dataSource).createSchema(true).build())
              .build();
      redisStore = RedisIdempotencyStore.builder(servers.redisClient).build();
      redisTracker = IdempotencyTracker.builder().store(redisStore).build();
      jdbcCachedTracker =
          IdempotencyTracker.builder()
              .store(JdbcIdempotencyStore.builder(dataSource).build())
              .localReplayCache(10_000, Duration.ofMinutes(1))
              .build();
      redisCachedTracker =
          IdempotencyTracker.builder()
              .store(redisStore)
              .localReplayCache(10_000, Duration.ofMinutes(1))
              .build();
    }

    @TearDown(Level.Trial)
    public void stop() {
      memoryTracker.close();
      jdbcTracker.close();
      redisTracker.close();
      jdbcCachedTracker.close();
      redisCachedTracker.close();
      redisStore.close();
      servers.close();
    }
  }

  /** Fresh keys per thread. */
  @State(Scope.Thread)
  public static class Keys {
    private final String prefix = UUID.randomUUID() + ":";
    private long next;

    String next() {
      return prefix + next++;
    }
  }

  private static void trackedRequest(IdempotencyTracker tracker, String key, Blackhole bh) {
    Tracked.Claimed claim = (Tracked.Claimed) tracker.track(key, "fingerprint-sha256-hex");
    tracker.complete(claim, RESPONSE);
    Tracked replay = tracker.track(key, "fingerprint-sha256-hex");
    if (!(replay instanceof Tracked.Completed done)) {
      throw new IllegalStateException("expected a replay, got " + replay);
    }
    bh.consume(done.response());
  }

  /** Shepherd, in memory: claim + complete + replay. */
  @Benchmark
  public void memoryTracked(Servers s, Keys k, Blackhole bh) {
    trackedRequest(s.memoryTracker, k.next(), bh);
  }

  /** Raw: one {@code ConcurrentHashMap.putIfAbsent}. */
  @Benchmark
  public Object memoryRaw(Servers s, Keys k) {
    return s.rawMap.putIfAbsent(k.next(), RAW_VALUE);
  }

  /** Shepherd, PostgreSQL: claim + complete + replay. */
  @Benchmark
  public void jdbcTracked(Servers s, Keys k, Blackhole bh) {
    trackedRequest(s.jdbcTracker, k.next(), bh);
  }

  /** Shepherd, PostgreSQL, with the local replay cache: the replay needs no round trip. */
  @Benchmark
  public void jdbcTrackedCached(Servers s, Keys k, Blackhole bh) {
    trackedRequest(s.jdbcCachedTracker, k.next(), bh);
  }

  /** Raw: one {@code INSERT ... ON CONFLICT DO NOTHING} over the same pool. */
  @Benchmark
  public int jdbcRaw(Servers s, Keys k) throws SQLException {
    try (Connection c = s.dataSource.getConnection();
        PreparedStatement ps = c.prepareStatement(
            "INSERT INTO raw_idempotency (k, v, expires_at) VALUES (?, ?, statement_timestamp()"
                + " + interval '24 hours') ON CONFLICT (k) DO NOTHING")) {
      ps.setString(1, k.next());
      ps.setBytes(2, RAW_VALUE);
      return ps.executeUpdate();
    }
  }

  /** Shepherd, Redis: claim + complete + replay. */
  @Benchmark
  public void redisTracked(Servers s, Keys k, Blackhole bh) {
    trackedRequest(s.redisTracker, k.next(), bh);
  }

  /** Shepherd, Redis, with the local replay cache: the replay needs no round trip. */
  @Benchmark
  public void redisTrackedCached(Servers s, Keys k, Blackhole bh) {
    trackedRequest(s.redisCachedTracker, k.next(), bh);
  }

  /** Raw: one Lettuce {@code SET key value NX PX 86400000}. */
  @Benchmark
  public Object redisRaw(Servers s, Keys k) {
    return s.rawRedisCommands.set(
        ("raw:" + k.next()).getBytes(StandardCharsets.UTF_8),
        RAW_VALUE,
        SetArgs.Builder.nx().px(Duration.ofHours(24).toMillis()));
  }
}
