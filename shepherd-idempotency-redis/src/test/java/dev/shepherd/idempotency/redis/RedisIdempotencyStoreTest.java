package dev.shepherd.idempotency.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.IdempotencyStoreException;
import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.OrphanPolicy;
import dev.shepherd.idempotency.Tracked;
import dev.shepherd.idempotency.testkit.IdempotencyStoreContract;
import dev.shepherd.testing.RedisServer;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The store contract and the Redis specifics against a real Redis. */
class RedisIdempotencyStoreTest extends IdempotencyStoreContract {

  @RegisterExtension static final RedisServer redis = RedisServer.create();

  private static RedisClient client;
  private static StatefulRedisConnection<String, String> probe;

  @BeforeAll
  static void connect() {
    client = RedisClient.create(redis.uri());
    client.setOptions(ClientOptions.builder()
        .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS).build());
    probe = client.connect();
  }

  @AfterAll
  static void shutdown() {
    probe.close();
    client.shutdown();
  }

  @Override
  protected IdempotencyStore newStore() {
    return RedisIdempotencyStore.builder(client).build();
  }

  @Override
  protected IdempotencyStore unreachableStore() {
    RedisClient closed = RedisClient.create("redis://127.0.0.1:" + closedPort());
    return RedisIdempotencyStore.builder(closed).commandTimeout(Duration.ofSeconds(2)).build();
  }

  static int closedPort() {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @Override
  protected boolean isStored(String key) {
    return probe.sync().exists(RedisIdempotencyStore.DEFAULT_PREFIX + key) == 1;
  }

  @Override
  protected boolean prunes() {
    return false;
  }

  /** Redis's clock in microseconds (TIME). */
  private static long redisMicros() {
    java.util.List<String> time = probe.sync().time();
    return Long.parseLong(time.get(0)) * 1_000_000 + Long.parseLong(time.get(1));
  }

  /**
   * A lease written by a claim or a renewal never ends before the instant the call was sent plus
   * the lease (the tracker's confirmedUntil), by Redis's own clock: here bounded from below by a
   * TIME read before the call. With the lease start rounded down to the millisecond, a call
   * executed within the same millisecond as that read ended its lease up to 1 ms early; 100
   * claims and 100 renewals make that all but certain to show.
   */
  @Test
  void leaseWrittenByAClaimOrARenewalNeverEndsBeforeTheCallWasSentPlusTheLease() {
    Duration lease = Duration.ofSeconds(30);
    for (int i = 0; i < 100; i++) {
      String key = "lease-start:" + java.util.UUID.randomUUID();
      long beforeClaim = redisMicros();
      Tracked.Claimed claim =
          (Tracked.Claimed) store.claim(key, "fp", lease, LONG, OrphanPolicy.TAKE_OVER);
      long leaseUntil = Long.parseLong(
          probe.sync().hget(RedisIdempotencyStore.DEFAULT_PREFIX + key, "l"));
      assertThat(leaseUntil * 1000).isGreaterThanOrEqualTo(beforeClaim + lease.toNanos() / 1000);

      long beforeRenew = redisMicros();
      assertThat(store.renew(key, claim.fencingToken(), lease, LONG)).isTrue();
      leaseUntil = Long.parseLong(
          probe.sync().hget(RedisIdempotencyStore.DEFAULT_PREFIX + key, "l"));
      assertThat(leaseUntil * 1000).isGreaterThanOrEqualTo(beforeRenew + lease.toNanos() / 1000);
    }
  }

  @Test
  void recordsExpireThroughTheirRedisTimeToLive() {
    String key = key("ttl");
    Tracked.Claimed claim = (Tracked.Claimed) store.claim(key, "fp", Duration.ofSeconds(60),
        Duration.ofHours(24), OrphanPolicy.TAKE_OVER);
    long inProgressTtl = probe.sync().pttl(RedisIdempotencyStore.DEFAULT_PREFIX + key);

    store.complete(key, claim.fencingToken(), response("x"), Duration.ofHours(1));
    long completedTtl = probe.sync().pttl(RedisIdempotencyStore.DEFAULT_PREFIX + key);

    assertThat(inProgressTtl).isBetween(Duration.ofHours(24).toMillis(),
        Duration.ofHours(24).plusSeconds(60).toMillis());
    assertThat(completedTtl).isBetween(Duration.ofMinutes(59).toMillis(),
        Duration.ofHours(1).toMillis());
  }

  @Test
  void scriptsAreLoadedAgainAfterRedisForgetsThem() {
    String key = key("flush");
    probe.sync().scriptFlush();

    assertThat(store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER))
        .isInstanceOf(Tracked.Claimed.class);
    assertThat(store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER))
        .isInstanceOf(Tracked.InProgress.class);
  }

  @Test
  void storeErrorWhileRedisIsDownAndRecoveryWhenItReturns() {
    IdempotencyTracker tracker = tracker(LONG, LONG);
    String key = key("restart");
    Tracked.Claimed claim = (Tracked.Claimed) tracker.track(key, "fp");
    redis.stop();
    try {
      assertThatThrownBy(() -> tracker.track(key("other"), "fp"))
          .isInstanceOf(IdempotencyStoreException.class);
    } finally {
      redis.restart();
    }
    // The fixture's restart keeps the data (RDB/AOF) or not; either way the tracker answers again.
    Tracked after = Awaitility.await().ignoreExceptions()
        .until(() -> tracker.track(key("after"), "fp"), t -> t instanceof Tracked.Claimed);
    assertThat(after).isInstanceOf(Tracked.Claimed.class);
    assertThat(claim.fencingToken()).isPositive();
  }

  @Test
  void prefixIsConfigurable() {
    try (RedisIdempotencyStore custom =
        RedisIdempotencyStore.builder(client).keyPrefix("{billing}:").build()) {
      custom.claim("k1", "fp", LONG, LONG, OrphanPolicy.TAKE_OVER);

      assertThat(probe.sync().exists("{billing}:k1")).isEqualTo(1);
      assertThat(custom.redisKey("k1")).isEqualTo("{billing}:k1");
    }
  }
}
