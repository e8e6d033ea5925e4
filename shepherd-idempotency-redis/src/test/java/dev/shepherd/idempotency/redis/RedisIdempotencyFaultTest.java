package dev.shepherd.idempotency.redis;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.IdempotencyStoreException;
import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.OrphanPolicy;
import dev.shepherd.idempotency.StoredResponse;
import dev.shepherd.idempotency.Tracked;
import dev.shepherd.idempotency.ForwardingIdempotencyStore;
import dev.shepherd.testing.FaultProxy;
import dev.shepherd.testing.RedisServer;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The Redis store and the tracker with Redis behind a {@link FaultProxy}: a Redis that stops
 * answering bounds every call by the command timeout, renewals never pile up, the owner learns
 * that its lease is unconfirmed, and a response stored during an outage is stored once Redis
 * answers again; a first connect to a Redis that does not answer, or that refuses, costs each
 * caller at most the command timeout and starts one attempt, not one per caller. Also the
 * start-up check of the eviction policy and the optional {@code WAIT}.
 */
class RedisIdempotencyFaultTest {

  @RegisterExtension static final RedisServer redis = RedisServer.create();

  private static final Duration LEASE = Duration.ofSeconds(3);
  private static final StoredResponse OK =
      new StoredResponse(201, List.of(), "done".getBytes(UTF_8), Instant.EPOCH);

  private final List<AutoCloseable> resources = new ArrayList<>();
  private FaultProxy proxy;

  @AfterEach
  void close() throws Exception {
    if (proxy != null) {
      proxy.restore();
    }
    for (AutoCloseable resource : resources.reversed()) {
      resource.close();
    }
  }

  private RedisIdempotencyStore storeThroughProxy() {
    proxy = FaultProxy.to(redis.port());
    resources.add(proxy);
    RedisClient client = RedisClient.create("redis://127.0.0.1:" + proxy.port());
    resources.add(client::shutdown);
    RedisIdempotencyStore store = RedisIdempotencyStore.builder(client)
        .commandTimeout(Duration.ofMillis(500)).build();
    resources.add(store);
    return store;
  }

  /**
   * A connection that stops answering without closing (half-open, as after a failover) is
   * replaced after {@value RedisIdempotencyStore#MAX_CONSECUTIVE_TIMEOUTS} timeouts in a row: the
   * next call opens a new connection (counted at the proxy), which works once the network does.
   */
  @Test
  void sharedConnectionIsReplacedAfterConsecutiveCommandTimeouts() {
    RedisIdempotencyStore store = storeThroughProxy();
    Duration lease = Duration.ofMinutes(1);
    assertThat(store.claim("replace:first", "fp", lease, lease, OrphanPolicy.TAKE_OVER))
        .isInstanceOf(Tracked.Claimed.class);
    long opened = proxy.acceptedConnections();
    proxy.stopForwarding();
    for (int i = 0; i < RedisIdempotencyStore.MAX_CONSECUTIVE_TIMEOUTS; i++) {
      String key = "replace:timeout-" + i;
      assertThatThrownBy(() -> store.claim(key, "fp", lease, lease, OrphanPolicy.TAKE_OVER))
          .isInstanceOf(IdempotencyStoreException.class);
    }
    assertThat(proxy.acceptedConnections()).isEqualTo(opened);

    assertThatThrownBy(() -> store.claim("replace:next", "fp", lease, lease,
        OrphanPolicy.TAKE_OVER)).isInstanceOf(IdempotencyStoreException.class);
    await().atMost(Duration.ofMinutes(1))
        .until(() -> proxy.acceptedConnections() == opened + 1); // a new connection
    proxy.restore();

    await().atMost(Duration.ofMinutes(1)).ignoreExceptions().until(() -> store.claim(
        "replace:after", "fp", lease, lease, OrphanPolicy.TAKE_OVER) instanceof Tracked.Claimed);
  }

  @Test
  void hungRedisFailsEveryCallWithinTheTimeoutAndRenewalsNeverPileUp() throws Exception {
    Counting store = new Counting(storeThroughProxy());
    List<String> told = new CopyOnWriteArrayList<>();
    IdempotencyTracker tracker = IdempotencyTracker.builder().store(store).lease(LEASE)
        .claimListener((claim, definitely) -> told.add(claim.key() + " " + definitely)).build();
    resources.add(tracker);
    Tracked.Claimed owner = (Tracked.Claimed) tracker.track("owner", "fp");
    int threadsBefore = ManagementFactory.getThreadMXBean().getThreadCount();

    proxy.stopForwarding();
    List<Future<Tracked>> calls = new ArrayList<>();
    try (ExecutorService callers = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int i = 0; i < 50; i++) {
        String key = "hung-" + i;
        calls.add(callers.submit(() -> tracker.track(key, "fp")));
      }
    }
    // Each fails with its command timeout, or at once once the store closed the connection
    // after 3 timeouts in a row (the commands still queued on it fail with it).
    for (Future<Tracked> call : calls) {
      assertThatThrownBy(call::get).hasCauseInstanceOf(IdempotencyStoreException.class)
          .hasMessageMatching("(?s).*(did not answer within PT0\\.5S|Connection closed).*");
    }
    // No renewal confirmed the lease: the owner is told before another owner could claim.
    await().atMost(LEASE.multipliedBy(5)).until(() -> !tracker.isHeld(owner));
    await().atMost(LEASE.multipliedBy(5)).until(() -> told.contains("owner false"));
    int threadsAfter = ManagementFactory.getThreadMXBean().getThreadCount();
    proxy.restore();

