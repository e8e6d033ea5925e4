package dev.shepherd.cache.redis;

import static dev.shepherd.cache.redis.TestCalls.channel;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.cache.Load;
import dev.shepherd.testing.FaultProxy;
import dev.shepherd.testing.LogCapture;
import dev.shepherd.testing.RedisServer;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.logging.Level;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The probe that brings a courier from local to cluster mode, against a real Redis with a fault
 * proxy in front of the courier under test: invalidations made while it replays the missed ones,
 * and a close while it connects.
 */
class ProbeTest {

  @RegisterExtension @Order(1) static final RedisServer redis = RedisServer.create();
  @RegisterExtension @Order(2) static final RawRedis raw = RawRedis.on(redis);

  /**
   * How long each chunk through the proxy waits once the replay is about to start: the watching
   * connection must stop the proxy within it (it has a direct connection; milliseconds).
   */
  private static final Duration DELAY = Duration.ofSeconds(2);

  /**
   * Keys A misses in the first test: replaying them all takes one round trip each, far longer than
   * the watcher takes to slow the proxy down once the probe message is out.
   */
  private static final int MISSED = 2_000;

  private static String name() {
    return "t" + UUID.randomUUID();
  }

  private static String valueKey(String name, String key) {
    return RedisCourier.DEFAULT_PREFIX + name + ":v:" + key;
  }

  /**
   * Holds the courier's replay at the answer to its first replayed command, watching the cache's
   * channel on a direct connection: once the courier's probe message is published (the replay
   * comes next), every chunk through the courier's proxy waits {@link #DELAY}; once the first
   * message of {@code kind} (the courier's first replayed invalidation) is published, the proxy
   * stops. The answer to that command is still waiting out its delay in the proxy, so it stays
   * there until {@code restore()}. Its callbacks run in message order on the connection's thread.
   */
  private static final class ReplayHold extends RedisPubSubAdapter<byte[], byte[]> {
    private final FaultProxy proxy;
    private final byte kind;
    private volatile boolean probed;
    final CountDownLatch held = new CountDownLatch(1);

    ReplayHold(FaultProxy proxy, char kind) {
      this.proxy = proxy;
      this.kind = (byte) kind;
    }

    @Override
    public void message(byte[] channel, byte[] message) {
      if (message.length == 0 || held.getCount() == 0) {
        return;
      }
      if (!probed && message[0] == 'P') {
        probed = true;
        proxy.delay(DELAY);
      } else if (probed && message[0] == kind) {
        proxy.stopForwarding();
        held.countDown();
      }
    }
  }

  /** A courier and cache that reach Redis through a proxy; no command timeout gets in the way. */
  private record Behind(RedisClient client, RedisCourier<String, String> courier,
      CoalescingCache<String, String> cache) implements AutoCloseable {

    static Behind proxy(FaultProxy proxy, String name) {
      RedisClient client = RedisClient.create("redis://127.0.0.1:" + proxy.port());
      RedisCourier<String, String> courier =
          RedisCourier.builder(client, KeyCodec.string(), ValueCodec.string())
              .name(name)
              .commandTimeout(Duration.ofSeconds(60))
              .probeInterval(Duration.ofMillis(100))
              .build();
      return new Behind(client, courier,
          CoalescingCache.<String, String>builder().courier(courier).build());
    }

    @Override
    public void close() {
      courier.close();
      client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
    }
  }

  /** A step of a test that may block. */
  @FunctionalInterface
  private interface Step {
    void run() throws Exception;
  }

