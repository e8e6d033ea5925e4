package dev.shepherd.idempotency.redis;

import dev.shepherd.core.Durations;
import dev.shepherd.core.Require;
import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.IdempotencyStoreException;
import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.OrphanPolicy;
import dev.shepherd.idempotency.StoredResponse;
import dev.shepherd.idempotency.Tracked;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
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
 * clock ({@code TIME}). Expiry is Redis's: each write sets the hash's time to live in
 * milliseconds ({@code PEXPIRE}): the lease plus retention while in progress, retention once
 * completed or halted; so {@link #prune(int)} has nothing to do. Fencing tokens come from one
 * counter ({@code keyPrefix + "token-seq"}, {@code INCR}), and a take-over never takes a token
 * below the old one plus one. A counter that is missing (first use, or Redis lost its data) starts
 * at the Redis clock in microseconds, so tokens handed out before a data loss are not handed out
 * again unless claims averaged over a million per second.
 *
 * <p>Requirements on the server: Redis 5 or newer (scripts replicated by effects, so {@code TIME}
 * is allowed before writes); an eviction policy that does not evict the token counter
 * ({@code noeviction}, the default, or a {@code volatile-*} policy). On Redis Cluster, give the
 * prefix a hash tag ({@code "{idem}:"}) so a record and the counter share a slot.
 *
 * <p>The store opens one connection from the client on first use (so a service may start while
 * Redis is down) and shares it among all threads; Lettuce reconnects it after a failure. A
 * command that does not answer within the command timeout, or any Redis error, is an
 * {@link IdempotencyStoreException}. {@link #close()} closes that connection, not the client.
 * Thread-safe.
 */
public final class RedisIdempotencyStore implements IdempotencyStore {

  /** The default key prefix. */
  public static final String DEFAULT_PREFIX = "shepherd:idem:";

  /*
   * Hash fields: s state (P in progress, C completed, H halted), t token, f fingerprint,
   * c claimed at (ms since the epoch, Redis clock), l lease until (ms), r response bytes,
   * h halted reason. Numbers are written with string.format('%d') so they compare as strings and
   * never turn into Lua's 1.7e+12 notation.
   */
  private static final String NOW =
      "local tm = redis.call('TIME')\n"
          + "local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)\n";

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
          + "  if oldToken ~= nil then redis.call('HDEL', KEYS[1], 'r', 'h') end\n"
          + "  redis.call('HSET', KEYS[1], 's', 'P', 't', string.format('%d', token), 'f', ARGV[1],"
          + " 'c', string.format('%d', now), 'l', string.format('%d', now + lease))\n"
          + "  redis.call('PEXPIRE', KEYS[1], string.format('%d', lease + retention))\n"
          + "  return {'C', token, now, tookOver}\n"
          + "end\n"
          + "local r = redis.call('HMGET', KEYS[1], 's', 't', 'f', 'c', 'l')\n"
          + "if not r[1] then return claim(0, nil) end\n"
          + "local pttl = redis.call('PTTL', KEYS[1])\n"
          + "if r[3] ~= ARGV[1] then return {'M', pttl, now} end\n"
          + "if r[1] == 'C' then return {'D', pttl, now, redis.call('HGET', KEYS[1], 'r')} end\n"
          + "if r[1] == 'H' then return {'H', pttl, now, redis.call('HGET', KEYS[1], 'h')} end\n"
          + "local leaseUntil = tonumber(r[5])\n"
          + "if leaseUntil > now then return {'P', tonumber(r[4]), leaseUntil - now} end\n"
          + "if ARGV[4] == 'T' then return claim(1, tonumber(r[2])) end\n"
          + "redis.call('HSET', KEYS[1], 's', 'H', 'h', ARGV[5])\n"
          + "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
          + "return {'H', retention, now, ARGV[5]}\n";

  private static final String OWNED =
      "local r = redis.call('HMGET', KEYS[1], 's', 't')\n"
          + "if r[1] ~= 'P' or r[2] ~= ARGV[1] then return 0 end\n";

  static final String RENEW_SCRIPT =
      NOW
          + OWNED
          + "redis.call('HSET', KEYS[1], 'l', string.format('%d', now + tonumber(ARGV[2])))\n"
          + "redis.call('PEXPIRE', KEYS[1], string.format('%d', tonumber(ARGV[2])"
          + " + tonumber(ARGV[3])))\n"
          + "return 1\n";

  static final String COMPLETE_SCRIPT =
      OWNED
          + "redis.call('HSET', KEYS[1], 's', 'C', 'r', ARGV[2])\n"
          + "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
          + "return 1\n";

  static final String HALT_SCRIPT =
      OWNED
          + "redis.call('HSET', KEYS[1], 's', 'H', 'h', ARGV[2])\n"
          + "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
          + "return 1\n";

  static final String RELEASE_SCRIPT = OWNED + "redis.call('DEL', KEYS[1])\nreturn 1\n";

  private final RedisClient client;
  private final String prefix;
  private final byte[] tokenCounter;
  private final long timeoutNanos;
  private final Script claim = new Script(CLAIM_SCRIPT);
  private final Script renew = new Script(RENEW_SCRIPT);
  private final Script complete = new Script(COMPLETE_SCRIPT);
  private final Script halt = new Script(HALT_SCRIPT);
  private final Script release = new Script(RELEASE_SCRIPT);

  private final Object connectLock = new Object();
  private volatile @Nullable StatefulRedisConnection<byte[], byte[]> connection;
  private volatile boolean closed;

  private RedisIdempotencyStore(Builder b) {
    this.client = b.client;
    this.prefix = b.prefix;
    this.tokenCounter = bytes(b.prefix + "token-seq");
    this.timeoutNanos = Durations.toNanosSaturated(b.commandTimeout);
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
    List<Object> reply =
        call(
            "claim",
            key,
            claim,
            new byte[][] {bytes(prefix + key), tokenCounter},
            bytes(fingerprint),
            millis(lease),
            millis(retention),
            bytes(policy == OrphanPolicy.TAKE_OVER ? "T" : "H"),
            bytes(IdempotencyTracker.OWNER_VANISHED));
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
            StoredResponse.fromBytes((byte[]) reply.get(3)), expiresAt(reply));
        case "H" -> new Tracked.Halted(
            new String((byte[]) reply.get(3), StandardCharsets.UTF_8), expiresAt(reply));
        default -> throw new IllegalArgumentException("unknown reply kind " + kind);
      };
    } catch (RuntimeException e) {
      throw new IdempotencyStoreException(
          "Redis returned an unreadable record for idempotency key '" + key + "': " + e, e);
    }
  }

  private static Instant expiresAt(List<Object> reply) {
    long pttl = (Long) reply.get(1);
    return Instant.ofEpochMilli((Long) reply.get(2) + Math.max(0, pttl));
  }

  @Override
  public boolean renew(String key, long fencingToken, Duration lease, Duration retention) {
    return isOne(call("renew", key, renew, keys(key), token(fencingToken), millis(lease),
        millis(retention)));
  }

  @Override
  public boolean complete(
      String key, long fencingToken, StoredResponse response, Duration retention) {
    return isOne(call("complete", key, complete, keys(key), token(fencingToken),
        response.toBytes(), millis(retention)));
  }

  @Override
  public boolean halt(String key, long fencingToken, String reason, Duration retention) {
    return isOne(call("halt", key, halt, keys(key), token(fencingToken), bytes(reason),
        millis(retention)));
  }

  @Override
  public boolean release(String key, long fencingToken) {
    return isOne(call("release", key, release, keys(key), token(fencingToken)));
  }

  /** Returns 0: Redis deletes expired records itself ({@code PEXPIRE}). */
  @Override
  public int prune(int limit) {
    Require.atLeast(limit, 1, "limit");
    return 0;
  }

  /** Closes the store's connection (not the client). Idempotent. */
  @Override
  public void close() {
    synchronized (connectLock) {
      closed = true;
      StatefulRedisConnection<byte[], byte[]> c = connection;
      connection = null;
      if (c != null) {
        c.close();
      }
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

  private StatefulRedisConnection<byte[], byte[]> connection(String key) {
    StatefulRedisConnection<byte[], byte[]> c = connection;
    if (c != null) {
      return c;
    }
    synchronized (connectLock) {
      if (closed) {
        throw new IllegalStateException("Redis idempotency store is closed");
      }
      if (connection == null) {
        try {
          StatefulRedisConnection<byte[], byte[]> opened = client.connect(ByteArrayCodec.INSTANCE);
          opened.setTimeout(Duration.ofNanos(timeoutNanos));
          connection = opened;
        } catch (RuntimeException e) {
          throw new IdempotencyStoreException(
              "cannot connect to Redis for idempotency key '" + key + "': " + e.getMessage(), e);
        }
      }
      return connection;
    }
  }

  /** Runs a script by its SHA, loading it again if Redis lost it (restart, SCRIPT FLUSH). */
  private List<Object> call(
      String operation, String key, Script script, byte[][] keys, byte[]... args) {
    RedisAsyncCommands<byte[], byte[]> redis = connection(key).async();
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
      if (reply instanceof List<?> list) {
        @SuppressWarnings("unchecked") // Lettuce's MULTI output is a List<Object>.
        List<Object> objects = (List<Object>) list;
        return objects;
      }
      return List.of(reply);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause() == null ? e : e.getCause();
      throw new IdempotencyStoreException(
          "Redis failed to " + operation + " idempotency key '" + key + "': "
              + cause.getMessage(), cause);
    } catch (TimeoutException e) {
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

    private Builder(RedisClient client) {
      this.client = client;
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
     * Builds the store. It connects on first use.
     *
     * @return the store
     */
    public RedisIdempotencyStore build() {
      return new RedisIdempotencyStore(this);
    }
  }
}