    assertThat(store.renewCalls.get()).isGreaterThanOrEqualTo(2);
    assertThat(store.maxConcurrentRenewals.get()).isEqualTo(1);
    assertThat(threadsAfter - threadsBefore).isLessThan(50);
    // Redis answers again and nobody took the key: a renewal confirms the claim once more.
    await().atMost(LEASE.multipliedBy(5)).until(() -> tracker.isHeld(owner));
  }

  @Test
  void responseStoredDuringAnOutageIsStoredWhenRedisAnswersAgainAndReplayed() throws Exception {
    Counting store = new Counting(storeThroughProxy());
    IdempotencyTracker tracker = IdempotencyTracker.builder().store(store)
        .lease(Duration.ofSeconds(30)).completionRetry(Duration.ofSeconds(60)).build();
    resources.add(tracker);
    Tracked.Claimed claim = (Tracked.Claimed) tracker.track("outage", "fp");

    proxy.stopForwarding();
    CompletableFuture<Void> completing = CompletableFuture.runAsync(
        () -> tracker.complete(claim, OK), Executors.newVirtualThreadPerTaskExecutor());
    await().atMost(Duration.ofSeconds(30)).until(() -> store.failedCompletes.get() >= 2);
    proxy.restore();
    completing.get(60, TimeUnit.SECONDS);

    assertThat(tracker.track("outage", "fp")).isInstanceOfSatisfying(Tracked.Completed.class,
        done -> assertThat(done.response()).isEqualTo(OK));
  }

  @Test
  void callersOfAFirstConnectToASilentRedisShareOneAttemptAndEachFailWithinTheCommandTimeout()
      throws Exception {
    proxy = FaultProxy.to(redis.port());
    resources.add(proxy);
    proxy.stopForwarding(); // accepts connections, never answers
    RedisClient client = RedisClient.create("redis://127.0.0.1:" + proxy.port());
    // Lettuce's own connect timeout outlasts the test: only the store's bound can end a call.
    client.setOptions(ClientOptions.builder().socketOptions(
        SocketOptions.builder().connectTimeout(Duration.ofSeconds(60)).build()).build());
    resources.add(client::shutdown);
    RedisIdempotencyStore store =
        RedisIdempotencyStore.builder(client).commandTimeout(Duration.ofSeconds(1)).build();
    resources.add(store);
    ExecutorService callers = Executors.newVirtualThreadPerTaskExecutor();
    resources.add(callers::shutdownNow);

    List<Future<Tracked>> calls = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      String key = "silent-" + i;
      calls.add(callers.submit(() -> store.claim(key, "fp", LEASE, LEASE, OrphanPolicy.TAKE_OVER)));
    }

    // Each fails within about the 1 s command timeout; queued behind each other's connects, the
    // k-th caller would wait k times Lettuce's connect timeout.
    for (Future<Tracked> call : calls) {
      assertThatThrownBy(() -> call.get(6, TimeUnit.SECONDS))
          .isInstanceOf(ExecutionException.class)
          .cause().isInstanceOf(IdempotencyStoreException.class)
          .hasMessageContaining("cannot connect to Redis")
          .hasMessageContaining("no connection within the command timeout of PT1S");
    }
    await().atMost(Duration.ofSeconds(10)).until(() -> proxy.acceptedConnections() >= 1);
    assertThat(proxy.acceptedConnections()).isEqualTo(1);
  }

  @Test
  void failedConnectIsRememberedSoCallersFailAtOnceInsteadOfEachConnecting() {
    proxy = FaultProxy.to(redis.port());
    resources.add(proxy);
    proxy.refuseConnections();
    RedisClient client = RedisClient.create("redis://127.0.0.1:" + proxy.port());
    resources.add(client::shutdown);
    RedisIdempotencyStore remembering = RedisIdempotencyStore.builder(client)
        .connectRetryDelay(Duration.ofMinutes(10)).build();
    resources.add(remembering);

    assertThatThrownBy(() -> remembering.claim("k", "fp", LEASE, LEASE, OrphanPolicy.TAKE_OVER))
        .isInstanceOf(IdempotencyStoreException.class)
        .hasMessageContaining("cannot connect to Redis");
    long attempts = proxy.acceptedConnections();
    for (int i = 0; i < 20; i++) {
      assertThatThrownBy(() -> remembering.claim("k", "fp", LEASE, LEASE, OrphanPolicy.TAKE_OVER))
          .isInstanceOf(IdempotencyStoreException.class)
          .hasMessageContaining("cannot connect to Redis")
          .hasMessageContaining("the last attempt failed");
    }
    assertThat(attempts).isEqualTo(1);
    assertThat(proxy.acceptedConnections()).isEqualTo(1);

    // With the default delay, a call after it connects again once Redis is back.
    RedisIdempotencyStore recovering = RedisIdempotencyStore.builder(client).build();
    resources.add(recovering);
    assertThatThrownBy(() -> recovering.claim("k", "fp", LEASE, LEASE, OrphanPolicy.TAKE_OVER))
        .isInstanceOf(IdempotencyStoreException.class);
    proxy.restore();
    await().atMost(Duration.ofSeconds(20)).ignoreExceptions().until(
        () -> recovering.claim("k", "fp", LEASE, LEASE, OrphanPolicy.TAKE_OVER),
        tracked -> tracked instanceof Tracked.Claimed);
  }

  @Test
  void evictingMaxmemoryPolicyIsRefusedAtTheFirstConnectionUnlessAllowed() {
    RedisClient client = RedisClient.create(redis.uri());
    resources.add(client::shutdown);
    StatefulRedisConnection<String, String> admin = client.connect();
    resources.add(admin);
    admin.sync().configSet("maxmemory-policy", "volatile-lru");
    try {
      RedisIdempotencyStore refusing = RedisIdempotencyStore.builder(client).build();
      resources.add(refusing);
      assertThatThrownBy(() -> refusing.claim("k", "fp", LEASE, LEASE, OrphanPolicy.TAKE_OVER))
          .isInstanceOf(IdempotencyStoreException.class)
          .hasMessageContaining("maxmemory-policy is 'volatile-lru'")
          .hasMessageContaining("noeviction");

      RedisIdempotencyStore allowing =
          RedisIdempotencyStore.builder(client).allowEviction(true).build();
      resources.add(allowing);
      assertThat(allowing.claim("k", "fp", LEASE, LEASE, OrphanPolicy.TAKE_OVER))
          .isInstanceOf(Tracked.Claimed.class);
    } finally {
      admin.sync().configSet("maxmemory-policy", "noeviction");
    }
    RedisIdempotencyStore checked = RedisIdempotencyStore.builder(client).build();
    resources.add(checked);
    assertThat(checked.claim("k2", "fp", LEASE, LEASE, OrphanPolicy.TAKE_OVER))
        .isInstanceOf(Tracked.Claimed.class);
  }

  @Test
  void waitForReplicasFailsTheCompleteWhenTooFewReplicasAcknowledgeButTheRecordStays() {
    RedisClient client = RedisClient.create(redis.uri());
    resources.add(client::shutdown);
    RedisIdempotencyStore store = RedisIdempotencyStore.builder(client)
        .waitForReplicas(1, Duration.ofMillis(100)).build();
    resources.add(store);
    Tracked.Claimed claim =
        (Tracked.Claimed) store.claim("wait", "fp", LEASE, LEASE, OrphanPolicy.TAKE_OVER);

    // This Redis has no replica: WAIT answers 0.
    assertThatThrownBy(() -> store.complete("wait", claim.fencingToken(), OK, LEASE))
        .isInstanceOf(IdempotencyStoreException.class)
        .hasMessageContaining("reached 0 of the 1 replicas");
    assertThat(store.claim("wait", "fp", LEASE, LEASE, OrphanPolicy.TAKE_OVER))
        .isInstanceOf(Tracked.Completed.class);
  }

  /** Counts failed completes and renewals in flight at once. */
  private static final class Counting extends ForwardingIdempotencyStore {
    final AtomicInteger failedCompletes = new AtomicInteger();
    final AtomicInteger renewCalls = new AtomicInteger();
    final AtomicInteger renewing = new AtomicInteger();
    final AtomicInteger maxConcurrentRenewals = new AtomicInteger();

    Counting(IdempotencyStore delegate) {
      super(delegate);
    }

    @Override
    public boolean renew(String key, long token, Duration lease, Duration retention) {
      renewCalls.incrementAndGet();
      maxConcurrentRenewals.accumulateAndGet(renewing.incrementAndGet(), Math::max);
      try {
        return super.renew(key, token, lease, retention);
      } finally {
        renewing.decrementAndGet();
      }
    }

    @Override
    public boolean complete(String key, long token, StoredResponse response,
        Duration retention) {
      try {
        return super.complete(key, token, response, retention);
      } catch (RuntimeException e) {
        failedCompletes.incrementAndGet();
        throw e;
      }
    }
  }
}