  /**
   * Lets {@code missWhileLocal} make A (behind a proxy that refuses it: A stays local) miss
   * invalidations, then lets A's probe connect and holds its replay at its first replayed message
   * of {@code kind}; {@code duringReplay} runs while it is held (A still local), then A is let go.
   */
  private static void holdReplay(
      FaultProxy proxy, Behind a, String name, char kind, Consumer<Behind> missWhileLocal,
      Step duringReplay) throws Exception {
    missWhileLocal.accept(a);
    assertThat(a.courier().isClustered()).as("the proxy refuses A's connections").isFalse();
    ReplayHold hold = new ReplayHold(proxy, kind);
    try (StatefulRedisPubSubConnection<byte[], byte[]> watch =
        raw.client().connectPubSub(ByteArrayCodec.INSTANCE)) {
      watch.addListener(hold);
      watch.sync().subscribe(channel(name));
      proxy.restore(); // A's next probe connects, echoes its message and replays
      assertThat(hold.held.await(60, TimeUnit.SECONDS)).as("A's replay started").isTrue();
    }
    assertThat(a.courier().isClustered()).as("A's replay waits for the held answer").isFalse();
    duringReplay.run();
    assertThat(a.courier().isClustered())
        .as("A still replaying: what ran meanwhile ran during the replay").isFalse();
    proxy.restore();
    await("A clustered").atMost(60, TimeUnit.SECONDS).until(a.courier()::isClustered);
  }

  @Test
  void anInvalidationMadeWhileTheProbeReplaysMissedOnesReachesTheSharedTierAndTheOtherJvms()
      throws Exception {
    String name = name();
    List<String> heard = new CopyOnWriteArrayList<>();
    try (FaultProxy proxy = FaultProxy.to(redis.port());
        Member b = Member.join(
            redis.uri(), name, c -> c.onRemoteInvalidation(heard::add), c -> {})) {
      // B holds the old value of x, in its storage and in the shared tier.
      assertThat(b.cache().fetch("x", k -> Load.commit("old")).value()).isEqualTo("old");
      await().atMost(30, TimeUnit.SECONDS).until(() -> raw.sync().exists(valueKey(name, "x")) == 1);

      proxy.refuseConnections();
      try (Behind a = Behind.proxy(proxy, name)) {
        holdReplay(proxy, a, name, 'I',
            local -> {
              for (int i = 0; i < MISSED; i++) {
                local.cache().invalidate("missed-" + i);
              }
            },
            () -> a.cache().invalidate("x")); // x's source changed while A replays

        assertThat(raw.sync().exists(valueKey(name, "x")))
            .as("the shared tier no longer has x's old value").isZero();
        await().atMost(30, TimeUnit.SECONDS).until(() -> heard.contains("x"));
        assertThat(b.cache().getIfPresent("x")).as("B dropped x").isNull();
        assertThat(b.cache().fetch("x", k -> Load.commit("new")).value()).isEqualTo("new");
      }
    }
  }

  @Test
  void anInvalidationMadeWhileTheProbeReplaysAMissedInvalidateAllIsNotLost() throws Exception {
    String name = name();
    List<String> heard = new CopyOnWriteArrayList<>();
    try (FaultProxy proxy = FaultProxy.to(redis.port());
        Member b = Member.join(
            redis.uri(), name, c -> c.onRemoteInvalidation(heard::add), c -> {})) {
      proxy.refuseConnections();
      try (Behind a = Behind.proxy(proxy, name)) {
        holdReplay(proxy, a, name, 'A',
            local -> local.cache().invalidateAll(),
            () -> {
              // A's clear of the shared tier is done and B has dropped everything; B loads x
              // again, then x's source changes and A invalidates it.
              await().atMost(30, TimeUnit.SECONDS)
                  .until(() -> b.courier().stats().invalidationsReceived() == 1);
              assertThat(b.cache().fetch("x", k -> Load.commit("old")).value()).isEqualTo("old");
              await().atMost(30, TimeUnit.SECONDS)
                  .until(() -> raw.sync().exists(valueKey(name, "x")) == 1);
              a.cache().invalidate("x");
            });

        assertThat(raw.sync().exists(valueKey(name, "x")))
            .as("the shared tier no longer has x's old value").isZero();
        await().atMost(30, TimeUnit.SECONDS).until(() -> heard.contains("x"));
        assertThat(b.cache().getIfPresent("x")).as("B dropped x").isNull();
      }
    }
  }

  /** The ids of the clients connected to Redis now. */
  private static Set<String> clientIds() {
    Set<String> ids = new HashSet<>();
    for (String line : raw.sync().clientList().split("\n")) {
      if (line.startsWith("id=")) {
        ids.add(line.substring(3, line.indexOf(' ')));
      }
    }
    return ids;
  }

