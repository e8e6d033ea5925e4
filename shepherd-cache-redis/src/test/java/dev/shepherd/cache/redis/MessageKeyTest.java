package dev.shepherd.cache.redis;

import static dev.shepherd.cache.redis.TestCalls.channel;
import static dev.shepherd.cache.redis.TestCalls.fetchInThread;
import static dev.shepherd.cache.redis.TestCalls.message;
import static dev.shepherd.cache.redis.TestCalls.waitOnLeader;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.cache.Fetched;
import dev.shepherd.cache.Load;
import dev.shepherd.testing.LogCapture;
import dev.shepherd.testing.RedisServer;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Level;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Messages tagged with a shared key (R13): whoever can publish on the channel without the key can
 * no longer clear every JVM's storage nor install a value for a waiting lease.
 */
class MessageKeyTest {

  @RegisterExtension @Order(1) static final RedisServer redis = RedisServer.create();
  @RegisterExtension @Order(2) static final RawRedis raw = RawRedis.on(redis);

  private static final byte[] KEY = "0123456789abcdef0123456789abcdef".getBytes(UTF_8);
  private static final byte[] OTHER_KEY = "fedcba9876543210fedcba9876543210".getBytes(UTF_8);

  private static String name() {
    return "t" + UUID.randomUUID();
  }

  private static Member keyed(String name, byte[] key) {
    return Member.join(redis.uri(), name,
        c -> c.lease(Duration.ofSeconds(60)).maxMessageValueBytes(16).messageKey(key), c -> {});
  }

  @Test
  void aForgedInvalidateAllClearsNothingIsCountedAndLoggedOnceWithoutItsBytes() throws Exception {
    String name = name();
    try (Member a = keyed(name, KEY);
        StatefulRedisConnection<byte[], byte[]> bytes = raw.client().connect(ByteArrayCodec.INSTANCE)) {
      assertThat(a.cache().fetch("k", k -> Load.commit("v")).value()).isEqualTo("v");
      try (LogCapture log = LogCapture.of(RedisCourier.class)) {
        byte[] channel = channel(name);
        // Unsigned, then with a tag of another key, then with a tag of garbage bytes.
        byte[] forged = message('A', "forged-text", -1, "");
        bytes.sync().publish(channel, forged);
        bytes.sync().publish(channel, concat(forged, hmac(OTHER_KEY, channel, forged)));
        bytes.sync().publish(channel, concat(forged, new byte[32]));
        bytes.sync().publish(channel, message('I', "k", -1, ""));
        await().atMost(30, TimeUnit.SECONDS).until(() -> a.courier().stats().rejectedMessages() == 4);

        assertThat(a.cache().getIfPresent("k")).isEqualTo("v");
        assertThat(a.courier().stats().invalidationsReceived()).isZero();
        assertThat(a.courier().stats().fallbacks()).isZero();
        assertThat(log.messagesAt(Level.WARNING)).hasSize(1).allSatisfy(m -> assertThat(m).doesNotContain("forged-text"));
      }
    }
  }

  @Test
  void aForgedResultWithTheLeasesTokenIsNotTakenByTheWaitingJvm() throws Exception {
    String name = name();
    try (Member a = keyed(name, KEY);
        Member b = keyed(name, KEY);
        StatefulRedisConnection<byte[], byte[]> bytes = raw.client().connect(ByteArrayCodec.INSTANCE)) {
      CountDownLatch finish = new CountDownLatch(1);
      AtomicInteger runs = new AtomicInteger();
      CompletableFuture<Fetched<String>> waiter = waitOnLeader(a, b, "k", "real", finish, runs);
      long token = Long.parseLong(raw.sync().get(RedisCourier.DEFAULT_PREFIX + name + ":l:k"));

      // Unsigned, then with a tag of another key.
      byte[] channel = channel(name);
      byte[] forged = message('R', "k", token, "Vforged");
      bytes.sync().publish(channel, forged);
      bytes.sync().publish(channel, concat(forged, hmac(OTHER_KEY, channel, forged)));
      await().atMost(30, TimeUnit.SECONDS).until(() -> b.courier().stats().rejectedMessages() == 2);
      assertThat(waiter).isNotDone();
      assertThat(b.cache().getIfPresent("k")).isNull();

      finish.countDown();
      assertThat(waiter.get(30, TimeUnit.SECONDS).value()).isEqualTo("real");
      assertThat(b.cache().getIfPresent("k")).isEqualTo("real");
      assertThat(runs).hasValue(1);
    }
  }

