package dev.shepherd.cache.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.cache.Fetched;
import dev.shepherd.cache.Load;
import dev.shepherd.testing.RedisServer;
import io.lettuce.core.RedisClient;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Compiles and runs the sample of README.md. */
class ReadmeSampleTest {

  @RegisterExtension static final RedisServer redis = RedisServer.create();

  record Product(long id, String name) {}

  @Test
  void readmeSampleRuns() throws Exception {
    ObjectMapper objectMapper = new ObjectMapper();
    RedisClient redisClient = RedisClient.create(redis.uri());
    try {
      // --- README sample ---
      RedisCourier<Long, Product> courier = RedisCourier.builder(redisClient, KeyCodec.longs(),
              JacksonValueCodec.of(objectMapper, Product.class))
          .name("products")                  // the same name in every JVM of the service
          .build();
      CoalescingCache<Long, Product> products = CoalescingCache.<Long, Product>builder()
          .courier(courier)
          .timeToLive(Duration.ofMinutes(5))
          .cacheFailuresFor(Duration.ofSeconds(2))
          .build();
      // --- end ---
      await().atMost(60, TimeUnit.SECONDS).until(courier::isClustered);
      Fetched<Product> fetched = products.fetch(7L, id -> Load.commit(new Product(id, "Product " + id)));
      assertThat(fetched).isEqualTo(new Fetched<>(new Product(7L, "Product 7"), Fetched.Source.LOADED));
      assertThat(courier.stats().leads()).isEqualTo(1);
      courier.close();
    } finally {
      redisClient.shutdown(Duration.ZERO, Duration.ofSeconds(2));
    }
  }
}
