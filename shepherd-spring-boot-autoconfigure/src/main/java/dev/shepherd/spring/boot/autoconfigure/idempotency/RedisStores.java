package dev.shepherd.spring.boot.autoconfigure.idempotency;

import static dev.shepherd.spring.boot.autoconfigure.internal.Settings.set;

import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.redis.RedisIdempotencyStore;
import io.lettuce.core.AbstractRedisClient;
import io.lettuce.core.RedisClient;
import org.jspecify.annotations.Nullable;
import org.springframework.beans.factory.BeanFactory;
import org.springframework.data.redis.connection.lettuce.LettuceConnectionFactory;
import org.springframework.util.ClassUtils;

/** The Redis store; loaded only when shepherd-idempotency-redis and Lettuce are on the class path. */
final class RedisStores {

  private RedisStores() {}

  /** Returns the application's Lettuce client: a RedisClient bean, else Spring Data Redis's Lettuce factory's client. */
  static @Nullable RedisClient client(BeanFactory beanFactory) {
    RedisClient client = beanFactory.getBeanProvider(RedisClient.class).getIfUnique();
    if (client != null) {
      return client;
    }
    if (ClassUtils.isPresent("org.springframework.data.redis.connection.lettuce.LettuceConnectionFactory", RedisStores.class.getClassLoader())) {
      LettuceConnectionFactory factory = beanFactory.getBeanProvider(LettuceConnectionFactory.class).getIfUnique();
      if (factory != null) {
        if (!factory.isRunning()) {
          factory.start();
        }
        AbstractRedisClient nativeClient = factory.getNativeClient();
        if (nativeClient instanceof RedisClient standalone) {
          return standalone;
        }
        throw new IllegalStateException("shepherd.idempotency.store: Spring Data Redis's Lettuce client is a "
            + (nativeClient == null ? "null client" : nativeClient.getClass().getSimpleName())
            + "; the Redis store needs a standalone RedisClient (define a RedisClient bean, or set shepherd.idempotency.store=jdbc)");
      }
    }
    return null;
  }

  static IdempotencyStore store(RedisClient client, ShepherdIdempotencyProperties.Redis redis) {
    RedisIdempotencyStore.Builder store = RedisIdempotencyStore.builder(client);
    set("shepherd.idempotency.redis.key-prefix", redis.keyPrefix(), () -> store.keyPrefix(redis.keyPrefix()));
    set("shepherd.idempotency.redis.command-timeout", redis.commandTimeout(), () -> store.commandTimeout(redis.commandTimeout()));
    return store.build();
  }
}