  /**
   * Every message a keyed courier sends is tagged, from Java or from a script: a result inside
   * its message, a result stored (too large for a message), invalidations of one key and of all.
   * The leases last 60 s, so a waiter that missed its result would not be answered in time.
   */
  @Test
  void twoJvmsWithTheSameKeyCoalesceAndSeeEachOthersInvalidations() throws Exception {
    String name = name();
    BlockingQueue<byte[]> heard = new LinkedBlockingQueue<>();
    try (Member a = keyed(name, KEY);
        Member b = keyed(name, KEY);
        StatefulRedisPubSubConnection<byte[], byte[]> listen =
            raw.client().connectPubSub(ByteArrayCodec.INSTANCE)) {
      for (String[] kv : new String[][] {{"small", "s"}, {"big", "y".repeat(100)}}) {
        CountDownLatch finish = new CountDownLatch(1);
        AtomicInteger runs = new AtomicInteger();
        CompletableFuture<Fetched<String>> waiter = waitOnLeader(a, b, kv[0], kv[1], finish, runs);
        finish.countDown();
        assertThat(waiter.get(30, TimeUnit.SECONDS).value()).isEqualTo(kv[1]);
        assertThat(runs).hasValue(1);
      }
      assertThat(b.courier().stats().sharedAnswers()).isEqualTo(2);

      listen.addListener(new RedisPubSubAdapter<>() {
        @Override
        public void message(byte[] channel, byte[] message) {
          heard.add(message);
        }
      });
      listen.sync().subscribe(channel(name));
      a.cache().invalidate("small");
      await().atMost(30, TimeUnit.SECONDS).until(() -> b.courier().stats().invalidationsReceived() == 1);
      assertThat(b.cache().getIfPresent("small")).isNull();
      assertThat(b.cache().getIfPresent("big")).isEqualTo("y".repeat(100));
      b.cache().invalidateAll();
      await().atMost(30, TimeUnit.SECONDS).until(() -> a.courier().stats().invalidationsReceived() == 1);
      assertThat(a.cache().getIfPresent("big")).isNull();
      assertThat(a.courier().stats().rejectedMessages()).isZero();
      assertThat(b.courier().stats().rejectedMessages()).isZero();

      // On the wire: the message, then HMAC-SHA256(key, length of the channel's name, name, message).
      byte[] invalidation = heard.poll(30, TimeUnit.SECONDS);
      assertThat(invalidation).isNotNull();
      byte[] body = Arrays.copyOf(invalidation, invalidation.length - 32);
      assertThat(body.length).isEqualTo(1 + 8 + 4 + "small".length());
      assertThat(Arrays.copyOfRange(invalidation, body.length, invalidation.length))
          .isEqualTo(hmac(KEY, channel(name), body));
    }
  }

  /**
   * A JVM with another key hears none of the others' messages, and they none of its, but its probe
   * hears its own: it still clusters (and its loads are not shared, as documented).
   */
  @Test
  void aJvmWithAnotherKeyStillClustersAndIsNeitherHeardNorHears() throws Exception {
    String name = name();
    try (Member a = keyed(name, KEY);
        Member c = keyed(name, OTHER_KEY)) {
      assertThat(c.courier().isClustered()).isTrue();
      assertThat(c.cache().fetch("k", k -> Load.commit("c")).value()).isEqualTo("c");
      a.cache().invalidateAll();
      await().atMost(30, TimeUnit.SECONDS).until(() -> c.courier().stats().rejectedMessages() >= 1);
      assertThat(c.cache().getIfPresent("k")).isEqualTo("c");
      assertThat(c.courier().stats().invalidationsReceived()).isZero();
      assertThat(c.courier().isClustered()).isTrue();
    }
  }

  @Test
  void aMessageKeyShorterThan32BytesIsRefusedAndTheKeyIsCopied() throws Exception {
    RedisClient client = RedisClient.create(redis.uri());
    try {
      assertThatThrownBy(() -> RedisCourier.builder(client, KeyCodec.string(), ValueCodec.string())
              .messageKey(new byte[31]))
          .isInstanceOf(IllegalArgumentException.class);
      // The caller's array changed after messageKey(): the courier keeps the bytes it was given.
      String name = name();
      byte[] secret = KEY.clone();
      RedisCourier.Builder<String, String> builder =
          RedisCourier.builder(client, KeyCodec.string(), ValueCodec.string())
              .name(name).probeInterval(Duration.ofMillis(100)).messageKey(secret);
      Arrays.fill(secret, (byte) 0);
      RedisCourier<String, String> courier = builder.build();
      try (courier; Member a = keyed(name, KEY)) {
        CoalescingCache<String, String> cache =
            CoalescingCache.<String, String>builder().courier(courier).build();
        await().atMost(60, TimeUnit.SECONDS).until(courier::isClustered);
        assertThat(cache.fetch("k", k -> Load.commit("v")).value()).isEqualTo("v");
        a.cache().invalidate("k");
        await().atMost(30, TimeUnit.SECONDS).until(() -> courier.stats().invalidationsReceived() == 1);
        assertThat(courier.stats().rejectedMessages()).isZero();
      }
    } finally {
      client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
    }
  }

  private static byte[] hmac(byte[] key, byte[] channel, byte[] message) throws Exception {
    Mac mac = Mac.getInstance("HmacSHA256");
    mac.init(new SecretKeySpec(key, "HmacSHA256"));
    mac.update(ByteBuffer.allocate(4).putInt(channel.length).array());
    mac.update(channel);
    return mac.doFinal(message);
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
