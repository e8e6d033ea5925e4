package dev.shepherd.cache.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.cache.Fetched;
import dev.shepherd.cache.Load;
import dev.shepherd.testing.FaultProxy;
import dev.shepherd.testing.RedisServer;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.SocketAddressResolver;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The subscription's connection stops carrying bytes while the command connection keeps working
 * (a NAT or load balancer dropped the idle flow silently): nobody closes it, and the client still
 * sees it open.
 */
class SubscriptionLostTest {

  @RegisterExtension static final RedisServer redis = RedisServer.create();

  /**
   * Without a check of its own, a JVM whose subscription silently died stayed in cluster mode and
   * kept answering the old value of every key another JVM invalidated, for as long as the process
   * lived (a subscriber sends nothing, so TCP never notices). The heartbeat finds it, the JVM falls
   * back, and the probe opens a new subscription and clears what may have been missed.
   */
  @Test
  void aSubscriptionThatSilentlyStopsIsFoundReopenedAndWhatItMissedLeavesTheJvm()
      throws Exception {
    String name = "t" + UUID.randomUUID();
    try (FaultProxy proxy = FaultProxy.to(redis.port());
        Member b = Member.join(redis.uri(), name)) {
      // The courier's second connection (its subscription; the commands' is opened first) goes
      // through the proxy; every other one, the reopened subscription too, goes to Redis.
      AtomicInteger resolved = new AtomicInteger();
      SocketAddress direct = new InetSocketAddress("127.0.0.1", redis.port());
      SocketAddress throughProxy = new InetSocketAddress("127.0.0.1", proxy.port());
      ClientResources resources = ClientResources.builder()
          .socketAddressResolver(new SocketAddressResolver() {
            @Override
            public SocketAddress resolve(RedisURI uri) {
              return resolved.incrementAndGet() == 2 ? throughProxy : direct;
            }
          })
          .build();
      RedisClient client = RedisClient.create(resources, redis.uri());
      try (RedisCourier<String, String> courier =
          RedisCourier.builder(client, KeyCodec.string(), ValueCodec.string())
              .name(name)
              .probeInterval(Duration.ofMillis(100))
              .heartbeatInterval(Duration.ofMillis(100))
              .build()) {
        CoalescingCache<String, String> a =
            CoalescingCache.<String, String>builder().courier(courier).build();
        await().atMost(60, TimeUnit.SECONDS).until(courier::isClustered);
        assertThat(proxy.acceptedConnections()).as("the subscription").isEqualTo(1);
        assertThat(a.fetch("k", k -> Load.commit("old")).value()).isEqualTo("old");

        proxy.stopForwarding();
        b.cache().invalidate("k"); // its message never reaches A through the stopped flow

        await().atMost(30, TimeUnit.SECONDS).until(() -> courier.stats().fallbacks() == 1);
        await().atMost(30, TimeUnit.SECONDS).until(courier::isClustered);
        assertThat(a.getIfPresent("k")).as("cleared on the return to cluster mode").isNull();
        assertThat(a.fetch("k", k -> Load.commit("new")))
            .isEqualTo(new Fetched<>("new", Fetched.Source.LOADED));
        b.cache().invalidate("k");
        await().atMost(30, TimeUnit.SECONDS)
            .until(() -> courier.stats().invalidationsReceived() == 1);
        assertThat(a.getIfPresent("k")).as("heard through the new subscription").isNull();
      } finally {
        client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        resources.shutdown(0, 2, TimeUnit.SECONDS).get(10, TimeUnit.SECONDS);
      }
    }
  }
}
