package dev.shepherd.cache.redis;

import static dev.shepherd.cache.redis.TestCalls.fetchInThread;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.cache.Fetched;
import dev.shepherd.cache.Load;
import dev.shepherd.testing.RedisServer;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The courier's keys in Redis lost (FLUSHALL, a restart without persistence or from an older
 * snapshot, eviction) or overwritten with something else, while members of the cache run. A Redis
 * of its own: the tests flush it.
 */
class LostAndCorruptKeysTest {

  @RegisterExtension @Order(1) static final RedisServer redis = RedisServer.create();
  @RegisterExtension @Order(2) static final RawRedis raw = RawRedis.on(redis);

  private static String name() {
    return "t" + UUID.randomUUID();
  }

  private static String key(String name, String kind, String key) {
    return RedisCourier.DEFAULT_PREFIX + name + ":" + kind + key;
  }

  /**
   * A leader whose lease was lost with the rest of Redis' keys must be refused, even when the
   * lease taken after the loss is numbered from a counter that was lost too: a counter that starts
   * again hands out the lapsed leader's token to the next leader of the key, and the lapsed
   * leader's older value would then be stored, and the new leader's refused.
   */
  @Test
  void aLeaderWhoseLeaseWasLostInAFlushIsRefusedAlthoughTheTokenCounterWasLostToo()
      throws Exception {
    String name = name();
    Duration lease = Duration.ofMinutes(10); // nothing lapses during the test
    try (Member a = Member.join(redis.uri(), name, c -> c.lease(lease), c -> {});
        Member b = Member.join(redis.uri(), name, c -> c.lease(lease), c -> {})) {
      CountDownLatch aStarted = new CountDownLatch(1);
      CountDownLatch aFinish = new CountDownLatch(1);
      CompletableFuture<Fetched<String>> old = fetchInThread(a.cache(), "k", k -> {
        aStarted.countDown();
        aFinish.await();
        return Load.commit("old");
      });
      assertThat(aStarted.await(30, TimeUnit.SECONDS)).isTrue();

      raw.sync().flushall(); // the lease and the token counter are gone

      CountDownLatch bStarted = new CountDownLatch(1);
      CountDownLatch bFinish = new CountDownLatch(1);
      CompletableFuture<Fetched<String>> fresh = fetchInThread(b.cache(), "k", k -> {
        bStarted.countDown();
        bFinish.await();
        return Load.commit("new");
      });
      assertThat(bStarted.await(30, TimeUnit.SECONDS)).as("B leads the key after the flush")
          .isTrue();

      aFinish.countDown();
      assertThat(old.get(30, TimeUnit.SECONDS).value()).as("its own caller").isEqualTo("old");
      await().atMost(30, TimeUnit.SECONDS).until(() -> a.courier().stats().refusedWrites() == 1
          || raw.sync().exists(key(name, "v:", "k")) == 1);
      assertThat(raw.sync().get(key(name, "v:", "k"))).as("A's write after the flush").isNull();
      assertThat(a.courier().stats().refusedWrites()).isEqualTo(1);

      bFinish.countDown();
      assertThat(fresh.get(30, TimeUnit.SECONDS).value()).isEqualTo("new");
      await().atMost(30, TimeUnit.SECONDS).until(() -> raw.sync().exists(key(name, "v:", "k")) == 1);
      assertThat(raw.sync().get(key(name, "v:", "k"))).isEqualTo("Vnew");
      assertThat(b.courier().stats().refusedWrites()).isZero();
    }
  }

