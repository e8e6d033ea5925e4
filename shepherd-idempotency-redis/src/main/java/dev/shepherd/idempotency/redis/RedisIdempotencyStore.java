package dev.shepherd.idempotency.redis;

import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.Require;
import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.IdempotencyStoreException;
import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.OrphanPolicy;
import dev.shepherd.idempotency.StoredResponse;
import dev.shepherd.idempotency.Tracked;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisCommandTimeoutException;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * An {@link IdempotencyStore} in Redis, through Lettuce: trackers in many JVMs that share one
 * Redis share the keys.
 *
 * <pre>{@code
 * RedisIdempotencyStore store = RedisIdempotencyStore.builder(redisClient)
 *     .keyPrefix("shepherd:idem:")            // the default
 *     .commandTimeout(Duration.ofSeconds(5))  // the default
 *     .build();
 * }</pre>
 *
 * <h2>Data model and atomicity</h2>
 *
 * Each key is a Redis hash at {@code keyPrefix + key} with the state, the fencing token, the
 * fingerprint, the claim and lease times and the stored response (its byte-exact
 * {@link StoredResponse#toBytes()} form). Every operation is one Lua script, so it is atomic on
 * the server: the claim reads the record, decides (claim, in progress, take over, halt,
 * completed, halted, mismatch) and writes in one step, with the lease measured by Redis's own
 * clock ({@code TIME}). Expiry is Redis's: each write stores the record's expiry instant in the
 * hash and sets it with {@code PEXPIREAT} (the lease plus retention while in progress, retention
 * once completed or halted), so every answer reports the same instant and {@link #prune(int)} has
 * nothing to do. Fencing tokens come from one
 * counter ({@code keyPrefix + "token-seq"}, {@code INCR}), and a take-over never takes a token
 * below the old one plus one. A counter that is missing (first use, or Redis lost its data) starts
 * at the Redis clock in microseconds, so tokens handed out before a data loss are not handed out
 * again unless claims averaged over a million per second.
 *
 * <p>Requirements on the server: Redis 5 or newer (scripts replicated by effects, so {@code TIME}
 * is allowed before writes); {@code maxmemory-policy noeviction}, Redis's default, which the store
 * checks at its first connection (see {@link Builder#allowEviction(boolean)}): every record has a
 * time to live, so a {@code volatile-*} policy can evict live records, and an {@code allkeys-*}
 * policy also the token counter. Records survive a restart only as far as Redis persisted them
 * (AOF with {@code appendfsync always} keeps every acknowledged write), and a failover only as far
 * as they had replicated ({@link Builder#waitForReplicas(int, Duration)} narrows that window). On Redis Cluster, give the
 * prefix a hash tag ({@code "{idem}:"}) so a record and the counter share a slot.
 *
 * <p>The store opens one connection from the client on first use (so a service may start while
 * Redis is down) and shares it among all threads; Lettuce reconnects it after a failure. One
 * connect attempt runs at a time, and every caller waits for it no longer than the command
 * timeout; an attempt that failed is remembered for a second, during which calls fail at once
 * with its cause instead of each connecting again. With
 * {@link Builder#waitForReplicas(int, Duration)}, complete and halt run with their {@code WAIT} on
 * connections of their own instead (at most {@value #WAIT_CONNECTIONS}, opened the same way), so
 * that a {@code WAIT} never holds up the claims and renewals on the shared one. A command that
 * does not answer within the command timeout, or any Redis error, is an
 * {@link IdempotencyStoreException}; after {@value #MAX_CONSECUTIVE_TIMEOUTS} commands in a row
 * timed out on a connection, the store closes it and the next call opens another (a half-open
 * connection left by a failover would otherwise time out every call for minutes).
 * {@link #close()} closes these connections, not the client.
 * Thread-safe.
 */
public final class RedisIdempotencyStore implements IdempotencyStore {

  /** The default key prefix. */
  public static final String DEFAULT_PREFIX = "shepherd:idem:";

  /*
   * Hash fields: s state (P in progress, C completed, H halted), t token, f fingerprint,
   * c claimed at (ms since the epoch, Redis clock), l lease until (ms), e expires at (ms: the
   * record's one expiry, also set with PEXPIREAT, so every answer reports the same instant),
   * r response bytes, h halted reason, i the claim id its claimer gave (when it gave one).
   * Numbers are written with string.format('%d') so they compare as strings and never turn into
   * Lua's 1.7e+12 notation.
   */
  /*
   * Why two readings of the clock: TIME has microseconds and the record milliseconds. `now`
   * (rounded down) is what comparisons use: a lease counts as over only once floor(now) reached
   * its end, so never early. `up` (rounded up) is where a lease written now starts: its end is
   * then never before the true instant of the write plus the lease, and so never before the
   * tracker's confirmedUntil (the instant the call was sent plus the lease). Rounded down, the
   * lease could end up to 1 ms before isHeld() turned false on the owner. (The record's expiry,
   * lease plus retention of at least 1 ms, stays on `now`: it still ends after the lease; and
   * the lease left, as reported, is capped at the asker's lease.)
   */
  private static final String NOW =
      "local tm = redis.call('TIME')\n"
          + "local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)\n"
          + "local up = now\n"
          + "if tonumber(tm[2]) % 1000 > 0 then up = now + 1 end\n";

  static final String CLAIM_SCRIPT =
      NOW
          + "local lease = tonumber(ARGV[2])\n"
          + "local retention = tonumber(ARGV[3])\n"
          + "local function claim(tookOver, oldToken)\n"
          + "  local token = redis.call('INCR', KEYS[2])\n"
          + "  if token == 1 then\n"
          + "    token = now * 1000\n"
          + "    redis.call('SET', KEYS[2], string.format('%d', token))\n"
          + "  end\n"
          + "  if oldToken ~= nil and token <= oldToken then\n"
          + "    token = oldToken + 1\n"
          + "    redis.call('SET', KEYS[2], string.format('%d', token))\n"
          + "  end\n"
          + "  if oldToken ~= nil then redis.call('HDEL', KEYS[1], 'r', 'h', 'i') end\n"
          + "  if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'i', ARGV[6]) end\n"
          + "  local e = now + lease + retention\n"
          + "  redis.call('HSET', KEYS[1], 's', 'P', 't', string.format('%d', token), 'f', ARGV[1],"
          + " 'c', string.format('%d', now), 'l', string.format('%d', up + lease),"
          + " 'e', string.format('%d', e))\n"
          + "  redis.call('PEXPIREAT', KEYS[1], string.format('%d', e))\n"
          + "  return {'C', token, now, tookOver}\n"
          + "end\n"
          + "local r = redis.call('HMGET', KEYS[1], 's', 't', 'f', 'c', 'l', 'e')\n"
          + "if not r[1] then return claim(0, nil) end\n"
          + "local e = tonumber(r[6])\n"
          + "if e == nil then e = now + redis.call('PTTL', KEYS[1]) end\n"
          + "if r[3] ~= ARGV[1] then return {'M', e} end\n"
          + "if r[1] == 'C' then return {'D', e, redis.call('HGET', KEYS[1], 'r')} end\n"
          + "if r[1] == 'H' then return {'H', e, redis.call('HGET', KEYS[1], 'h')} end\n"
          + "local leaseUntil = tonumber(r[5])\n"
          + "if leaseUntil > now then\n"
          + "  return {'P', tonumber(r[4]), math.min(leaseUntil - now, lease)}\n"
          + "end\n"
          + "if ARGV[4] == 'T' then return claim(1, tonumber(r[2])) end\n"
          + "local halted = now + retention\n"
          + "redis.call('HSET', KEYS[1], 's', 'H', 'h', ARGV[5], 'e', string.format('%d', halted))\n"
          + "redis.call('PEXPIREAT', KEYS[1], string.format('%d', halted))\n"
          + "return {'H', halted, ARGV[5]}\n";

  private static final String OWNED =
      "local r = redis.call('HMGET', KEYS[1], 's', 't')\n"
          + "if r[1] ~= 'P' or r[2] ~= ARGV[1] then return 0 end\n";

  /**
   * Finishing again with the same token and outcome (a retry whose reply was lost, or whose
   * {@code WAIT} fell short) changes nothing, but it sets the record's expiry again to the same
   * instant: that write is what makes the {@code WAIT} after it, maybe on another connection than
   * the first one's, cover the first write too ({@code WAIT} counts from its own connection's last
   * write, and a script that writes nothing does not move it).
   */
  private static String finish(String state) {
    return NOW
        + "local r = redis.call('HMGET', KEYS[1], 's', 't', 'e')\n"
        + "if r[1] == '" + state + "' and r[2] == ARGV[1] then\n"
        + "  if r[3] then redis.call('PEXPIREAT', KEYS[1], r[3]) end\n"
        + "  return 1\n"
        + "end\n"
        + "if r[1] ~= 'P' or r[2] ~= ARGV[1] then return 0 end\n"
        + "local e = now + tonumber(ARGV[3])\n"
        + "redis.call('HSET', KEYS[1], 's', '" + state + "', '" + (state.equals("C") ? "r" : "h")
        + "', ARGV[2], 'e', string.format('%d', e))\n"
        + "redis.call('PEXPIREAT', KEYS[1], string.format('%d', e))\n"
        + "return 1\n";
  }

  static final String RENEW_SCRIPT =
      NOW
          + OWNED
          + "local e = now + tonumber(ARGV[2]) + tonumber(ARGV[3])\n"
          + "redis.call('HSET', KEYS[1], 'l', string.format('%d', up + tonumber(ARGV[2])),"
          + " 'e', string.format('%d', e))\n"
          + "redis.call('PEXPIREAT', KEYS[1], string.format('%d', e))\n"
          + "return 1\n";

  static final String COMPLETE_SCRIPT = finish("C");

  static final String HALT_SCRIPT = finish("H");

  static final String RELEASE_SCRIPT = OWNED + "redis.call('DEL', KEYS[1])\nreturn 1\n";

  static final String RELEASE_CLAIM_SCRIPT =
      "local r = redis.call('HMGET', KEYS[1], 's', 'i')\n"
          + "if r[1] ~= 'P' or r[2] ~= ARGV[1] then return 0 end\n"
          + "redis.call('DEL', KEYS[1])\nreturn 1\n";

  /*
   * Why connecting works this way: Lettuce's connect blocks for up to the client's own connect
   * timeout (10 s by default) against a Redis that accepts but does not answer, and the first
   * call, or any call after a failed connect, needs a connection. So one attempt runs at a time,
   * on a virtual thread of its own, and every caller waits for that attempt at most the command
   * timeout: K callers during an outage each fail within the command timeout, not K times the
   * connect timeout one after the other. A failed attempt is remembered for connectRetryDelay,
   * during which callers fail at once with its cause, so a stampede does not start a connect
   * each. The lock guards only these fields and is never held across I/O (a monitor held across
   * a connect would also pin the carrier of every virtual thread queued on it, on Java 21).
   */

  /** How long a failed connect is remembered before a call starts the next attempt. */
  static final Duration CONNECT_RETRY_DELAY = Duration.ofSeconds(1);

  /*
   * Why complete and halt have connections of their own under waitForReplicas: WAIT blocks the
   * client that sent it, and Redis serves nothing else of that client meanwhile. On the shared,
   * multiplexed connection one WAIT for a replica that is down held every claim and renewal
   * queued behind it for the whole WAIT timeout, and a few of them past the command timeout. WAIT
   * counts from the last write of its own connection, so the write and its WAIT go on the same
   * connection, taken from a small pool for the pair and given back after. A caller waits for a
   * free one at most the command timeout, so a replica outage blocks at most WAIT_CONNECTIONS
   * WAITs at a time and retried completes queue here, not on the shared connection. A connection
   * whose command timed out may still have a WAIT queued on the server: it is closed, and the
   * next user of its slot opens a new one.
   */

  /** The most connections that complete and halt use to wait for replicas. */
  static final int WAIT_CONNECTIONS = 8;

  /*
   * Why a connection is replaced after consecutive timeouts: Lettuce reconnects a connection
   * whose channel closed, but a half-open one (the server failed over or vanished without a RST)
   * stays "connected" and every command on it times out until the kernel gives up, some 15
   * minutes later. So after MAX_CONSECUTIVE_TIMEOUTS commands in a row on the shared connection
   * timed out with no reply in between, the store closes it and the next call opens another. A
   * single slow command does not do it: any reply resets the count.
   */

  /** How many commands in a row may time out on a connection before it is replaced. */
  static final int MAX_CONSECUTIVE_TIMEOUTS = 3;

  private static final System.Logger LOG =
      System.getLogger(RedisIdempotencyStore.class.getName());

  private final RedisClient client;
  private final String prefix;
  private final byte[] tokenCounter;
  private final long timeoutNanos;
  private final boolean allowEviction;
  private final int replicas;
  private final long replicaTimeoutMillis;
  private final long connectRetryDelayNanos;
  private final Script claim = new Script(CLAIM_SCRIPT);
  private final Script renew = new Script(RENEW_SCRIPT);
  private final Script complete = new Script(COMPLETE_SCRIPT);
  private final Script halt = new Script(HALT_SCRIPT);
  private final Script release = new Script(RELEASE_SCRIPT);
  private final Script releaseClaim = new Script(RELEASE_CLAIM_SCRIPT);

  /** The connection every claim and renewal uses; complete and halt too without replicas. */
  private final Connector shared = new Connector(true);
  /** Free connections for a write and its WAIT; empty without waitForReplicas. */
  private final BlockingQueue<Connector> waitConnectors = new ArrayBlockingQueue<>(WAIT_CONNECTIONS);
  /** Every connection, for close. */
  private final List<Connector> connectors;
  private volatile boolean closed;

  private RedisIdempotencyStore(Builder b) {
    this.client = b.client;
    this.prefix = b.prefix;
    this.tokenCounter = bytes(b.prefix + "token-seq");
    this.timeoutNanos = Durations.toNanosSaturated(b.commandTimeout);
    this.allowEviction = b.allowEviction;
    this.replicas = b.replicas;
    this.replicaTimeoutMillis = b.replicaTimeout.toMillis();
    this.connectRetryDelayNanos = Durations.toNanosSaturated(b.connectRetryDelay);
    List<Connector> all = new ArrayList<>(List.of(shared));
    for (int i = 0; replicas > 0 && i < WAIT_CONNECTIONS; i++) {
      Connector waiting = new Connector(false);
      waitConnectors.add(waiting);
      all.add(waiting);
    }
    this.connectors = List.copyOf(all);
  }

  /**
   * Returns a builder for a store that connects through a Lettuce client.
   *
   * @param client the client; the store opens one connection from it and does not shut it down
   * @return a new builder
   * @throws NullPointerException if {@code client} is null
   */
  public static Builder builder(RedisClient client) {
    return new Builder(Require.nonNull(client, "client"));
  }

  /**
   * Returns the prefix of every Redis key this store writes.
   *
   * @return the prefix
   */
  public String keyPrefix() {
    return prefix;
  }

  /**
   * Returns the Redis key that holds an idempotency key's record.
   *
   * @param key the idempotency key
   * @return {@code keyPrefix + key}
   */
  public String redisKey(String key) {
    return prefix + key;
  }

  @Override
  public Tracked claim(
      String key, String fingerprint, Duration lease, Duration retention, OrphanPolicy policy) {
    return claim(key, fingerprint, lease, retention, policy, "");
  }

  @Override
  public Tracked claim(String key, String fingerprint, Duration lease, Duration retention,
      OrphanPolicy policy, String claimId) {
    List<Object> reply =
        call(
            "claim",
            key,
            claim,
            shared.get(key),
            new byte[][] {bytes(prefix + key), tokenCounter},
            bytes(fingerprint),
            millis(lease),
            millis(retention),
            bytes(policy == OrphanPolicy.TAKE_OVER ? "T" : "H"),
            bytes(IdempotencyTracker.OWNER_VANISHED),
            bytes(claimId));
    try {
      String kind = new String((byte[]) reply.get(0), StandardCharsets.US_ASCII);
      return switch (kind) {
        case "C" -> new Tracked.Claimed(
            key,
            (Long) reply.get(1),
            Instant.ofEpochMilli((Long) reply.get(2)),
            (Long) reply.get(3) == 1L);
        case "P" -> new Tracked.InProgress(
            Instant.ofEpochMilli((Long) reply.get(1)), Duration.ofMillis((Long) reply.get(2)));
        case "M" -> new Tracked.Mismatch(expiresAt(reply));
        case "D" -> new Tracked.Completed(
            StoredResponse.fromBytes((byte[]) reply.get(2)), expiresAt(reply));
        case "H" -> new Tracked.Halted(
            new String((byte[]) reply.get(2), StandardCharsets.UTF_8), expiresAt(reply));
        default -> throw new IllegalArgumentException("unknown reply kind " + kind);
      };
    } catch (RuntimeException e) {
      throw new IdempotencyStoreException(
          "Redis returned an unreadable record for idempotency key '" + key + "': " + e, e);
    }
  }

  private static Instant expiresAt(List<Object> reply) {
    return Instant.ofEpochMilli((Long) reply.get(1));
  }

  @Override
  public boolean renew(String key, long fencingToken, Duration lease, Duration retention) {
    return isOne(call("renew", key, renew, shared.get(key), keys(key), token(fencingToken),
        millis(lease), millis(retention)));
  }

  @Override
  public boolean complete(
      String key, long fencingToken, StoredResponse response, Duration retention) {
    return finishRecord("complete", key, complete, token(fencingToken), response.toBytes(),
        millis(retention));
  }

  @Override
  public boolean halt(String key, long fencingToken, String reason, Duration retention) {
    return finishRecord("halt", key, halt, token(fencingToken), bytes(reason), millis(retention));
  }

  /**
   * Runs a complete or halt script; with {@link Builder#waitForReplicas(int, Duration)}, on a
   * connection of the WAIT pool and followed there by its {@code WAIT} (see the block comment on
   * it).
   */
  private boolean finishRecord(String operation, String key, Script script, byte[]... args) {
    if (replicas == 0) {
      return isOne(call(operation, key, script, shared.get(key), keys(key), args));
    }
    shared.get(key); // the first connection checks the eviction policy
    Connector slot = borrowWaitConnector(operation, key);
    try {
      StatefulRedisConnection<byte[], byte[]> c = slot.get(key);
      try {
        boolean done = isOne(call(operation, key, script, c, keys(key), args));
        if (done) {
          awaitReplicas(operation, key, c);
        }
        return done;
      } catch (IdempotencyStoreException e) {
        if (e.getCause() instanceof TimeoutException
            || e.getCause() instanceof RedisCommandTimeoutException
            || Thread.currentThread().isInterrupted()) {
          slot.discard(c); // its script or WAIT may still be queued on the server
        }
        throw e;
      }
    } finally {
      waitConnectors.add(slot);
    }
  }

  private Connector borrowWaitConnector(String operation, String key) {
    Connector slot;
    try {
      slot = waitConnectors.poll(timeoutNanos, TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IdempotencyStoreException("interrupted while waiting for a connection to "
          + operation + " idempotency key '" + key + "'", e);
    }
    if (slot == null) {
      throw new IdempotencyStoreException("cannot " + operation + " idempotency key '" + key
          + "': all " + WAIT_CONNECTIONS + " connections that wait for replicas stayed busy for "
          + Duration.ofNanos(timeoutNanos) + " (the command timeout)", null);
    }
    return slot;
  }

  /**
   * Waits until {@link Builder#waitForReplicas(int, Duration) that many} replicas have the
   * connection's last write ({@code WAIT}); fewer is an {@link IdempotencyStoreException}. The
   * tracker then retries the complete, which changes nothing for a record already completed with
   * the token but moves the connection's write offset past the first write, and waits again.
   */
  private void awaitReplicas(
      String operation, String key, StatefulRedisConnection<byte[], byte[]> c) {
    long acknowledged;
    try {
      acknowledged = await(c.async().waitForReplication(replicas, replicaTimeoutMillis));
    } catch (ExecutionException e) {
      Throwable cause = e.getCause() == null ? e : e.getCause();
      throw new IdempotencyStoreException("Redis WAIT after " + operation + " of idempotency key '"
          + key + "' failed: " + cause.getMessage(), cause);
    } catch (TimeoutException e) {
      throw new IdempotencyStoreException("Redis WAIT after " + operation + " of idempotency key '"
          + key + "' did not answer within " + Duration.ofNanos(timeoutNanos), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IdempotencyStoreException("interrupted in Redis WAIT for idempotency key '" + key
          + "'", e);
    }
    if (acknowledged < replicas) {
      throw new IdempotencyStoreException("the " + operation + " of idempotency key '" + key
          + "' reached " + acknowledged + " of the " + replicas + " replicas asked for within "
          + replicaTimeoutMillis + " ms; it may be lost in a failover", null);
    }
  }

  @Override
  public boolean release(String key, long fencingToken) {
    return isOne(call("release", key, release, shared.get(key), keys(key), token(fencingToken)));
  }

  @Override
  public boolean releaseClaim(String key, String claimId) {
    Require.notEmpty(claimId, "claimId");
    return isOne(call("release the claim of", key, releaseClaim, shared.get(key), keys(key),
        bytes(claimId)));
  }

  /** Returns 0: Redis deletes expired records itself ({@code PEXPIRE}). */
  @Override
  public int prune(int limit) {
    Require.atLeast(limit, 1, "limit");
    return 0;
  }

  /**
   * Closes the store's connections (not the client); a connect under way closes its connection
   * when it arrives. Idempotent.
   */
  @Override
  public void close() {
    closed = true;
    for (Connector connector : connectors) {
      connector.close();
    }
  }

  private static boolean isOne(List<Object> reply) {
    return reply.size() == 1 && Long.valueOf(1L).equals(reply.get(0));
  }

  private byte[][] keys(String key) {
    return new byte[][] {bytes(prefix + key)};
  }

  private static byte[] token(long token) {
    return bytes(Long.toString(token));
  }

  private static byte[] millis(Duration d) {
    long ms = Math.max(1, Math.min(d.toMillis(), Duration.ofDays(365L * 100).toMillis()));
    return bytes(Long.toString(ms));
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /**
   * Refuses a server whose {@code maxmemory-policy} can evict this store's records: every record
   * has a time to live, so every {@code volatile-*} policy can evict live ones, and every
   * {@code allkeys-*} policy can evict them and the token counter. Only {@code noeviction} keeps
   * them (writes then fail when memory is full, which the tracker reports as store failures).
   */
  private void checkEvictionPolicy(StatefulRedisConnection<byte[], byte[]> opened) {
    if (allowEviction) {
      return;
    }
    String policy;
    try {
      policy = opened.sync().configGet("maxmemory-policy").get("maxmemory-policy");
    } catch (RuntimeException e) {
      throw new IdempotencyStoreException("cannot read Redis's maxmemory-policy (" + e.getMessage()
          + "); the idempotency store needs noeviction so that Redis never evicts a live record."
          + " If the server does allow CONFIG GET but is known to be safe, build the store with"
          + " allowEviction(true)", e);
    }
    if (!"noeviction".equals(policy)) {
      throw new IdempotencyStoreException("Redis maxmemory-policy is '" + policy + "', under which"
          + " Redis may evict idempotency records that are still live (a completed request would"
          + " then run again); set maxmemory-policy noeviction, or build the store with"
          + " allowEviction(true) to accept that risk", null);
    }
  }

  /** Runs a script by its SHA, loading it again if Redis lost it (restart, SCRIPT FLUSH). */
  private List<Object> call(String operation, String key, Script script,
      StatefulRedisConnection<byte[], byte[]> connection, byte[][] keys, byte[]... args) {
    RedisAsyncCommands<byte[], byte[]> redis = connection.async();
    try {
      Object reply;
      try {
        reply = await(redis.evalsha(script.sha, ScriptOutputType.MULTI, keys, args));
      } catch (ExecutionException e) {
        if (!(e.getCause() instanceof RedisNoScriptException)) {
          throw e;
        }
        reply = await(redis.eval(script.source, ScriptOutputType.MULTI, keys, args));
      }
      answered(connection);
      if (reply instanceof List<?> list) {
        @SuppressWarnings("unchecked") // Lettuce's MULTI output is a List<Object>.
        List<Object> objects = (List<Object>) list;
        return objects;
      }
      return List.of(reply);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause() == null ? e : e.getCause();
      if (cause instanceof RedisCommandTimeoutException) {
        timedOut(connection);
      } else {
        answered(connection); // Redis answered, with an error
      }
      throw new IdempotencyStoreException(
          "Redis failed to " + operation + " idempotency key '" + key + "': "
              + cause.getMessage(), cause);
    } catch (TimeoutException e) {
      timedOut(connection);
      throw new IdempotencyStoreException(
          "Redis did not answer within " + Duration.ofNanos(timeoutNanos) + " to " + operation
              + " idempotency key '" + key + "'", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IdempotencyStoreException(
          "interrupted while Redis was to " + operation + " idempotency key '" + key + "'", e);
    } catch (RuntimeException e) {
      throw new IdempotencyStoreException(
          "Redis failed to " + operation + " idempotency key '" + key + "': " + e.getMessage(), e);
    }
  }

  /** Counts a command timeout against the connector that owns the connection; see above. */
  private void timedOut(StatefulRedisConnection<byte[], byte[]> c) {
    for (Connector connector : connectors) {
      connector.timedOut(c);
    }
  }

  private void answered(StatefulRedisConnection<byte[], byte[]> c) {
    for (Connector connector : connectors) {
      connector.answered(c);
    }
  }

  private <T> T await(RedisFuture<T> future)
      throws ExecutionException, TimeoutException, InterruptedException {
    try {
      return future.get(timeoutNanos, TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      future.cancel(false);
      throw e;
    }
  }

  @Override
  public String toString() {
    return "RedisIdempotencyStore[" + prefix + "]";
  }

  /**
   * One connection to Redis, opened on first use by one attempt at a time that every caller waits
   * for at most the command timeout (see the block comment on connecting). Thread-safe.
   */
  private final class Connector {
    private final boolean checkEviction;
    private final ReentrantLock lock = new ReentrantLock();
    private volatile @Nullable StatefulRedisConnection<byte[], byte[]> connection;
    /** The connect attempt under way, or null; guarded by {@link #lock}. */
    private @Nullable CompletableFuture<StatefulRedisConnection<byte[], byte[]>> connecting;
    /** Why the last attempt failed, or null if it did not; guarded by {@link #lock}. */
    private @Nullable Throwable failure;
    /** When the last attempt failed ({@link System#nanoTime()}); guarded by {@link #lock}. */
    private long failedAt;
    /** Commands in a row that timed out on the current connection. */
    private final AtomicInteger timeouts = new AtomicInteger();

    Connector(boolean checkEviction) {
      this.checkEviction = checkEviction;
    }

    /**
     * Returns the connection, joining (or starting) the one connect attempt if there is none.
     *
     * @throws IdempotencyStoreException if the attempt failed, failed less than the retry delay
     *     ago, or did not finish within the command timeout
     * @throws IllegalStateException if the store is closed
     */
    StatefulRedisConnection<byte[], byte[]> get(String key) {
      StatefulRedisConnection<byte[], byte[]> c = connection;
      if (c != null) {
        return c;
      }
      CompletableFuture<StatefulRedisConnection<byte[], byte[]>> attempt;
      lock.lock();
      try {
        if (closed) {
          throw new IllegalStateException("Redis idempotency store is closed");
        }
        c = connection;
        if (c != null) {
          return c;
        }
        attempt = connecting;
        if (attempt == null) {
          Throwable last = failure;
          long since = System.nanoTime() - failedAt;
          if (last != null && since < connectRetryDelayNanos) {
            throw new IdempotencyStoreException("cannot connect to Redis for idempotency key '"
                + key + "': " + last.getMessage() + " (the last attempt failed "
                + TimeUnit.NANOSECONDS.toMillis(since) + " ms ago; the next starts "
                + Duration.ofNanos(connectRetryDelayNanos) + " after it)", last);
          }
          CompletableFuture<StatefulRedisConnection<byte[], byte[]>> started =
              new CompletableFuture<>();
          connecting = started;
          Thread.ofVirtual().name("shepherd-idempotency-redis-connect")
              .start(() -> connect(started));
          attempt = started;
        }
      } finally {
        lock.unlock();
      }
      try {
        return attempt.get(timeoutNanos, TimeUnit.NANOSECONDS);
      } catch (ExecutionException e) {
        Throwable cause = e.getCause() == null ? e : e.getCause();
        throw new IdempotencyStoreException("cannot connect to Redis for idempotency key '" + key
            + "': " + cause.getMessage(), cause);
      } catch (TimeoutException e) {
        throw new IdempotencyStoreException("cannot connect to Redis for idempotency key '" + key
            + "': no connection within the command timeout of " + Duration.ofNanos(timeoutNanos)
            + " (the attempt goes on, and later calls wait for it)", e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IdempotencyStoreException(
            "interrupted while connecting to Redis for idempotency key '" + key + "'", e);
      }
    }

    /** One connect attempt, on a thread of its own: opens, checks, publishes the outcome. */
    private void connect(CompletableFuture<StatefulRedisConnection<byte[], byte[]>> attempt) {
      StatefulRedisConnection<byte[], byte[]> opened = null;
      Throwable failed = null;
      try {
        opened = client.connect(ByteArrayCodec.INSTANCE);
        opened.setTimeout(Duration.ofNanos(timeoutNanos));
        if (checkEviction) {
          checkEvictionPolicy(opened);
        }
      } catch (RuntimeException | Error e) {
        failed = e;
      }
      boolean discard = failed != null;
      lock.lock();
      try {
        connecting = null;
        if (failed == null && closed) {
          failed = new IllegalStateException("Redis idempotency store is closed");
          discard = true;
        }
        if (failed == null) {
          connection = opened;
          failure = null;
        } else {
          failure = failed;
          failedAt = System.nanoTime();
        }
      } finally {
        lock.unlock();
      }
      if (discard && opened != null) {
        opened.close();
      }
      if (failed == null) {
        attempt.complete(opened);
      } else {
        attempt.completeExceptionally(failed);
      }
    }

    /**
     * Counts a timeout of a command on {@code c}, if it is this connector's connection, and
     * replaces the connection after MAX_CONSECUTIVE_TIMEOUTS in a row.
     */
    @SuppressWarnings("ReferenceEquality") // identity: is it this very connection?
    void timedOut(StatefulRedisConnection<byte[], byte[]> c) {
      if (connection == c && timeouts.incrementAndGet() >= MAX_CONSECUTIVE_TIMEOUTS) {
        timeouts.set(0);
        LOG.log(System.Logger.Level.WARNING, MAX_CONSECUTIVE_TIMEOUTS + " Redis commands in a"
            + " row timed out on one connection; closing it, the next call opens another");
        discard(c);
      }
    }

    /** Resets the count of timeouts: Redis answered on {@code c}. */
    @SuppressWarnings("ReferenceEquality") // identity: is it this very connection?
    void answered(StatefulRedisConnection<byte[], byte[]> c) {
      if (connection == c && timeouts.get() != 0) {
        timeouts.set(0);
      }
    }

    /** Closes {@code c} if it is still this connector's; the next {@link #get} opens another. */
    @SuppressWarnings("ReferenceEquality") // identity: is it still the very same connection?
    void discard(StatefulRedisConnection<byte[], byte[]> c) {
      lock.lock();
      try {
        if (connection == c) {
          connection = null;
        }
      } finally {
        lock.unlock();
      }
      c.close();
    }

    /** Closes the connection; the store is closed already, so no new one is opened. */
    void close() {
      StatefulRedisConnection<byte[], byte[]> c;
      lock.lock();
      try {
        c = connection;
        connection = null;
      } finally {
        lock.unlock();
      }
      if (c != null) {
        c.close();
      }
    }
  }

  /** A Lua script with its SHA-1, for EVALSHA. */
  private static final class Script {
    final byte[] source;
    final String sha;

    Script(String source) {
      this.source = bytes(source);
      this.sha = sha1(this.source);
    }

    private static String sha1(byte[] source) {
      try {
        byte[] digest = java.security.MessageDigest.getInstance("SHA-1").digest(source);
        return java.util.HexFormat.of().formatHex(digest);
      } catch (java.security.NoSuchAlgorithmException e) {
        throw new IllegalStateException("every JVM has SHA-1", e);
      }
    }
  }

  /** Builds a {@link RedisIdempotencyStore}. Not thread-safe. */
  public static final class Builder {
    private final RedisClient client;
    private String prefix = DEFAULT_PREFIX;
    private Duration commandTimeout = Duration.ofSeconds(5);
    private boolean allowEviction;
    private int replicas;
    private Duration replicaTimeout = Duration.ofSeconds(1);
    private Duration connectRetryDelay = CONNECT_RETRY_DELAY;

    private Builder(RedisClient client) {
      this.client = client;
    }

    /**
     * Accepts a server whose {@code maxmemory-policy} is not {@code noeviction} (or that does not
     * allow {@code CONFIG GET}). Default false: on its first connection the store reads the policy
     * and refuses, with an {@link IdempotencyStoreException} on every call, any policy that can
     * evict its records, because an evicted completed record lets its request run again.
     *
     * @param allow true to skip the check and accept the risk
     * @return this builder
     */
    public Builder allowEviction(boolean allow) {
      this.allowEviction = allow;
      return this;
    }

    /**
     * After every complete and halt, waits with {@code WAIT} until {@code replicas} replicas
     * acknowledged the write, up to {@code timeout}; fewer is an
     * {@link IdempotencyStoreException} (the tracker retries). This narrows, but does not close,
     * the window in which a failover loses a completed record: Redis replication stays
     * asynchronous. The write and its {@code WAIT} run on a connection of their own, one of at
     * most {@value RedisIdempotencyStore#WAIT_CONNECTIONS} (a complete or halt waits for a free
     * one at most the command timeout), so claims and renewals never queue behind a
     * {@code WAIT}. Default 0 (no waiting).
     *
     * @param replicas how many replicas must acknowledge, 0 to turn it off
     * @param timeout the longest {@code WAIT}, at least 1 ms ({@code WAIT} takes milliseconds,
     *     and {@code WAIT n 0} would block forever) and shorter than the command timeout (checked
     *     at {@link #build()}: a {@code WAIT} that may run as long as the command timeout makes
     *     every complete time out while a replica lags)
     * @return this builder
     * @throws NullPointerException if {@code timeout} is null
     * @throws IllegalArgumentException if {@code replicas} is negative or {@code timeout} is
     *     under 1 ms
     */
    public Builder waitForReplicas(int replicas, Duration timeout) {
      this.replicas = Require.atLeast(replicas, 0, "replicas");
      Require.positive(timeout, "timeout");
      Require.argument(timeout.compareTo(Duration.ofMillis(1)) >= 0,
          "waitForReplicas timeout must be at least 1 ms (WAIT takes milliseconds, and WAIT n 0"
              + " blocks forever), was " + timeout);
      this.replicaTimeout = timeout;
      return this;
    }

    /**
     * Sets the prefix of every Redis key the store writes. Default {@value RedisIdempotencyStore#DEFAULT_PREFIX}.
     *
     * @param prefix the prefix, not empty
     * @return this builder
     * @throws NullPointerException if {@code prefix} is null
     * @throws IllegalArgumentException if it is empty
     */
    public Builder keyPrefix(String prefix) {
      this.prefix = Require.notEmpty(prefix, "keyPrefix");
      return this;
    }

    /**
     * Sets how long a command may take before it fails with
     * {@link IdempotencyStoreException}. Default 5 s.
     *
     * @param timeout the timeout, positive
     * @return this builder
     * @throws NullPointerException if {@code timeout} is null
     * @throws IllegalArgumentException if it is not positive
     */
    public Builder commandTimeout(Duration timeout) {
      this.commandTimeout = Require.positive(timeout, "commandTimeout");
      return this;
    }

    /**
     * Sets how long a failed connect is remembered (default 1 s); a test seam, not API.
     *
     * @param delay the delay, positive
     * @return this builder
     */
    Builder connectRetryDelay(Duration delay) {
      this.connectRetryDelay = Require.positive(delay, "connectRetryDelay");
      return this;
    }

    /**
     * Builds the store. It connects on first use.
     *
     * @return the store
     * @throws IllegalStateException if {@link #waitForReplicas(int, Duration)} asks for replicas
     *     with a timeout that is not shorter than the command timeout
     */
    public RedisIdempotencyStore build() {
      Require.state(replicas == 0 || replicaTimeout.compareTo(commandTimeout) < 0,
          "waitForReplicas timeout " + replicaTimeout + " must be shorter than the command timeout "
              + commandTimeout + ": the WAIT and its reply must fit in one command's time");
      return new RedisIdempotencyStore(this);
    }
  }
}
