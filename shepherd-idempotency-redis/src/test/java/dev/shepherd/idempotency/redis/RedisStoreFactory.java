package dev.shepherd.idempotency.redis;

import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.OrphanPolicy;
import dev.shepherd.idempotency.StoreFactory;
import dev.shepherd.idempotency.StoredResponse;
import dev.shepherd.idempotency.Tracked;
import io.lettuce.core.RedisClient;
import java.time.Duration;

/** Makes a Redis store over a Redis URI, in the child JVM; closing it shuts the client down. */
public final class RedisStoreFactory implements StoreFactory {

  @Override
  public IdempotencyStore create(String spec) {
    RedisClient client = RedisClient.create(spec);
    RedisIdempotencyStore store = RedisIdempotencyStore.builder(client).build();
    return new IdempotencyStore() {
      @Override
      public Tracked claim(String key, String fingerprint, Duration lease, Duration retention,
          OrphanPolicy orphanPolicy) {
        return store.claim(key, fingerprint, lease, retention, orphanPolicy);
      }

      @Override
      public boolean renew(String key, long token, Duration lease, Duration retention) {
        return store.renew(key, token, lease, retention);
      }

      @Override
      public boolean complete(String key, long token, StoredResponse response,
          Duration retention) {
        return store.complete(key, token, response, retention);
      }

      @Override
      public boolean halt(String key, long token, String reason, Duration retention) {
        return store.halt(key, token, reason, retention);
      }

      @Override
      public boolean release(String key, long token) {
        return store.release(key, token);
      }

      @Override
      public int prune(int limit) {
        return store.prune(limit);
      }

      @Override
      public void close() {
        store.close();
        client.shutdown();
      }
    };
  }
}
