package dev.shepherd.cache.redis;

import static dev.shepherd.cache.redis.TestCalls.channel;
import static dev.shepherd.cache.redis.TestCalls.message;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.testing.RedisServer;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.ByteArrayCodec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The messages a JVM has received but not yet handled, against a real Redis channel. */
class InboxBoundTest {

  @RegisterExtension @Order(1) static final RedisServer redis = RedisServer.create();
  @RegisterExtension @Order(2) static final RawRedis raw = RawRedis.on(redis);

  /** Invalidations another JVM would send: more than the courier keeps waiting. */
  private static final int FLOOD = 12_000;

  /**
   * Messages were queued for the courier's message thread without bound: with that thread held
   * (a slow listener, a long pause) a busy channel, or anyone who can publish on it, grew the heap
   * of every JVM without limit. Past the bound, messages are dropped and the JVM falls back (it may
   * have missed invalidations); it returns, clearing its local storage, once it keeps up again.
   */
  @Test
  void aJvmWhoseMessageThreadFallsBehindDropsMessagesAndFallsBackInsteadOfQueueingWithoutBound()
      throws Exception {
    String name = "t" + UUID.randomUUID();
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch held = new CountDownLatch(1);
    try (Member a = Member.join(redis.uri(), name, c -> c.onRemoteInvalidation(k -> {
          held.countDown();
          try {
            release.await();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        }), c -> {});
        StatefulRedisConnection<byte[], byte[]> bytes =
            raw.client().connect(ByteArrayCodec.INSTANCE)) {
      byte[] channel = channel(name);
      bytes.sync().publish(channel, message('I', "first", -1, ""));
      assertThat(held.await(30, TimeUnit.SECONDS)).as("the message thread is held").isTrue();

      List<RedisFuture<Long>> sent = new ArrayList<>(FLOOD);
      for (int i = 0; i < FLOOD; i++) {
        sent.add(bytes.async().publish(channel, message('I', "k" + i, -1, "")));
      }
      for (RedisFuture<Long> f : sent) {
        f.get(30, TimeUnit.SECONDS);
      }
      await().atMost(30, TimeUnit.SECONDS).until(() -> a.courier().stats().fallbacks() == 1);
      assertThat(a.courier().isClustered()).isFalse();

      release.countDown();
      await().atMost(60, TimeUnit.SECONDS).pollInterval(Duration.ofMillis(50))
          .until(a.courier()::isClustered);
      assertThat(a.courier().stats().invalidationsReceived()).as("the dropped ones were not applied")
          .isLessThan(FLOOD);
    }
  }
}
