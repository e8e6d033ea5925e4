package dev.shepherd.cache.redis;

import static org.awaitility.Awaitility.await;

import dev.shepherd.cache.CoalescingCache;
import io.lettuce.core.RedisClient;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * One cluster member inside the test JVM: its own Lettuce client, courier (own node id) and cache,
 * so two members behave as two JVMs sharing one Redis.
 */
record Member(RedisClient client, RedisCourier<String, String> courier,
    CoalescingCache<String, String> cache) implements AutoCloseable {

  static Member join(String uri, String name,
      Consumer<RedisCourier.Builder<String, String>> courierOptions,
      Consumer<CoalescingCache.Builder<String, String>> cacheOptions) {
    RedisClient client = RedisClient.create(uri);
    RedisCourier.Builder<String, String> cb =
        RedisCourier.builder(client, KeyCodec.string(), ValueCodec.string())
            .name(name)
            .lease(Duration.ofSeconds(1))
            .commandTimeout(Duration.ofMillis(500))
            .probeInterval(Duration.ofMillis(100))
            // No heartbeat during a test unless it asks for one: some count Redis' commands.
            .heartbeatInterval(Duration.ofHours(1));
    courierOptions.accept(cb);
    RedisCourier<String, String> courier = cb.build();
    CoalescingCache.Builder<String, String> b = CoalescingCache.<String, String>builder().courier(courier);
    cacheOptions.accept(b);
    Member member = new Member(client, courier, b.build());
    await().atMost(60, TimeUnit.SECONDS).until(courier::isClustered);
    return member;
  }

  static Member join(String uri, String name) {
    return join(uri, name, c -> {}, c -> {});
  }

  @Override
  public void close() {
    courier.close();
    client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
  }
}
