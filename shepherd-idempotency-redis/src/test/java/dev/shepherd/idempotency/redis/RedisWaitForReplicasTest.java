package dev.shepherd.idempotency.redis;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.shepherd.idempotency.IdempotencyStoreException;
import dev.shepherd.idempotency.OrphanPolicy;
import dev.shepherd.idempotency.StoredResponse;
import dev.shepherd.idempotency.Tracked;
import dev.shepherd.testing.FaultProxy;
import dev.shepherd.testing.RedisServer;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@link RedisIdempotencyStore.Builder#waitForReplicas(int, Duration)} against a real primary and
 * a real replica that replicates through a {@link FaultProxy}: a replica that is down or behind
 * fails the completes that wait for it, and only those.
 */
class RedisWaitForReplicasTest {

  @RegisterExtension static final RedisServer primary = RedisServer.create();
  @RegisterExtension static final RedisServer replica = RedisServer.create();

  private static final Duration LONG = Duration.ofMinutes(10);
  private static final StoredResponse OK =
      new StoredResponse(201, List.of(), "done".getBytes(UTF_8), Instant.EPOCH);

  private final List<AutoCloseable> resources = new ArrayList<>();
  private FaultProxy link;
  private StatefulRedisConnection<String, String> admin;

  @BeforeEach
  void replicate() {
    replica.restart(); // a fresh replica, also after a test stopped it
    link = FaultProxy.to(primary.port());
    resources.add(link);
    RedisClient adminClient = RedisClient.create(primary.uri());
    resources.add(adminClient::shutdown);
    admin = adminClient.connect();
    resources.add(admin);
    RedisClient replicaClient = RedisClient.create(replica.uri());
    resources.add(replicaClient::shutdown);
    try (StatefulRedisConnection<String, String> toReplica = replicaClient.connect()) {
      toReplica.sync().replicaof("127.0.0.1", link.port());
      await().atMost(Duration.ofSeconds(30)).until(
          () -> toReplica.sync().info("replication").contains("master_link_status:up"));
    }
    await().atMost(Duration.ofSeconds(30)).until(
        () -> admin.sync().info("replication").contains("connected_slaves:1"));
  }

  @AfterEach
  void close() throws Exception {
    for (AutoCloseable resource : resources.reversed()) {
      resource.close();
    }
  }

  private RedisIdempotencyStore store(Duration commandTimeout, Duration replicaTimeout) {
    RedisClient client = RedisClient.create(primary.uri());
    resources.add(client::shutdown);
    RedisIdempotencyStore store = RedisIdempotencyStore.builder(client)
        .commandTimeout(commandTimeout).waitForReplicas(1, replicaTimeout).build();
    resources.add(store);
    return store;
  }

  private static Tracked.Claimed claim(RedisIdempotencyStore store, String key) {
    return (Tracked.Claimed) store.claim(key, "fp", LONG, LONG, OrphanPolicy.TAKE_OVER);
  }

  @Test
  void waitTimeoutsThatCouldNeverWorkAreRejectedAtTheBuilder() {
    RedisClient client = RedisClient.create(primary.uri());
    resources.add(client::shutdown);
    // Under 1 ms would be WAIT n 0: blocks forever on the server.
    assertThatThrownBy(() -> RedisIdempotencyStore.builder(client)
        .waitForReplicas(1, Duration.ofNanos(999_999)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("at least 1 ms");
    // As long as the command timeout: every complete would time out while a replica lags.
    assertThatThrownBy(() -> RedisIdempotencyStore.builder(client)
        .commandTimeout(Duration.ofSeconds(1)).waitForReplicas(1, Duration.ofSeconds(1)).build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("must be shorter than the command timeout");
    assertThatThrownBy(() -> RedisIdempotencyStore.builder(client)
        .waitForReplicas(1, Duration.ofSeconds(9)).build()) // the default command timeout is 5 s
        .isInstanceOf(IllegalStateException.class);
    // Off (0 replicas) needs no check; the shortest sensible one builds.
    RedisIdempotencyStore.builder(client).waitForReplicas(0, Duration.ofSeconds(9)).build().close();
    RedisIdempotencyStore.builder(client).waitForReplicas(1, Duration.ofMillis(1)).build().close();
  }

  @Test
  void completesWaitingForAStoppedReplicaNeverHoldUpClaimsAndRenewalsOfOtherKeys()
      throws Exception {
    RedisIdempotencyStore store = store(Duration.ofSeconds(10), Duration.ofSeconds(5));
    Tracked.Claimed before = claim(store, "before");
    assertThat(store.complete("before", before.fencingToken(), OK, LONG)).isTrue();

    replica.stop();
    List<Tracked.Claimed> claims = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      claims.add(claim(store, "waiting-" + i));
    }
    ExecutorService completers = Executors.newVirtualThreadPerTaskExecutor();
    resources.add(completers::shutdownNow);
    List<Future<Boolean>> completes = new ArrayList<>();
    for (Tracked.Claimed c : claims) {
      completes.add(completers.submit(() -> store.complete(c.key(), c.fencingToken(), OK, LONG)));
    }
    await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(10)).until(
        () -> blockedClients() >= 1);

    // A WAIT now blocks for up to 5 s; a claim and a renewal queued behind it would wait as long.
    long start = System.nanoTime();
    Tracked.Claimed other = claim(store, "other");
    boolean renewed = store.renew("other", other.fencingToken(), LONG, LONG);
    Duration took = Duration.ofNanos(System.nanoTime() - start);

    assertThat(renewed).isTrue();
    assertThat(took).isLessThan(Duration.ofSeconds(3));
    for (Future<Boolean> complete : completes) {
      assertThatThrownBy(() -> complete.get(30, TimeUnit.SECONDS))
          .isInstanceOf(ExecutionException.class)
          .cause().isInstanceOf(IdempotencyStoreException.class)
          .hasMessageContaining("reached 0 of the 1 replicas");
    }
    for (Tracked.Claimed c : claims) {
      assertThat(store.claim(c.key(), "fp", LONG, LONG, OrphanPolicy.TAKE_OVER))
          .isInstanceOf(Tracked.Completed.class);
    }
  }

  @Test
  void retriedCompleteWaitsForTheFirstWriteEvenOnAnotherConnection() {
    RedisIdempotencyStore store = store(Duration.ofSeconds(10), Duration.ofMillis(500));
    Tracked.Claimed claim = claim(store, "retried");

    // The replica stays connected but falls behind: nothing reaches it, no acknowledgement returns.
    link.stopForwarding();
    assertThatThrownBy(() -> store.complete("retried", claim.fencingToken(), OK, LONG))
        .isInstanceOf(IdempotencyStoreException.class)
        .hasMessageContaining("reached 0 of the 1 replicas");
    // The retry finds the record completed and writes nothing new, on the next free connection,
    // whose own last write the replica has long acknowledged: it must still wait for the first.
    assertThatThrownBy(() -> store.complete("retried", claim.fencingToken(), OK, LONG))
        .isInstanceOf(IdempotencyStoreException.class)
        .hasMessageContaining("reached 0 of the 1 replicas");

    link.restore();
    await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(
        () -> store.complete("retried", claim.fencingToken(), OK, LONG));
  }

  private long blockedClients() {
    return admin.sync().info("clients").lines()
        .filter(line -> line.startsWith("blocked_clients:"))
        .mapToLong(line -> Long.parseLong(line.substring("blocked_clients:".length()).strip()))
        .findFirst().orElse(0);
  }
}