  /**
   * README: a cache that cannot reach Redis at start-up logs one WARNING, however many probes
   * fail; more missed invalidations than the courier keeps (10,000 keys) clear the cache's keys in
   * Redis on its return, and every other JVM clears its storage.
   */
  @Test
  void moreMissedInvalidationsThanAreKeptClearTheSharedTierAndOneWarningSaysRedisIsUnreachable()
      throws Exception {
    String name = name();
    try (LogCapture log = LogCapture.of(RedisCourier.class);
        FaultProxy proxy = FaultProxy.to(redis.port());
        Member b = Member.join(redis.uri(), name)) {
      assertThat(b.cache().fetch("elsewhere", k -> Load.commit("old")).value()).isEqualTo("old");
      await().atMost(30, TimeUnit.SECONDS)
          .until(() -> raw.sync().exists(valueKey(name, "elsewhere")) == 1);
      proxy.refuseConnections();
      try (Behind a = Behind.proxy(proxy, name)) {
        await().atMost(60, TimeUnit.SECONDS).until(() -> proxy.acceptedConnections() >= 3);
        assertThat(log.messagesAt(Level.WARNING)).as("one warning however many probes failed").hasSize(1)
            .allSatisfy(m -> assertThat(m).contains("cannot reach Redis"));
        for (int i = 0; i <= 10_000; i++) { // one more key than are kept
          a.cache().invalidate("missed-" + i);
        }
        assertThat(a.courier().isClustered()).isFalse();

        proxy.restore();
        await().atMost(60, TimeUnit.SECONDS).until(a.courier()::isClustered);
        assertThat(raw.sync().exists(valueKey(name, "elsewhere"))).as("the shared tier cleared")
            .isZero();
        await().atMost(30, TimeUnit.SECONDS)
            .until(() -> b.cache().getIfPresent("elsewhere") == null);
        assertThat(b.courier().stats().invalidationsReceived())
            .as("one invalidation of every key, not 10,001").isEqualTo(1);
      }
    }
  }

  @Test
  void closingTheCourierWhileItsProbeConnectsLeavesNoConnectionOpen() throws Exception {
    String clientName = "closing-" + UUID.randomUUID();
    Set<String> before = clientIds();
    try (FaultProxy proxy = FaultProxy.to(redis.port())) {
      // The probe's connect reaches Redis but waits for the answer to its handshake.
      proxy.stopForwarding();
      RedisClient client = RedisClient.create(RedisURI.builder()
          .withHost(proxy.host()).withPort(proxy.port()).withClientName(clientName)
          .withTimeout(Duration.ofSeconds(60)).build());
      client.setOptions(ClientOptions.builder()
          .socketOptions(SocketOptions.builder().connectTimeout(Duration.ofSeconds(60)).build())
          .build());
      try {
        RedisCourier<String, String> courier =
            RedisCourier.builder(client, KeyCodec.string(), ValueCodec.string())
                .name(name()).probeInterval(Duration.ofMillis(100)).build();
        CoalescingCache.<String, String>builder().courier(courier).build();
        await("the probe connecting").atMost(60, TimeUnit.SECONDS)
            .until(() -> proxy.openConnections() == 1);
        Set<String> opening = new HashSet<>();
        await().atMost(60, TimeUnit.SECONDS).until(() -> {
          opening.addAll(clientIds());
          opening.removeAll(before);
          return !opening.isEmpty();
        });

        courier.close();
        proxy.restore(); // the handshake is answered: the connect returns to a closed courier

        await("the courier's connection through the proxy closed")
            .atMost(60, TimeUnit.SECONDS).until(() -> proxy.openConnections() == 0);
        await("the courier's clients gone from CLIENT LIST")
            .atMost(60, TimeUnit.SECONDS).until(() -> {
          Set<String> left = clientIds();
          left.retainAll(opening);
          return left.isEmpty() && !raw.sync().clientList().contains("name=" + clientName + " ");
        });
        assertThat(proxy.acceptedConnections()).as("no connection opened after close").isEqualTo(1);
      } finally {
        client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
      }
    }
  }
}
