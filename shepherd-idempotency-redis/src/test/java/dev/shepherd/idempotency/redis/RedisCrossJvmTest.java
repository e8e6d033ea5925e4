package dev.shepherd.idempotency.redis;

import dev.shepherd.idempotency.CrossJvmContract;
import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.StoreFactory;
import dev.shepherd.testing.RedisServer;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Two JVMs, one Redis. */
class RedisCrossJvmTest extends CrossJvmContract {

  @RegisterExtension static final RedisServer redis = RedisServer.create();

  @Override
  protected IdempotencyStore newStore() {
    return new RedisStoreFactory().create(redis.uri());
  }

  @Override
  protected Class<? extends StoreFactory> childFactory() {
    return RedisStoreFactory.class;
  }

  @Override
  protected String childSpec() {
    return redis.uri();
  }
}