  /**
   * A JVM waiting on a lease that a flush took away waits for that lease's result only; the key's
   * next leader's result names another token, and nobody publishes one for the lost lease: the
   * waiting JVM waited until the lease would have lapsed (here ten minutes), far past any load
   * timeout. The lost leader's refused write now tells the waiting JVMs to ask again.
   */
  @Test
  void aJvmWaitingOnALeaseLostInAFlushIsWokenWhenThatLeadersWriteIsRefused() throws Exception {
    String name = name();
    Duration lease = Duration.ofMinutes(10);
    try (Member a = Member.join(redis.uri(), name, c -> c.lease(lease), c -> {});
        Member b = Member.join(redis.uri(), name, c -> c.lease(lease), c -> {});
        Member c = Member.join(redis.uri(), name, x -> x.lease(lease), x -> {})) {
      CountDownLatch aStarted = new CountDownLatch(1);
      CountDownLatch aFinish = new CountDownLatch(1);
      fetchInThread(a.cache(), "k", k -> {
        aStarted.countDown();
        aFinish.await();
        return Load.commit("old");
      });
      assertThat(aStarted.await(30, TimeUnit.SECONDS)).isTrue();
      CompletableFuture<Fetched<String>> waiting =
          fetchInThread(c.cache(), "k", k -> Load.commit("loaded-by-c"));
      await().atMost(30, TimeUnit.SECONDS).until(() -> c.cache().waitingCallers("k") == 1);

      raw.sync().flushall();
      CountDownLatch bStarted = new CountDownLatch(1);
      CountDownLatch bFinish = new CountDownLatch(1);
      fetchInThread(b.cache(), "k", k -> {
        bStarted.countDown();
        bFinish.await();
        return Load.commit("new");
      });
      assertThat(bStarted.await(30, TimeUnit.SECONDS)).isTrue();

      aFinish.countDown();
      await().atMost(30, TimeUnit.SECONDS).until(() -> a.courier().stats().refusedWrites() == 1);
      bFinish.countDown();
      assertThat(waiting.get(30, TimeUnit.SECONDS).value()).isEqualTo("new");
      assertThat(c.courier().stats().leads()).isZero();
    }
  }

  /**
   * A key of the cache's key space that holds another type (another application's hash under the
   * same prefix, a hand-made key) answers Redis' WRONGTYPE error to the scripts. That is a fault of
   * one key, not of Redis: before, every miss of the key made its JVM fall back to local mode, and
   * each return to cluster mode cleared the JVM's whole local storage, once per probe interval for
   * as long as the key stayed. The scripts now take a wrong-typed key as absent and overwrite it,
   * a lease that is not a token as free, and give a lease without an expiry one.
   */
  @Test
  void aWrongTypedKeyInTheCachesKeySpaceIsOverwrittenWithoutLeavingClusterMode() throws Exception {
    String name = name();
    try (Member a = Member.join(redis.uri(), name);
        Member b = Member.join(redis.uri(), name)) {
      assertThat(a.cache().fetch("warm", k -> Load.commit("kept")).value()).isEqualTo("kept");
      raw.sync().hset(key(name, "v:", "value"), "field", "x");
      raw.sync().hset(key(name, "l:", "lease"), "field", "x");

      assertThat(a.cache().fetch("value", k -> Load.commit("loaded")).value()).isEqualTo("loaded");
      assertThat(a.cache().fetch("lease", k -> Load.commit("loaded")).value()).isEqualTo("loaded");
      raw.sync().del(key(name, "", "seq"));
      raw.sync().hset(key(name, "", "seq"), "field", "x");
      assertThat(a.cache().fetch("counter", k -> Load.commit("loaded")).value()).isEqualTo("loaded");

      // A lease that is no token, and one without an expiry (a waiting JVM re-asked every 21 ms
      // for as long as it stayed, and never loaded): taken as free, and given the lease's length.
      raw.sync().set(key(name, "l:", "word"), "not-a-token");
      assertThat(a.cache().fetch("word", k -> Load.commit("loaded")).value()).isEqualTo("loaded");
      raw.sync().set(key(name, "l:", "forever"), "12345");
      assertThat(a.cache().fetchAsync("forever", k -> Load.commit("loaded"))
          .get(30, TimeUnit.SECONDS).value()).isEqualTo("loaded");

      assertThat(a.courier().stats().fallbacks()).as("no fall back").isZero();
      assertThat(a.courier().stats().leads()).as("each loaded for the cluster").isEqualTo(6);
      assertThat(a.courier().stats().takeovers()).as("after the lease without expiry lapsed")
          .isEqualTo(1);
      assertThat(a.courier().stats().localLoads()).isZero();
      assertThat(a.cache().getIfPresent("warm")).as("local storage kept").isEqualTo("kept");
      for (String k : new String[] {"value", "lease", "counter", "word", "forever"}) {
        await().atMost(30, TimeUnit.SECONDS)
            .until(() -> "string".equals(raw.sync().type(key(name, "v:", k)))
                && "Vloaded".equals(raw.sync().get(key(name, "v:", k))));
        assertThat(b.cache().fetch(k, x -> Load.commit("other")))
            .as("from the shared tier").isEqualTo(new Fetched<>("loaded", Fetched.Source.LOADED));
      }
      assertThat(b.courier().stats().sharedAnswers()).isEqualTo(5);
    }
  }

