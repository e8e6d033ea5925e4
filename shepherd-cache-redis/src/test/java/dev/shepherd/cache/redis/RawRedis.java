package dev.shepherd.cache.redis;

import dev.shepherd.testing.RedisServer;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.time.Duration;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A plain Lettuce client and string connection on a test class's Redis, beside the couriers under
 * test: to read and write their keys and listen on their channels directly. It connects before the
 * class's tests and shuts down after them, so register it after the server:
 *
 * <pre>{@code
 * @RegisterExtension @Order(1) static final RedisServer redis = RedisServer.create();
 * @RegisterExtension @Order(2) static final RawRedis raw = RawRedis.on(redis);
 * }</pre>
 */
final class RawRedis implements BeforeAllCallback, AfterAllCallback {

  private final RedisServer server;
  private @Nullable RedisClient client;
  private @Nullable StatefulRedisConnection<String, String> connection;

  private RawRedis(RedisServer server) {
    this.server = server;
  }

  /** A client of {@code server}, connected once the server has started. */
  static RawRedis on(RedisServer server) {
    return new RawRedis(server);
  }

  @Override
  public void beforeAll(ExtensionContext context) {
    client = RedisClient.create(server.uri());
    connection = client.connect();
  }

  @Override
  public void afterAll(ExtensionContext context) {
    if (connection != null) {
      connection.close();
      connection = null;
    }
    if (client != null) {
      client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
      client = null;
    }
  }

  /** The client, for connections of another codec or for pub/sub. */
  RedisClient client() {
    if (client == null) {
      throw new IllegalStateException("not connected: register RawRedis after its RedisServer");
    }
    return client;
  }

  /** Synchronous commands on the string connection. */
  RedisCommands<String, String> sync() {
    if (connection == null) {
      throw new IllegalStateException("not connected: register RawRedis after its RedisServer");
    }
    return connection.sync();
  }
}
