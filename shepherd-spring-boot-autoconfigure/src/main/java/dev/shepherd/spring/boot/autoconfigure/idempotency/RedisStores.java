package dev.shepherd.spring.boot.autoconfigure.idempotency;

import static dev.shepherd.spring.boot.autoconfigure.internal.Settings.set;

import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.redis.RedisIdempotencyStore;
import dev.shepherd.spring.boot.autoconfigure.internal.LettuceClients;
import io.lettuce.core.RedisClient;
import org.jspecify.annotations.Nullable;
import org.springframework.beans.factory.BeanFactory;

/** The Redis store; loaded only when shepherd-idempotency-redis and Lettuce are on the class path. */
final class RedisStores {

  private RedisStores() {}

  /** Returns the application's Lettuce client: a RedisClient bean, else Spring Data Redis's Lettuce factory's client. */
  static @Nullable RedisClient client(BeanFactory beanFactory) {
    LettuceClients.Found found = LettuceClients.find(beanFactory, kind -> "shepherd.idempotency.store: Spring Data Redis's Lettuce client is a "
        + kind + "; the Redis store needs a standalone RedisClient (define a RedisClient bean, or set shepherd.idempotency.store=jdbc)");
    return found == null ? null : found.client();
  }

  static IdempotencyStore store(RedisClient client, ShepherdIdempotencyProperties.Redis redis) {
    RedisIdempotencyStore.Builder store = RedisIdempotencyStore.builder(client);
    set("shepherd.idempotency.redis.key-prefix", redis.keyPrefix(), () -> store.keyPrefix(redis.keyPrefix()));
    set("shepherd.idempotency.redis.command-timeout", redis.commandTimeout(), () -> store.commandTimeout(redis.commandTimeout()));
    return store.build();
  }
}
