package dev.shepherd.idempotency.redis;

import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.StoreFactory;
import dev.shepherd.idempotency.ForwardingIdempotencyStore;
import io.lettuce.core.RedisClient;

/** Makes a Redis store over a Redis URI, in the child JVM; closing it shuts the client down. */
public final class RedisStoreFactory implements StoreFactory {

  @Override
  public IdempotencyStore create(String spec) {
    RedisClient client = RedisClient.create(spec);
    return new ForwardingIdempotencyStore(RedisIdempotencyStore.builder(client).build()) {
      @Override
      public void close() {
        super.close();
        client.shutdown();
      }
    };
  }
}