  /**
   * A value in the shared tier that the codec cannot read (corrupt, written by another codec or
   * version, foreign) made each JVM load the key alone at every miss, for as long as the value
   * stayed there (forever without a time to live): nobody took the lease, so nobody replaced it.
   * Now the JVM that cannot read it asks again past it, leads, and its write replaces it.
   */
  @Test
  void aSharedValueThatCannotBeDecodedIsReplacedByOneLoadForTheCluster() throws Exception {
    String name = name();
    try (Member a = Member.join(redis.uri(), name);
        Member b = Member.join(redis.uri(), name)) {
      raw.sync().set(key(name, "v:", "unknown-kind"), "Zgarbage");
      raw.sync().set(key(name, "v:", "short"), "T1234");
      for (String k : new String[] {"unknown-kind", "short"}) {
        assertThat(a.cache().fetch(k, x -> Load.commit("loaded"))).as(k)
            .isEqualTo(new Fetched<>("loaded", Fetched.Source.LOADED));
        await().atMost(30, TimeUnit.SECONDS)
            .until(() -> "Vloaded".equals(raw.sync().get(key(name, "v:", k))));
        assertThat(b.cache().fetch(k, x -> Load.commit("other")).value()).as(k)
            .isEqualTo("loaded");
      }
      assertThat(a.courier().stats().leads()).isEqualTo(2);
      assertThat(a.courier().stats().localLoads()).isZero();
      assertThat(b.courier().stats().sharedAnswers()).isEqualTo(2);
      assertThat(b.courier().stats().localLoads()).isZero();
    }
  }

  /**
   * A value far larger than {@code maxValueBytes} in the shared tier (planted, or stored by a JVM
   * with a larger limit) was read whole from Redis before its size was checked: the bound came
   * after the bytes were in memory. The acquire script now sends no value longer than the
   * courier's largest record, and the leader's write replaces it.
   */
  @Test
  void aSharedValueLargerThanTheLimitIsNeitherReadFromRedisNorKept() throws Exception {
    String name = name();
    int planted = 8 << 20;
    try (Member a = Member.join(redis.uri(), name, c -> c.maxValueBytes(1024), c -> {})) {
      raw.sync().set(key(name, "v:", "huge"), "V" + "x".repeat(planted));
      long before = netOutputBytes();
      assertThat(a.cache().fetch("huge", k -> Load.commit("small")))
          .isEqualTo(new Fetched<>("small", Fetched.Source.LOADED));
      assertThat(netOutputBytes() - before).as("bytes Redis sent meanwhile, to anyone")
          .isLessThan(64 * 1024);
      await().atMost(30, TimeUnit.SECONDS)
          .until(() -> "Vsmall".equals(raw.sync().get(key(name, "v:", "huge"))));
      assertThat(a.courier().stats().leads()).isEqualTo(1);
    }
  }

  private static long netOutputBytes() {
    for (String line : raw.sync().info("stats").split("\r\n")) {
      if (line.startsWith("total_net_output_bytes:")) {
        return Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
      }
    }
    throw new AssertionError("no total_net_output_bytes in INFO stats");
  }
}
