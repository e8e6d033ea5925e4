package dev.shepherd.benchmarks.idempotency;

import com.zaxxer.hikari.HikariDataSource;
import dev.shepherd.idempotency.StoredResponse;
import dev.shepherd.testing.PostgresCluster;
import dev.shepherd.testing.RedisServer;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;

/**
 * The real servers and raw clients both idempotency benchmarks measure against: a PostgreSQL
 * primary behind a Hikari pool of 8, and a Redis server with a byte-array Lettuce connection for
 * the raw peer. Started once per trial; {@link #close()} stops them in reverse order.
 */
final class StoreServers implements AutoCloseable {

  /** The response every benchmark stores and replays: a small JSON body with two headers. */
  static final StoredResponse RESPONSE =
      new StoredResponse(
          201,
          List.of(
              new StoredResponse.Header("Content-Type", "application/json"),
              new StoredResponse.Header("Location", "/orders/42")),
          "{\"id\":42,\"status\":\"created\",\"total\":\"19.99\"}".getBytes(StandardCharsets.UTF_8),
          Instant.parse("2026-11-24T00:00:00Z"));

  final PostgresCluster pg;
  final RedisServer redis;
  final HikariDataSource dataSource;
  final RedisClient redisClient;
  final StatefulRedisConnection<byte[], byte[]> rawRedis;
  final RedisCommands<byte[], byte[]> raw;

  StoreServers() {
    pg = PostgresCluster.primaryOnly();
    pg.start();
    redis = RedisServer.create();
    redis.start();
    dataSource = pg.primaryDataSource();
    redisClient = RedisClient.create(redis.uri());
    rawRedis = redisClient.connect(ByteArrayCodec.INSTANCE);
    raw = rawRedis.sync();
  }

  @Override
  public void close() {
    rawRedis.close();
    redisClient.shutdown();
    dataSource.close();
    redis.close();
    pg.close();
  }
}
