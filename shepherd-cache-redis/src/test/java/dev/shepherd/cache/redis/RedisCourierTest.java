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
import dev.shepherd.cache.FetchTimeoutException;
import dev.shepherd.cache.Fetched;
import dev.shepherd.cache.Load;
import dev.shepherd.cache.LoadFailedException;
import dev.shepherd.testing.FaultProxy;
import dev.shepherd.testing.LogCapture;
import dev.shepherd.testing.RedisServer;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Level;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Two or three members (each a courier and cache of its own, as separate JVMs are) on one real Redis. */
class RedisCourierTest {

  @RegisterExtension @Order(1) static final RedisServer redis = RedisServer.create();
  @RegisterExtension @Order(2) static final RawRedis raw = RawRedis.on(redis);

  private static RedisCommands<String, String> redis() {
    return raw.sync();
  }

  private static String name() {
    return "t" + UUID.randomUUID();
  }

  private static String leaseKey(String name, String key) {
    return RedisCourier.DEFAULT_PREFIX + name + ":l:" + key;
  }

  private static String valueKey(String name, String key) {
    return RedisCourier.DEFAULT_PREFIX + name + ":v:" + key;
  }

  @Test
  void eachWaiterOfAnotherJvmGetsItsOwnLoadFailedExceptionCausedByTheRemoteErrorsClassAndMessage()
      throws Exception {
    String name = name();
    try (Member a = Member.join(redis.uri(), name, c -> {}, c -> c.cacheFailuresFor(Duration.ofMinutes(1)));
        Member b = Member.join(redis.uri(), name, c -> {}, c -> c.cacheFailuresFor(Duration.ofMinutes(1)));
        Member c = Member.join(redis.uri(), name, x -> {}, x -> x.cacheFailuresFor(Duration.ofMinutes(1)))) {
      CountDownLatch started = new CountDownLatch(1);
      CountDownLatch fail = new CountDownLatch(1);
      AtomicInteger runs = new AtomicInteger();
      dev.shepherd.cache.Loader<String, String> loader = k -> {
        runs.incrementAndGet();
        started.countDown();
        fail.await();
        throw new IOException("disk on fire");
      };
      CompletableFuture<Fetched<String>> leader = fetchInThread(a.cache(), "k", loader);
      assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();
      List<CompletableFuture<Fetched<String>>> remote = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        remote.add(fetchInThread(b.cache(), "k", loader));
      }
      await().atMost(30, TimeUnit.SECONDS).until(() -> b.cache().waitingCallers("k") == 3);
      fail.countDown();

      assertThatThrownBy(leader::join).hasCauseInstanceOf(LoadFailedException.class)
          .hasRootCauseInstanceOf(IOException.class);
      List<Throwable> failures = new ArrayList<>();
      for (CompletableFuture<Fetched<String>> f : remote) {
        ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(
            ExecutionException.class, () -> f.get(30, TimeUnit.SECONDS));
        failures.add(e.getCause());
      }
      assertThat(failures).allSatisfy(e -> {
        assertThat(e).isInstanceOf(LoadFailedException.class);
        assertThat(e.getCause()).isInstanceOf(RemoteLoadException.class);
        RemoteLoadException cause = (RemoteLoadException) e.getCause();
        assertThat(cause.remoteClass()).isEqualTo("java.io.IOException");
        assertThat(cause.remoteMessage()).isEqualTo("disk on fire");
        assertThat(e.getStackTrace()).isNotEmpty();
      });
      assertThat(failures).doesNotHaveDuplicates(); // one exception per waiter
      assertThat(runs).hasValue(1);

      // cacheFailuresFor applies across the cluster: a third JVM gets the failure without loading.
      assertThatThrownBy(() -> c.cache().fetch("k", loader))
          .isInstanceOf(LoadFailedException.class)
          .hasCauseInstanceOf(RemoteLoadException.class);
      assertThat(runs).hasValue(1);
      assertThat(b.courier().stats().sharedAnswers()).isEqualTo(1);
    }
  }

  /**
   * A loader error's message went to Redis and to every JVM of the cache, whatever it held (SQL,
   * URLs, ids). With {@code shareFailureMessages(false)} only its class leaves the JVM.
   */
  @Test
  void withFailureMessagesNotSharedOnlyTheErrorsClassLeavesTheJvm() throws Exception {
    String name = name();
    try (Member a = Member.join(redis.uri(), name, c -> c.shareFailureMessages(false),
            c -> c.cacheFailuresFor(Duration.ofMinutes(1)));
        Member b = Member.join(redis.uri(), name, c -> {},
            c -> c.cacheFailuresFor(Duration.ofMinutes(1)))) {
      assertThatThrownBy(() -> a.cache().fetch("k", k -> {
        throw new IOException("password=hunter2 at db.internal");
      })).isInstanceOf(LoadFailedException.class).hasRootCauseMessage("password=hunter2 at db.internal");
      await().atMost(30, TimeUnit.SECONDS).until(() -> redis().exists(valueKey(name, "k")) == 1);
      assertThat(redis().get(valueKey(name, "k"))).isEqualTo("Fjava.io.IOException\n");

      Throwable remote = org.junit.jupiter.api.Assertions.assertThrows(LoadFailedException.class,
          () -> b.cache().fetch("k", k -> Load.commit("unused"))).getCause();
      assertThat(remote).isInstanceOf(RemoteLoadException.class);
      assertThat(((RemoteLoadException) remote).remoteClass()).isEqualTo("java.io.IOException");
      assertThat(((RemoteLoadException) remote).remoteMessage()).isEmpty();
    }
  }

  @Test
  void aLiveLeaderRenewsItsLeaseSoALoaderLongerThanTheLeaseIsNotTakenOver() throws Exception {
    String name = name();
    try (Member a = Member.join(redis.uri(), name);
        Member b = Member.join(redis.uri(), name)) {
      CountDownLatch started = new CountDownLatch(1);
      CountDownLatch finish = new CountDownLatch(1);
      CompletableFuture<Fetched<String>> first = fetchInThread(a.cache(), "k", k -> {
        started.countDown();
        finish.await();
        return Load.commit("from-a");
      });
      assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();
      CompletableFuture<Fetched<String>> second = fetchInThread(b.cache(), "k", k -> Load.commit("from-b"));
      await().atMost(30, TimeUnit.SECONDS).until(() -> b.cache().waitingCallers("k") == 1);

      // The lease is 1 s: held for three times that, it must have been renewed.
      String token = redis().get(leaseKey(name, "k"));
      await().during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(30))
          .until(() -> token.equals(redis().get(leaseKey(name, "k"))));
      assertThat(second).isNotDone();
      finish.countDown();

      assertThat(first.get(30, TimeUnit.SECONDS).value()).isEqualTo("from-a");
      assertThat(second.get(30, TimeUnit.SECONDS).value()).isEqualTo("from-a");
      assertThat(b.courier().stats().leads()).isZero();
      assertThat(b.courier().stats().takeovers()).isZero();
    }
  }

  /**
   * One renewal that Redis answers too late (a slow moment) made the leader stop renewing for the
   * rest of its load: its lease lapsed one lease length later although Redis was back long before,
   * and a waiting JVM loaded the key a second time.
   */
  @Test
  void aLeaderKeepsRenewingAfterOneRenewalWasLateSoItsLoadIsNotTakenOver() throws Exception {
    String name = name();
    Duration lease = Duration.ofSeconds(3); // renewed every second
    try (FaultProxy proxy = FaultProxy.to(redis.port());
        Member a = Member.join("redis://127.0.0.1:" + proxy.port(), name,
            c -> c.lease(lease).commandTimeout(Duration.ofMillis(300)), c -> {});
        Member b = Member.join(redis.uri(), name, c -> c.lease(lease), c -> {})) {
      CountDownLatch finish = new CountDownLatch(1);
      AtomicInteger runs = new AtomicInteger();
      CompletableFuture<Fetched<String>> waiter = waitOnLeader(a, b, "k", "from-a", finish, runs);
      String token = redis().get(leaseKey(name, "k"));

      // The leader's next renewal waits in the proxy past its command timeout: A falls back.
      proxy.stopForwarding();
      await().atMost(30, TimeUnit.SECONDS).until(() -> a.courier().stats().fallbacks() == 1);
      proxy.restore();
      await().atMost(30, TimeUnit.SECONDS).until(() -> a.courier().isClustered());

      // A renewal after the late one: the lease's time left goes up again, under A's token (or,
      // without renewals, the lease lapses and B takes the key with another token).
      long left = redis().pttl(leaseKey(name, "k"));
      await().atMost(30, TimeUnit.SECONDS).until(() -> {
        String now = redis().get(leaseKey(name, "k"));
        return !token.equals(now) || redis().pttl(leaseKey(name, "k")) > left;
      });
      assertThat(redis().get(leaseKey(name, "k"))).as("A's lease, renewed").isEqualTo(token);

      finish.countDown();
      assertThat(waiter.get(30, TimeUnit.SECONDS).value()).isEqualTo("from-a");
      assertThat(runs).as("one load for the cluster").hasValue(1);
      assertThat(b.courier().stats().leads()).isZero();
    }
  }

  @Test
  void aLateWriteFromALeaderWhoseLeaseLapsedIsRefusedByItsFencingToken() throws Exception {
    String name = name();
    try (FaultProxy proxy = FaultProxy.to(redis.port());
        Member a = Member.join("redis://127.0.0.1:" + proxy.port(), name);
        Member b = Member.join(redis.uri(), name)) {
      CountDownLatch started = new CountDownLatch(1);
      CountDownLatch finish = new CountDownLatch(1);
      CompletableFuture<Fetched<String>> stale = fetchInThread(a.cache(), "k", k -> {
        started.countDown();
        finish.await();
        return Load.commit("stale");
      });
      assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();
      String firstToken = redis().get(leaseKey(name, "k"));
      assertThat(firstToken).isNotNull();

      // A is cut off from Redis while its loader runs (a partition or a long pause): it cannot
      // renew, its lease lapses, and B takes the key with a new token.
      proxy.stopForwarding();
      await().atMost(30, TimeUnit.SECONDS).until(() -> redis().exists(leaseKey(name, "k")) == 0);
      Fetched<String> fresh = b.cache().fetch("k", k -> Load.commit("fresh"));
      assertThat(fresh).isEqualTo(new Fetched<>("fresh", Fetched.Source.LOADED));

      proxy.restore();
      await().atMost(30, TimeUnit.SECONDS).until(() -> a.courier().isClustered());
      finish.countDown();
      assertThat(stale.get(30, TimeUnit.SECONDS).value()).isEqualTo("stale"); // its own caller
      await().atMost(30, TimeUnit.SECONDS).until(() -> a.courier().stats().refusedWrites() == 1);
      assertThat(redis().get(valueKey(name, "k"))).isEqualTo("Vfresh");
      assertThat(a.courier().stats().fallbacks()).isEqualTo(1);
    }
  }

  @Test
  void withRedisSlowAJvmFallsBackToLocalLoadsKeepsPerWaiterTimeoutsAndCancellationAndReturns()
      throws Exception {
    String name = name();
    try (FaultProxy proxy = FaultProxy.to(redis.port());
        Member a = Member.join("redis://127.0.0.1:" + proxy.port(), name,
            c -> c.commandTimeout(Duration.ofMillis(300)), c -> c.cancelWhenAbandoned(true));
        Member b = Member.join(redis.uri(), name)) {
      LogCapture log = LogCapture.of(RedisCourier.class);
      proxy.delay(Duration.ofSeconds(3));

      Fetched<String> local = a.cache().fetch("slow", k -> Load.commit("loaded-here"));
      assertThat(local).isEqualTo(new Fetched<>("loaded-here", Fetched.Source.LOADED));
      assertThat(a.courier().isClustered()).isFalse();
      assertThat(a.courier().stats().fallbacks()).isEqualTo(1);
      assertThat(a.courier().stats().localLoads()).isEqualTo(1);

      CountDownLatch never = new CountDownLatch(1);
      CountDownLatch interrupted = new CountDownLatch(1);
      assertThatThrownBy(() -> a.cache().fetch("stuck", k -> {
        try {
          never.await();
        } catch (InterruptedException e) {
          interrupted.countDown();
          throw e;
        }
        return Load.commit("never");
      }, Duration.ofMillis(200))).isInstanceOf(FetchTimeoutException.class);
      // cancelWhenAbandoned: the last waiter left, so the local loader was interrupted.
      assertThat(interrupted.await(30, TimeUnit.SECONDS)).isTrue();

      assertThat(a.cache().fetch("slow-2", k -> Load.commit("also-here")).value()).isEqualTo("also-here");
      List<String> warnings = log.messagesAt(Level.WARNING);
      log.close();
      assertThat(warnings).as("one warning for the outage, however many commands failed")
          .hasSize(1).allSatisfy(m -> assertThat(m).contains("unreachable or slow"));

      proxy.restore();
      await().atMost(30, TimeUnit.SECONDS).until(() -> a.courier().isClustered());
      assertThat(a.cache().fetch("back", k -> Load.commit("one")).value()).isEqualTo("one");
      assertThat(b.cache().fetch("back", k -> Load.commit("two")).value())
          .as("loaded once for the cluster again").isEqualTo("one");
    }
  }

  @Test
  void aLeaderWhoseCallersAllLeftWithCancelWhenAbandonedHandsTheLoadToAWaitingJvm()
      throws Exception {
    String name = name();
    // A lease far longer than the waits below: B can only load this soon if A gives the lease back.
    Duration lease = Duration.ofMinutes(5);
    try (Member a = Member.join(redis.uri(), name, c -> c.lease(lease), c -> c.cancelWhenAbandoned(true));
        Member b = Member.join(redis.uri(), name, c -> c.lease(lease), c -> {})) {
      CountDownLatch started = new CountDownLatch(1);
      CountDownLatch interrupted = new CountDownLatch(1);
      CompletableFuture<Fetched<String>> onlyCaller = a.cache().fetchAsync("k", k -> {
        started.countDown();
        try {
          new CountDownLatch(1).await();
        } catch (InterruptedException e) {
          interrupted.countDown();
          throw e;
        }
        return Load.commit("never");
      });
      assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();
      CompletableFuture<Fetched<String>> waiting = fetchInThread(b.cache(), "k", k -> Load.commit("from-b"));
      await().atMost(30, TimeUnit.SECONDS).until(() -> b.cache().waitingCallers("k") == 1);

      onlyCaller.cancel(false); // A's last caller leaves: A's loader is interrupted ...
      assertThat(interrupted.await(30, TimeUnit.SECONDS)).isTrue();
      // ... and its lease given back, so B loads now instead of when the lease would lapse.
      assertThat(waiting.get(30, TimeUnit.SECONDS)).isEqualTo(new Fetched<>("from-b", Fetched.Source.LOADED));
      assertThat(b.courier().stats().takeovers()).isEqualTo(1);
      assertThat(a.courier().stats().refusedWrites()).isZero();
    }
  }

  @Test
  void aCacheBuiltWhileRedisIsUnreachableAnswersLocallyAndJoinsTheClusterLater() throws Exception {
    String name = name();
    try (FaultProxy proxy = FaultProxy.to(redis.port());
        Member b = Member.join(redis.uri(), name)) {
      proxy.refuseConnections();
      RedisClient client = RedisClient.create("redis://127.0.0.1:" + proxy.port());
      try (RedisCourier<String, String> courier =
          RedisCourier.builder(client, KeyCodec.string(), ValueCodec.string())
              .name(name).probeInterval(Duration.ofMillis(100)).build()) {
        CoalescingCache<String, String> cache =
            CoalescingCache.<String, String>builder().courier(courier).build();
        assertThat(cache.fetch("k", k -> Load.commit("local")).value()).isEqualTo("local");
        assertThat(courier.isClustered()).isFalse();
        assertThat(courier.stats().localLoads()).isEqualTo(1);

        proxy.restore();
        await().atMost(60, TimeUnit.SECONDS).until(courier::isClustered);
        // Joining cleared what was loaded alone; the key now comes from the cluster.
        assertThat(b.cache().fetch("k", k -> Load.commit("shared")).value()).isEqualTo("shared");
        assertThat(cache.fetch("k", k -> Load.commit("other")).value()).isEqualTo("shared");
      } finally {
        client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
      }
    }
  }

  @Test
  void aLocalHitSendsNothingToRedis() throws Exception {
    String name = name();
    try (Member a = Member.join(redis.uri(), name)) {
      Fetched<String> loaded = a.cache().fetch("hot", k -> Load.commit("v"));
      assertThat(loaded.source()).isEqualTo(Fetched.Source.LOADED);
      // The leader answers its callers while its fenced write travels: let the write land (its
      // script stores the value and ends the lease in one step) before counting commands.
      await().atMost(30, TimeUnit.SECONDS).until(() -> redis().exists(valueKey(name, "hot")) == 1
          && redis().exists(leaseKey(name, "hot")) == 0);
      long idle = processed() - processed(); // INFO itself, measured the same way
      long before = processed();
      for (int i = 0; i < 10_000; i++) {
        assertThat(a.cache().fetch("hot", k -> Load.commit("other")).source())
            .isEqualTo(Fetched.Source.HIT);
      }
      long during = processed() - before;
      assertThat(during).isEqualTo(-idle);
      // Stored as its hit answer, as a local-only cache stores it: a hit allocates nothing.
      assertThat(a.cache().fetch("hot", k -> Load.commit("other")))
          .isSameAs(a.cache().fetch("hot", k -> Load.commit("other")));
    }
  }

  private static long processed() {
    String info = redis().info("stats");
    for (String line : info.split("\r\n")) {
      if (line.startsWith("total_commands_processed:")) {
        return Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
      }
    }
    throw new AssertionError("no total_commands_processed in INFO: " + info);
  }

  @Test
  void anInvalidationDuringAClusterLoadKeepsItsResultOutOfEveryJvmAndTheSharedTier()
      throws Exception {
    String name = name();
    try (Member a = Member.join(redis.uri(), name);
        Member b = Member.join(redis.uri(), name)) {
      CountDownLatch started = new CountDownLatch(1);
      CountDownLatch finish = new CountDownLatch(1);
      CompletableFuture<Fetched<String>> old = fetchInThread(a.cache(), "k", k -> {
        started.countDown();
        finish.await();
        return Load.commit("old");
      });
      assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();

      b.cache().invalidate("k"); // the source changed after A's loader read it
      await().atMost(30, TimeUnit.SECONDS).until(() -> a.courier().stats().invalidationsReceived() == 1);
      Fetched<String> fresh = b.cache().fetch("k", k -> Load.commit("new"));
      assertThat(fresh).isEqualTo(new Fetched<>("new", Fetched.Source.LOADED));

      finish.countDown();
      assertThat(old.get(30, TimeUnit.SECONDS).value()).as("its waiter still gets it").isEqualTo("old");
      await().atMost(30, TimeUnit.SECONDS).until(() -> a.courier().stats().refusedWrites() == 1);
      assertThat(redis().get(valueKey(name, "k"))).isEqualTo("Vnew");
      assertThat(a.cache().getIfPresent("k")).isNull();
      assertThat(a.cache().fetch("k", k -> Load.commit("third")).value()).isEqualTo("new");
    }
  }

  /**
   * Write-through in cluster mode: the application writes the source and puts the new value in
   * one JVM. The older value must leave the shared tier and the other JVMs, or they (and this JVM
   * after an eviction) keep answering it.
   */
  @Test
  void aPutInOneJvmTakesTheOlderValueOutOfTheSharedTierAndTheOtherJvms() throws Exception {
    String name = name();
    try (Member a = Member.join(redis.uri(), name);
        Member b = Member.join(redis.uri(), name)) {
      assertThat(a.cache().fetch("k", k -> Load.commit("old")).value()).isEqualTo("old");
      assertThat(b.cache().fetch("k", k -> Load.commit("unused")).value())
          .as("from the shared tier").isEqualTo("old");
      assertThat(redis().get(valueKey(name, "k"))).isEqualTo("Vold");

      a.cache().put("k", "new");

      assertThat(redis().get(valueKey(name, "k"))).as("the shared tier's older value").isNull();
      await().atMost(30, TimeUnit.SECONDS).until(() -> b.cache().getIfPresent("k") == null);
      assertThat(a.cache().getIfPresent("k")).as("the value put stays where it was put")
          .isEqualTo("new");
      assertThat(b.cache().fetch("k", k -> Load.commit("new")))
          .isEqualTo(new Fetched<>("new", Fetched.Source.LOADED));
      try (Member c = Member.join(redis.uri(), name)) {
        assertThat(c.cache().fetch("k", k -> Load.commit("unused")).value()).isEqualTo("new");
      }
    }
  }

  /**
   * A JVM that took a value from the shared tier kept it for its whole time to live from then,
   * however long the value had already been there: a value loaded once could be answered for
   * nearly twice the time to live. It keeps it for what is left of it in the shared tier now.
   */
  @Test
  void aValueTakenFromTheSharedTierIsKeptOnlyForWhatIsLeftOfItsTimeToLive() throws Exception {
    String name = name();
    dev.shepherd.testing.FakeTicker ticker = new dev.shepherd.testing.FakeTicker();
    try (Member a = Member.join(redis.uri(), name, c -> {}, c -> c.timeToLive(Duration.ofMinutes(5)));
        Member b = Member.join(redis.uri(), name, c -> {},
            c -> c.timeToLive(Duration.ofMinutes(5)).ticker(ticker))) {
      assertThat(a.cache().fetch("k", k -> Load.commit("v")).value()).isEqualTo("v");
      await().atMost(30, TimeUnit.SECONDS).until(() -> redis().exists(valueKey(name, "k")) == 1);
      assertThat(redis().pttl(valueKey(name, "k"))).as("kept for the cache's time to live")
          .isBetween(1L, Duration.ofMinutes(5).toMillis());
      redis().pexpire(valueKey(name, "k"), Duration.ofMinutes(1).toMillis()); // four minutes on

      assertThat(b.cache().fetch("k", k -> Load.commit("other")).value()).isEqualTo("v");
      assertThat(b.courier().stats().sharedAnswers()).isEqualTo(1);
      ticker.advance(Duration.ofMinutes(2));
      assertThat(b.cache().getIfPresent("k")).as("past what was left of it").isNull();
    }
  }

  /**
   * Text with an unpaired surrogate has no UTF-8 form: its bytes in Redis and in messages had a
   * '?' in its place, so two such keys named one Redis key, and the second was answered the
   * first's value (and an invalidation of one reached the other JVMs as a third key). Such a key
   * now fails its load, and its invalidation, with an error that says why.
   */
  @Test
  void keysWhoseTextHasNoUtf8FormAreRefusedInsteadOfAnsweringAnotherKeysValue() throws Exception {
    String name = name();
    String one = "x\uD800";
    String other = "x\uDBFF";
    try (Member a = Member.join(redis.uri(), name);
        Member b = Member.join(redis.uri(), name)) {
      assertThatThrownBy(() -> a.cache().fetch(one, k -> Load.commit("one")))
          .isInstanceOf(LoadFailedException.class)
          .hasRootCauseInstanceOf(IllegalArgumentException.class)
          .hasStackTraceContaining("unpaired surrogate at index 1");
      assertThatThrownBy(() -> b.cache().fetch(other, k -> Load.commit("other")))
          .isInstanceOf(LoadFailedException.class)
          .hasRootCauseInstanceOf(IllegalArgumentException.class);
      assertThat(redis().exists(valueKey(name, "x?"))).isZero();
      assertThatThrownBy(() -> a.cache().invalidate(one))
          .isInstanceOf(IllegalArgumentException.class);
      assertThat(a.cache().fetch("x\uD83D\uDE00", k -> Load.commit("paired")).value())
          .as("a surrogate pair is fine").isEqualTo("paired");
      assertThat(a.courier().stats().fallbacks()).isZero();
    }
  }

  /** README: {@code Load.ignore} is shared with the waiting JVMs but stored nowhere. */
  @Test
  void anIgnoredValueAnswersTheWaitingJvmsAndIsStoredNowhere() throws Exception {
    String name = name();
    try (Member a = Member.join(redis.uri(), name, c -> c.lease(Duration.ofSeconds(60)), c -> {});
        Member b = Member.join(redis.uri(), name, c -> c.lease(Duration.ofSeconds(60)), c -> {})) {
      CountDownLatch started = new CountDownLatch(1);
      CountDownLatch finish = new CountDownLatch(1);
      CompletableFuture<Fetched<String>> leader = fetchInThread(a.cache(), "k", k -> {
        started.countDown();
        finish.await();
        return Load.ignore("transient");
      });
      assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();
      CompletableFuture<Fetched<String>> waiter =
          fetchInThread(b.cache(), "k", k -> Load.commit("loaded-by-b"));
      await().atMost(30, TimeUnit.SECONDS).until(() -> b.cache().waitingCallers("k") == 1);
      finish.countDown();

      assertThat(leader.get(30, TimeUnit.SECONDS).value()).isEqualTo("transient");
      assertThat(waiter.get(30, TimeUnit.SECONDS).value()).isEqualTo("transient");
      await().atMost(30, TimeUnit.SECONDS).until(() -> redis().exists(leaseKey(name, "k")) == 0);
      assertThat(redis().exists(valueKey(name, "k"))).isZero();
      assertThat(a.cache().getIfPresent("k")).isNull();
      assertThat(b.cache().getIfPresent("k")).isNull();
    }
  }

  /**
   * README: the caller that started a JVM's job is answered {@code LOADED} even when the value
   * came from another JVM, the others {@code JOINED}; a caller's own timeout ends its wait only.
   */
  @Test
  void callersWaitingOnAnotherJvmGetLoadedOrJoinedAndTheirOwnTimeouts() throws Exception {
    String name = name();
    try (Member a = Member.join(redis.uri(), name, c -> c.lease(Duration.ofSeconds(60)), c -> {});
        Member b = Member.join(redis.uri(), name, c -> c.lease(Duration.ofSeconds(60)), c -> {})) {
      CountDownLatch finish = new CountDownLatch(1);
      AtomicInteger runs = new AtomicInteger();
      CompletableFuture<Fetched<String>> first = waitOnLeader(a, b, "k", "from-a", finish, runs);
      CompletableFuture<Fetched<String>> second =
          fetchInThread(b.cache(), "k", k -> Load.commit("loaded-by-b"));
      await().atMost(30, TimeUnit.SECONDS).until(() -> b.cache().waitingCallers("k") == 2);
      assertThatThrownBy(() -> b.cache().fetch("k", k -> Load.commit("x"), Duration.ofMillis(100)))
          .isInstanceOf(FetchTimeoutException.class);
      assertThat(first).isNotDone();
      finish.countDown();

      assertThat(first.get(30, TimeUnit.SECONDS))
          .isEqualTo(new Fetched<>("from-a", Fetched.Source.LOADED));
      assertThat(second.get(30, TimeUnit.SECONDS))
          .isEqualTo(new Fetched<>("from-a", Fetched.Source.JOINED));
      assertThat(runs).hasValue(1);
      assertThat(b.courier().stats().sharedAnswers()).isEqualTo(1);
    }
  }

  /**
   * README: {@code cancelWhenAbandoned} works in both modes. A JVM whose only caller of a key
   * waiting on another JVM's lease leaves abandons its job there; the leader's load goes on, and
   * the next caller in that JVM takes the leader's value.
   */
  @Test
  void aCallerLeavingAJobThatWaitsOnAnotherJvmAbandonsItThereOnly() throws Exception {
    String name = name();
    try (Member a = Member.join(redis.uri(), name, c -> c.lease(Duration.ofSeconds(60)), c -> {});
        Member b = Member.join(redis.uri(), name, c -> c.lease(Duration.ofSeconds(60)),
            c -> c.cancelWhenAbandoned(true))) {
      CountDownLatch started = new CountDownLatch(1);
      CountDownLatch finish = new CountDownLatch(1);
      AtomicInteger runs = new AtomicInteger();
      CompletableFuture<Fetched<String>> leader = fetchInThread(a.cache(), "k", k -> {
        runs.incrementAndGet();
        started.countDown();
        finish.await();
        return Load.commit("from-a");
      });
      assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();
      CompletableFuture<Fetched<String>> leaving = b.cache().fetchAsync("k", k -> {
        runs.incrementAndGet();
        return Load.commit("loaded-by-b");
      });
      await().atMost(30, TimeUnit.SECONDS).until(() -> b.cache().waitingCallers("k") == 1);
      leaving.cancel(false);
      await().atMost(30, TimeUnit.SECONDS).until(() -> b.cache().waitingCallers("k") == 0);

      finish.countDown();
      assertThat(leader.get(30, TimeUnit.SECONDS).value()).isEqualTo("from-a");
      await().atMost(30, TimeUnit.SECONDS).until(() -> redis().exists(valueKey(name, "k")) == 1);
      assertThat(b.cache().fetch("k", k -> Load.commit("loaded-by-b")).value()).isEqualTo("from-a");
      assertThat(runs).hasValue(1);
      assertThat(b.courier().stats().leads()).isZero();
    }
  }

  /**
   * Every receiver drops a message whose key is longer than 64 KiB, but senders sent them: such a
   * key loaded for the cluster, and its invalidation never left the JVM that made it, so the other
   * JVMs kept the old value. Such a key is now refused, as a key with no UTF-8 form is.
   */
  @Test
  void keysLongerThanAMessageCanCarryAreRefused() throws Exception {
    String name = name();
    String huge = "k".repeat(64 * 1024 + 1);
    try (Member a = Member.join(redis.uri(), name)) {
      assertThatThrownBy(() -> a.cache().fetch(huge, k -> Load.commit("v")))
          .isInstanceOf(LoadFailedException.class)
          .hasRootCauseInstanceOf(IllegalArgumentException.class)
          .hasStackTraceContaining("65537 bytes");
      assertThatThrownBy(() -> a.cache().invalidate(huge))
          .isInstanceOf(IllegalArgumentException.class);
      String largest = "k".repeat(64 * 1024);
      assertThat(a.cache().fetch(largest, k -> Load.commit("v")).value()).isEqualTo("v");
    }
  }

  /**
   * The name was put in the keys as it is, so cache {@code a}'s key {@code v:x} and cache
   * {@code a:v}'s key {@code x} were one Redis key (one cache answered the other's value), and
   * {@code a}'s invalidateAll, scanning {@code a:v:*}, emptied cache {@code a:v}. A ':' (and '%')
   * in the name is escaped now.
   */
  @Test
  void cachesWhoseNamesExtendEachOtherShareNoKey() throws Exception {
    String base = name();
    try (Member a = Member.join(redis.uri(), base);
        Member av = Member.join(redis.uri(), base + ":v")) {
      assertThat(av.cache().fetch("x", k -> Load.commit("of-a:v")).value()).isEqualTo("of-a:v");
      await().atMost(30, TimeUnit.SECONDS)
          .until(() -> redis().keys(RedisCourier.DEFAULT_PREFIX + base + "*x").size() == 1);
      String avKey = redis().keys(RedisCourier.DEFAULT_PREFIX + base + "*x").get(0);

      assertThat(a.cache().fetch("v:x", k -> Load.commit("of-a")).value())
          .as("not the other cache's value").isEqualTo("of-a");
      a.cache().invalidateAll();
      assertThat(redis().exists(avKey)).as("the other cache's value, after invalidateAll")
          .isEqualTo(1);
    }
  }

  @Test
  void aValueTooLargeForTheSharedTierIsLoadedByEachWaitingJvmItself() throws Exception {
    String name = name();
    try (Member a = Member.join(redis.uri(), name, c -> c.maxValueBytes(16), c -> {});
        Member b = Member.join(redis.uri(), name, c -> c.maxValueBytes(16), c -> {})) {
      CountDownLatch started = new CountDownLatch(1);
      CountDownLatch finish = new CountDownLatch(1);
      AtomicInteger runs = new AtomicInteger();
      String big = "x".repeat(100);
      CompletableFuture<Fetched<String>> first = fetchInThread(a.cache(), "big", k -> {
        runs.incrementAndGet();
        started.countDown();
        finish.await();
        return Load.commit(big);
      });
      assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();
      CompletableFuture<Fetched<String>> second = fetchInThread(b.cache(), "big", k -> {
        runs.incrementAndGet();
        return Load.commit(big);
      });
      await().atMost(30, TimeUnit.SECONDS).until(() -> b.cache().waitingCallers("big") == 1);
      finish.countDown();
      assertThat(first.get(30, TimeUnit.SECONDS).value()).isEqualTo(big);
      assertThat(second.get(30, TimeUnit.SECONDS).value()).isEqualTo(big);
      assertThat(runs).hasValue(2);
      assertThat(a.courier().stats().notShared()).isEqualTo(1);
      assertThat(redis().exists(valueKey(name, "big"))).isZero();
    }
  }

  /** How many times Redis ran {@code command} (scripts' own calls included) since the last reset. */
  private static long calls(String command) {
    String info = redis().info("commandstats");
    String prefix = "cmdstat_" + command + ":calls=";
    for (String line : info.split("\r\n")) {
      if (line.startsWith(prefix)) {
        return Long.parseLong(line.substring(prefix.length(), line.indexOf(',')));
      }
    }
    return 0L;
  }

  @Test
  void aSmallValueReachesTheWaitingJvmInsideTheResultMessageWithNoFurtherCommand() throws Exception {
    String name = name();
    // A long lease: no renewal or re-check runs during the test, so every command is counted.
    try (Member a = Member.join(redis.uri(), name, c -> c.lease(Duration.ofSeconds(60)), c -> {});
        Member b = Member.join(redis.uri(), name, c -> c.lease(Duration.ofSeconds(60)), c -> {})) {
      CountDownLatch finish = new CountDownLatch(1);
      AtomicInteger runs = new AtomicInteger();
      redis().configResetstat();
      CompletableFuture<Fetched<String>> waiter = waitOnLeader(a, b, "k", "small", finish, runs);
      await().atMost(30, TimeUnit.SECONDS).until(() -> calls("evalsha") == 2); // both asked
      redis().configResetstat();
      finish.countDown();

      assertThat(waiter.get(30, TimeUnit.SECONDS).value()).isEqualTo("small");
      assertThat(runs).hasValue(1);
      assertThat(b.courier().stats().sharedAnswers()).isEqualTo(1);
      // The leader's fenced write (its script reads the lease: one GET) and nothing from B.
      assertThat(calls("evalsha")).isEqualTo(1);
      assertThat(calls("get")).isEqualTo(1);
      assertThat(calls("publish")).isEqualTo(1);
    }
  }

  @Test
  void aValueAboveTheMessageLimitIsStoredAndEachWaitingJvmReadsItFromTheSharedTier()
      throws Exception {
    String name = name();
    try (Member a = Member.join(redis.uri(), name,
            c -> c.lease(Duration.ofSeconds(60)).maxMessageValueBytes(8), c -> {});
        Member b = Member.join(redis.uri(), name,
            c -> c.lease(Duration.ofSeconds(60)).maxMessageValueBytes(8), c -> {})) {
      String big = "x".repeat(100);
      CountDownLatch finish = new CountDownLatch(1);
      AtomicInteger runs = new AtomicInteger();
      redis().configResetstat();
      CompletableFuture<Fetched<String>> waiter = waitOnLeader(a, b, "big", big, finish, runs);
      await().atMost(30, TimeUnit.SECONDS).until(() -> calls("evalsha") == 2); // both asked
      redis().configResetstat();
      finish.countDown();

      assertThat(waiter.get(30, TimeUnit.SECONDS).value()).isEqualTo(big);
      assertThat(runs).hasValue(1);
      assertThat(b.courier().stats().sharedAnswers()).isEqualTo(1);
      assertThat(b.courier().stats().notShared()).isZero();
      // The leader's write, then B's read of the shared tier (its acquire script finds the value).
      assertThat(calls("evalsha")).isEqualTo(2);
      assertThat(calls("get")).isEqualTo(2);
      assertThat(redis().get(valueKey(name, "big"))).isEqualTo("V" + big);
    }
  }

  @Test
  void theLeaderAnswersItsOwnCallersWhileItsFencedWriteTravels() throws Exception {
    String name = name();
    // No renewal and no command timeout while the proxy holds A's bytes: nothing else can answer.
    try (FaultProxy proxy = FaultProxy.to(redis.port());
        Member a = Member.join("redis://127.0.0.1:" + proxy.port(), name,
            c -> c.lease(Duration.ofSeconds(60)).commandTimeout(Duration.ofSeconds(60)), c -> {});
        Member b = Member.join(redis.uri(), name, c -> c.lease(Duration.ofSeconds(60)), c -> {})) {
      CountDownLatch started = new CountDownLatch(1);
      CountDownLatch bWaits = new CountDownLatch(1);
      AtomicInteger runs = new AtomicInteger();
      CompletableFuture<Fetched<String>> leader = fetchInThread(a.cache(), "k", k -> {
        runs.incrementAndGet();
        started.countDown();
        bWaits.await();
        proxy.stopForwarding(); // the fenced write about to be sent stays in the proxy
        return Load.commit("v");
      });
      assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();
      CompletableFuture<Fetched<String>> waiter = fetchInThread(b.cache(), "k", k -> {
        runs.incrementAndGet();
        return Load.commit("loaded-by-b");
      });
      await().atMost(30, TimeUnit.SECONDS).until(() -> b.cache().waitingCallers("k") == 1);
      bWaits.countDown();

      assertThat(leader.get(30, TimeUnit.SECONDS).value()).isEqualTo("v");
      assertThat(redis().exists(valueKey(name, "k"))).as("the write is still held").isZero();
      assertThat(waiter).isNotDone();

      proxy.restore(); // held bytes are delivered: the write lands, B is answered from its message
      assertThat(waiter.get(30, TimeUnit.SECONDS).value()).isEqualTo("v");
      assertThat(redis().get(valueKey(name, "k"))).isEqualTo("Vv");
      assertThat(runs).hasValue(1);
      assertThat(a.courier().stats().fallbacks()).isZero();
      assertThat(a.courier().stats().refusedWrites()).isZero();
    }
  }

  @Test
  void aResultMessageNamingAnotherLeaseInstallsNothing() throws Exception {
    String name = name();
    try (Member a = Member.join(redis.uri(), name, c -> c.lease(Duration.ofSeconds(60)), c -> {});
        Member b = Member.join(redis.uri(), name, c -> c.lease(Duration.ofSeconds(60)), c -> {});
        StatefulRedisConnection<byte[], byte[]> bytes = raw.client().connect(ByteArrayCodec.INSTANCE)) {
      CountDownLatch finish = new CountDownLatch(1);
      AtomicInteger runs = new AtomicInteger();
      CompletableFuture<Fetched<String>> waiter = waitOnLeader(a, b, "k", "real", finish, runs);
      long token = Long.parseLong(redis().get(leaseKey(name, "k")));

      // A stale result (the lease before) and a forged one (a lease nobody holds), then an
      // invalidation of another key: messages are handled in order, so once B counted that
      // invalidation it has handled both results.
      byte[] channel = channel(name);
      bytes.sync().publish(channel, message('R', "k", token - 1, "Vstale"));
      bytes.sync().publish(channel, message('R', "k", token + 1, "Vforged"));
      bytes.sync().publish(channel, message('I', "other", -1, ""));
      await().atMost(30, TimeUnit.SECONDS).until(() -> b.courier().stats().invalidationsReceived() == 1);
      assertThat(waiter).isNotDone();
      assertThat(b.cache().getIfPresent("k")).isNull();

      finish.countDown();
      assertThat(waiter.get(30, TimeUnit.SECONDS).value()).isEqualTo("real");
      assertThat(b.cache().getIfPresent("k")).isEqualTo("real");
      assertThat(runs).hasValue(1);
    }
  }

  @Test
  void bytesFromRedisAreBoundedBeforeTheyAreTrusted() throws Exception {
    String name = name();
    try (Member a = Member.join(redis.uri(), name);
        Member b = Member.join(redis.uri(), name, c -> c.maxValueBytes(16), c -> {})) {
      String big = "y".repeat(100);
      assertThat(a.cache().fetch("big", k -> Load.commit(big)).value()).isEqualTo(big);
      // B's limit is smaller than what A stored: B does not read it, it loads the key (and
      // replaces it: LostAndCorruptKeysTest).
      assertThat(b.cache().fetch("big", k -> Load.commit("b-loaded")).value()).isEqualTo("b-loaded");

      // Garbage on the channel (short, a lying key length, an unknown kind) is ignored.
      String channel = RedisCourier.DEFAULT_PREFIX + name + ":events";
      redis().publish(channel, "R");
      redis().publish(channel, "R12345678" + "\u007f\u007f\u007f\u007f" + "k");
      redis().publish(channel, "Z123456780000");
      assertThat(b.cache().fetch("after", k -> Load.commit("fine")).value()).isEqualTo("fine");
      assertThat(a.cache().fetch("after", k -> Load.commit("other")).value()).isEqualTo("fine");
    }
  }

  /**
   * The key text of an invalidation that the codec cannot decode came from whoever published it
   * and was logged as it was, at WARNING with a stack trace, once per message: a publisher could
   * write lines of its own into the log (a newline in the key) and flood it. It is logged once,
   * escaped and cut; later ones at DEBUG.
   */
  @Test
  void undecodableKeysFromTheChannelAreLoggedOnceEscapedAndCut() throws Exception {
    String name = name();
    RedisClient client = RedisClient.create(redis.uri());
    try (RedisCourier<Long, String> courier =
        RedisCourier.builder(client, KeyCodec.longs(), ValueCodec.string())
            .name(name).probeInterval(Duration.ofMillis(100)).build();
        StatefulRedisConnection<byte[], byte[]> bytes = raw.client().connect(ByteArrayCodec.INSTANCE)) {
      CoalescingCache<Long, String> cache =
          CoalescingCache.<Long, String>builder().courier(courier).build();
      await().atMost(60, TimeUnit.SECONDS).until(courier::isClustered);
      assertThat(cache.fetch(7L, k -> Load.commit("seven")).value()).isEqualTo("seven");
      try (LogCapture log = LogCapture.of(RedisCourier.class)) {
        byte[] channel = channel(name);
        for (int i = 0; i < 3; i++) {
          bytes.sync().publish(channel,
              message('I', "1\nSEVERE: forged line " + "x".repeat(1_000), -1, ""));
        }
        bytes.sync().publish(channel, message('I', "7", -1, ""));
        await().atMost(30, TimeUnit.SECONDS).until(() -> courier.stats().invalidationsReceived() == 1);
        assertThat(log.messagesAt(Level.WARNING)).hasSize(1).allSatisfy(m -> {
          assertThat(m).doesNotContain("\n").contains("1\\nSEVERE");
          assertThat(m.length()).isLessThan(500);
        });
      }
    } finally {
      client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
    }
  }

  @Test
  void codecsRoundTripStringsBytesAndJackson() throws Exception {
    assertThat(ValueCodec.string().decode(ValueCodec.string().encode("héllo"))).isEqualTo("héllo");
    assertThat(ValueCodec.bytes().decode(ValueCodec.bytes().encode(new byte[] {1, 2, 3})))
        .containsExactly(1, 2, 3);
    JacksonValueCodec<Product> json =
        JacksonValueCodec.of(new com.fasterxml.jackson.databind.ObjectMapper(), Product.class);
    Product p = new Product("p1", 885);
    assertThat(json.decode(json.encode(p))).isEqualTo(p);
    assertThatThrownBy(() -> json.decode("null".getBytes(java.nio.charset.StandardCharsets.UTF_8)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("JSON null");
    assertThat(KeyCodec.longs().decode(KeyCodec.longs().encode(42L))).isEqualTo(42L);
  }

  record Product(String id, int priceCents) {}
}
