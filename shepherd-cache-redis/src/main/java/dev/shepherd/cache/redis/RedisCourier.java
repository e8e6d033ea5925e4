package dev.shepherd.cache.redis;

import dev.shepherd.cache.Courier;
import dev.shepherd.cache.Load;
import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.Require;
import com.google.errorprone.annotations.concurrent.GuardedBy;
import io.lettuce.core.KeyScanCursor;
import io.lettuce.core.RedisChannelHandler;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisConnectionStateListener;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScanArgs;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.SetArgs;
import io.lettuce.core.api.StatefulConnection;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.jspecify.annotations.Nullable;

/**
 * A {@link Courier} (the part of a {@link dev.shepherd.cache.CoalescingCache} that carries out the
 * one load of a missing key) that coalesces across every JVM sharing one Redis: one load per key for
 * the whole cluster, its value or failure handed to the waiters of every JVM, and invalidations
 * that reach every JVM. The cache's API does not change; local hits never touch Redis.
 *
 * <pre>{@code
 * RedisCourier<Long, String> courier = RedisCourier.builder(redisClient, KeyCodec.longs(), ValueCodec.string())
 *     .name("products")                       // the cache's name in Redis, the same in every JVM
 *     .lease(Duration.ofSeconds(10))          // the default
 *     .build();
 * CoalescingCache<Long, String> products = CoalescingCache.<Long, String>builder()
 *     .courier(courier)
 *     .timeToLive(Duration.ofMinutes(5))
 *     .build();
 * }</pre>
 *
 * <h2>What happens on a local miss</h2>
 *
 * The cache coalesces the callers of this JVM into one job; this courier then, in one Lua script
 * (sent from the thread that dispatches the job, so its round trip overlaps the start of the thread
 * that handles the answer):
 * returns the key's value (or kept failure) from the shared tier if it is there (the job completes
 * with it, no load); else, if another JVM holds the key's <em>load lease</em>, this JVM waits; else
 * it takes the lease with a new <em>fencing token</em> ({@code INCR} of a counter, raised to Redis'
 * clock in microseconds when it is behind, so a lost or restored counter repeats no token) and runs the
 * loader, renewing the lease every third of its length while the loader runs. The leader writes its
 * outcome with a second script that checks the token is still the lease's (a leader whose lease
 * lapsed or was invalidated is refused), stores it for the cache's time to live (a failure for
 * {@code cacheFailuresFor}, an {@link Load#ignore ignored} value not at all), deletes the lease and
 * publishes the outcome on the cache's channel with the lease's token; the leader answers its own
 * JVM's callers while that write travels. The waiting JVMs, subscribed to that channel once (when
 * they connect), take the outcome from the message: no polling, no further command. A waiting job
 * takes only the result of the lease it waits on (the token its question saw), so a stale or
 * forged result installs nothing. An outcome larger than {@link Builder#maxMessageValueBytes}
 * (16 KiB) is stored but not broadcast: the message only names the lease, and each waiting JVM
 * reads the value from the shared tier. A waiting JVM looks at the lease again only when it
 * would lapse: if the leader died ({@code kill -9}) the lease is gone and one waiting JVM takes the
 * load over with a new token; if the leader renewed it, it waits for the new expiry.
 *
 * <p>Failures travel as the error's class name and message: each waiter of every JVM gets its own
 * {@link dev.shepherd.cache.LoadFailedException} whose cause is a {@link RemoteLoadException}.
 *
 * <h2>State machines</h2>
 *
 * <pre>
 * mode:  LOCAL --probe: connected, a key written, own message echoed, missed
 *                invalidations replayed until none is left (those made during a replay
 *                are replayed next), local storage cleared--------------------------> CLUSTERED
 *        CLUSTERED --a command failed or was late, a connection dropped, the
 *                subscription's connection did not answer a PING (heartbeat;
 *                closed, the probe opens a new one)--------------------------------> LOCAL
 *                                                         [counted; one WARNING per outage]
 *        LOCAL, CLUSTERED --close(): connections closed, also those a probe
 *                is still opening (closed as soon as they open)-------------------> CLOSED
 * job:   ASKING --value or kept failure in the shared tier----------------------> DONE
 *        ASKING --stored value undecodable here: ask again past it-----------------> ASKING
 *        ASKING --lease free: token = max(INCR, Redis' clock in us)---------------> LEADING
 *        ASKING --lease held by another JVM--------------------------------------> WAITING
 *        WAITING --result message naming the awaited lease's token-----------------> DONE
 *        WAITING --"stored" message (above maxMessageValueBytes): read the tier----> ASKING
 *        WAITING --lease would lapse, invalidation, lease given back, a leader's
 *                write refused (retry message)---------------------------------------> ASKING
 *        WAITING --"not shared" message (too large)-------------------------------> LOCAL LOAD
 *        LEADING --loader returned: fenced write, publish, complete here----------> DONE
 *        LEADING --abandoned or timed out here: lease given back, waiters ask again-> DONE
 *        ASKING, WAITING --mode falls to LOCAL------------------------------------> LOCAL LOAD
 *                 [an answer that comes after the fall back and names a lease the question
 *                  took: the lease is given back, waiters ask again]
 * </pre>
 *
 * A job that leads after waiting counts in {@link Stats#takeovers}; a fenced write refused counts
 * in {@link Stats#refusedWrites}.
 *
 * <h2>Invalidation</h2>
 *
 * {@link dev.shepherd.cache.CoalescingCache#invalidate} removes the key locally, then (before it
 * returns) deletes the key's value and lease in Redis and publishes the invalidation; every other
 * JVM removes the key from its storage with the same rule as a local invalidate (a running load
 * answers its waiters but stores nothing). Deleting the lease makes a running leader's write
 * refused by its token, so a load that may have read the source before the write is stored
 * nowhere. The window: between {@code invalidate} returning and the last JVM removing the key, a
 * hit in another JVM can still answer the old value; it is one pub/sub delivery plus the scheduling
 * of that JVM's message thread ({@code ClusterCoalescingTest} measures it; the module README has
 * figures), and unbounded while Redis is unreachable (see below).
 *
 * <h2>When Redis is down or slow</h2>
 *
 * Every Redis command is bounded by {@link Builder#commandTimeout}; loads never wait for a
 * connection (connections are opened by a background probe). On a failed or late command, when
 * a connection drops, or when the subscription's connection does not answer the {@code PING} sent
 * every {@link Builder#heartbeatInterval} in cluster mode (a connection no byte crosses any more is
 * closed by nobody; it is closed then, and the probe opens a new one), the courier falls back to
 * local coalescing: every job then loads in its own
 * JVM (one load per key per JVM), jobs that were waiting on another JVM load at once, the fall back
 * is counted ({@link Stats#fallbacks}) and logged once (a WARNING per outage). A question whose
 * answer came too late may still have taken the key's lease in Redis; when that answer arrives
 * after all (within the lease), the lease is given back, so the JVMs waiting on it ask again at
 * once instead of waiting for it to lapse. A probe every
 * {@link Builder#probeInterval} reconnects, checks that a message published on the channel comes
 * back through the subscription, replays the invalidations made meanwhile (the keys, up to 10,000;
 * more clears the shared tier of this cache), then those made while it replayed, until none is
 * left (an invalidation is never lost: it is replayed, or sent by its caller once the courier is
 * clustered), clears this JVM's local storage (invalidations of other JVMs may have been missed)
 * and returns to cluster mode. The cache starts in local mode and
 * joins the cluster when the first probe succeeds ({@link #isClustered()}). Per-waiter timeouts,
 * interrupts and {@code cancelWhenAbandoned} are the cache's and keep working in both modes.
 *
 * <h2>Limits</h2>
 *
 * An outcome whose encoding is at most {@link Builder#maxMessageValueBytes} (16 KiB by default)
 * travels inside the result message, which every JVM subscribed to the cache receives; a larger
 * one costs each waiting JVM one more round trip (a read of the shared tier) instead.
 * A value whose encoding is larger than {@link Builder#maxValueBytes} (1 MiB by default), or that
 * the codec cannot encode, is not shared: the leader answers its own JVM, and every JVM that waited
 * loads the key itself (counted in {@link Stats#notShared}). The shared tier keeps values for the
 * cache's time to live (forever without one: set one, or a Redis {@code maxmemory} policy); a JVM
 * that takes a value from the shared tier keeps it locally for what is left of it there (at most
 * its own time to live), so no value is answered longer than one time to live after it was loaded.
 * Keys are {@code keyPrefix + name + ":v:" + key} (values; a {@code ':'} of the name is written
 * {@code %3A} and a {@code '%'} {@code %25}), {@code ":l:"} (leases), {@code ":seq"}
 * (the token counter), {@code ":probe"} (written by each probe) and the channel
 * {@code ":events"}; on Redis Cluster put a hash tag in the name.
 * That key space is the courier's: a key there that holds another type counts as absent and is
 * overwritten, a lease that is no token counts as free, a lease without an expiry is given one. A
 * stored value longer than this JVM's {@code maxValueBytes} is not read from Redis at all (the
 * acquire script checks its length first), and one this JVM cannot decode is not taken: either
 * way the job asks again past it, and the key's leader replaces it.
 * The courier opens two connections from the client (commands, pub/sub) and adds a connection
 * listener to it; {@link #close()} removes both (a connection a probe is still opening is closed
 * as soon as it opens), not the client. One courier serves one cache.
 * Messages received and not yet handled are bounded (10,000, 64 MiB): past that they are dropped
 * and the courier falls back, since an invalidation may be among them. Thread-safe.
 *
 * <h2>Message tags</h2>
 *
 * Without {@link Builder#messageKey} whoever can publish on the channel can make every JVM clear
 * its local storage (an invalidation of every key) or, with a lease token read from Redis, install
 * a value for the key's waiting JVMs. With a key, every message this courier publishes (from Java
 * or through a script) ends with an HMAC-SHA256 tag of the channel's name and the message's bytes,
 * and a received message without a valid tag is dropped before it is read, counted in
 * {@link Stats#rejectedMessages} and logged (a WARNING once, then DEBUG; never its bytes). The tag
 * stops forgery by a party that can publish but has no key; it does not stop replay: a party that
 * can read the channel can publish a recorded message again. A replayed invalidation only costs
 * loads; a replayed result names a lease that is gone and installs nothing (the fence). All JVMs of
 * a cache must share the key: one with another key (or none) neither hears nor is heard by the
 * others, yet its probe (which hears its own messages) keeps it clustered, so keyed and unkeyed
 * JVMs do not coalesce.
 *
 * @param <K> the key's type
 * @param <V> the value's type
 */
public final class RedisCourier<K, V> implements Courier, AutoCloseable {

  /*
   * Who owns a job: a job waiting on another JVM's lease sits in `waiting` under its key's text,
   * with the token of the lease it waits on (UNKNOWN while its question is in flight), held in the
   * ticket of the question that registered it: only that question's answer may set the token (a
   * job handed to a retry and asked again has a new ticket; the old answer, handled late, is
   * stale). Whoever
   * removes it from there (a result naming its token, its lease re-check, an invalidation, a
   * retry or "stored" message, a fall back) owns it and is the only one to act on it; ask() puts it
   * there before asking Redis. The answer and the messages travel on two connections, so a result
   * can come before the answer that names its lease: a result that finds UNKNOWN jobs is kept
   * (one per key) and the answer takes it if the tokens match. A leader's job is never in
   * `waiting`. Messages are handled in order on one thread (inbox); jobs are completed, loads and
   * Redis calls run on the loader executor (virtual threads), never on Lettuce's event loop nor
   * on the inbox (a completion runs the dependent stages of callers' futures, which may block).
   * The inbox holds at most MAX_INBOX_MESSAGES messages and MAX_INBOX_BYTES; past that, messages
   * are dropped and the courier falls back (see received()).
   *
   * Missed invalidations: out of cluster mode an invalidation is remembered (its key, or a clear
   * owed) with a number. The probe replays a copy, then forgets only what was not invalidated again
   * since the copy (an invalidation made during the replay may come after the replay deleted its
   * key, or after the clear passed it), and switches to cluster mode, under `lock`, only when
   * nothing is left; rememberMissed refuses under that lock once clustered, and its caller sends
   * the invalidation itself. So each one is replayed or sent, whenever it is made. A steady stream
   * of invalidations keeps the probe replaying (and the courier local, which is safe) until it
   * eases.
   */

  private static final System.Logger LOG = System.getLogger(RedisCourier.class.getName());

  /** The default prefix of every Redis key and channel of a cache. */
  public static final String DEFAULT_PREFIX = "shepherd:cache:";

  private static final long RECHECK_MARGIN_MILLIS = 20L;
  private static final int DEFAULT_MAX_MESSAGE_VALUE_BYTES = 16 * 1024;
  private static final int MAX_FAILURE_MESSAGE = 1_000;
  private static final int MAX_KEY_BYTES = 64 * 1024;
  private static final int MAX_MISSED_INVALIDATIONS = 10_000;
  /** Messages received and not yet handled, at most; past it they are dropped and we fall back. */
  private static final int MAX_INBOX_MESSAGES = 10_000;
  /** Their bytes, at most (or two of the largest messages, if more). */
  private static final long MAX_INBOX_BYTES = 64L << 20;
  private static final byte[] ZERO = {'0'};
  private static final byte[] ONE = {'1'};
  /** The awaited token of a job whose question to Redis is still in flight. */
  private static final long UNKNOWN = Long.MIN_VALUE;

  // Message kinds (first byte of a message on the channel).
  private static final byte RESULT = 'R';
  private static final byte INVALIDATE = 'I';
  private static final byte INVALIDATE_ALL = 'A';
  private static final byte RETRY = 'X';
  private static final byte NOT_SHARED = 'B';
  private static final byte STORED = 'S';
  private static final byte PROBE = 'P';
  private static final int HEADER = 1 + 8 + 4;
  /** The HMAC-SHA256 tag that ends every message of a courier built with a message key. */
  private static final int TAG_BYTES = 32;
  private static final String MAC = "HmacSHA256";
  /** The shortest message key accepted: as long as the tag. */
  private static final int MIN_MESSAGE_KEY_BYTES = 32;

  // Record kinds (first byte of a stored or published outcome).
  private static final byte VALUE = 'V';
  private static final byte VALUE_TTL = 'T';
  private static final byte IGNORED = 'I';
  private static final byte FAILURE = 'F';

  /*
   * The scripts read the courier's keys with redis.pcall: a key of the cache's key space that holds
   * another type (another application's hash under the same prefix, a hand-made key) answers
   * WRONGTYPE, a fault of that key and not of Redis. Read with redis.call it failed the script, and
   * the courier fell back to local mode at every miss of the key (and cleared its local storage at
   * every return to cluster mode). Instead such a value counts as absent and the leader's write
   * overwrites it; such a lease, or one that is not a token, counts as free and is overwritten; a
   * lease without an expiry (ours always have one) is given one, so it lapses like any other; a
   * counter that is not a number starts again from the clock.
   */

  /**
   * Reads the shared tier, else the lease, else takes the lease. A value longer than the reader's
   * largest record (ARGV[3]) is not sent, so no more than that is read from Redis for it; like a
   * wrong-typed one, it counts as absent and the leader's write replaces it. A token is the larger of the
   * counter plus one and Redis' clock in microseconds: a counter alone starts again after FLUSHALL,
   * an eviction or a restart from an older snapshot, and would hand a lapsed leader's token to the
   * key's next leader, whose fence would then let the lapsed leader's older value in. Tokens stay
   * below 2^53 (exact in Lua's numbers) until the year 2255; they repeat only if Redis' clock goes
   * back by more than the time since the lost tokens were handed out.
   */
  static final String ACQUIRE_SCRIPT =
      "if ARGV[2] ~= '1' then\n"
          + "  local size = redis.pcall('STRLEN', KEYS[1])\n"
          + "  if type(size) == 'number' and size > 0 and size <= tonumber(ARGV[3]) then\n"
          + "    return {'V', redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}\n"
          + "  end\n"
          + "end\n"
          + "local held = redis.pcall('GET', KEYS[2])\n"
          + "if type(held) == 'string' and #held <= 18 and string.match(held, '^[1-9]%d*$') then\n"
          + "  local left = redis.call('PTTL', KEYS[2])\n"
          + "  if left < 0 then\n"
          + "    redis.call('PEXPIRE', KEYS[2], ARGV[1])\n"
          + "    left = tonumber(ARGV[1])\n"
          + "  end\n"
          + "  return {'W', held, left}\n"
          + "end\n"
          + "local now = redis.call('TIME')\n"
          + "local floor = tonumber(now[1]) * 1000000 + tonumber(now[2])\n"
          + "local token = redis.pcall('INCR', KEYS[3])\n"
          + "if type(token) ~= 'number' or token < floor then\n"
          + "  token = floor\n"
          + "  redis.call('SET', KEYS[3], string.format('%d', token))\n"
          + "end\n"
          + "local t = string.format('%d', token)\n"
          + "redis.call('SET', KEYS[2], t, 'PX', ARGV[1])\n"
          + "return {'L', t}\n";

  static final String RENEW_SCRIPT =
      "if redis.pcall('GET', KEYS[1]) ~= ARGV[1] then return 0 end\n"
          + "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
          + "return 1\n";

  /**
   * The fenced write: only the lease's current token may store and publish. A refused write tells
   * the key's waiting JVMs to ask again (ARGV[7], a retry message): those that waited on this lease
   * hear no result for it otherwise, and a lease lost with the rest of Redis' keys (FLUSHALL, an
   * eviction) never lapses for them; they would wait a whole lease. Waiters of a newer lease ask
   * once more and wait on it again. A result carrying its record is the header (ARGV[5]), the
   * record, then the tag of both (ARGV[8], empty without a message key); the other messages come
   * tagged from Java.
   */
  static final String COMMIT_SCRIPT =
      "if redis.pcall('GET', KEYS[1]) ~= ARGV[1] then\n"
          + "  redis.call('PUBLISH', ARGV[4], ARGV[7])\n"
          + "  return 0\n"
          + "end\n"
          + "redis.call('DEL', KEYS[1])\n"
          + "local ttl = tonumber(ARGV[3])\n"
          + "if ttl > 0 then redis.call('SET', KEYS[2], ARGV[2], 'PX', ttl)\n"
          + "elseif ttl < 0 then redis.call('SET', KEYS[2], ARGV[2]) end\n"
          + "if ARGV[6] == '1' then redis.call('PUBLISH', ARGV[4], ARGV[5] .. ARGV[2] .. ARGV[8])\n"
          + "else redis.call('PUBLISH', ARGV[4], ARGV[5]) end\n"
          + "return 1\n";

  static final String RELEASE_SCRIPT =
      "if redis.pcall('GET', KEYS[1]) ~= ARGV[1] then return 0 end\n"
          + "redis.call('DEL', KEYS[1])\n"
          + "redis.call('PUBLISH', ARGV[2], ARGV[3])\n"
          + "return 1\n";

  static final String INVALIDATE_SCRIPT =
      "redis.call('DEL', KEYS[1], KEYS[2])\n"
          + "redis.call('PUBLISH', ARGV[1], ARGV[2])\n"
          + "return 1\n";

  private final RedisClient client;
  private final KeyCodec<K> keys;
  private final ValueCodec<V> values;
  private final String namespace;
  private final long leaseMillis;
  private final byte[] leaseArg;
  private final byte[] maxRecordArg;
  private final Duration commandTimeout;
  private final long commandTimeoutNanos;
  private final int maxValueBytes;
  private final int maxMessageValueBytes;
  private final long probeIntervalMillis;
  private final long heartbeatMillis;
  private final boolean shareFailureMessages;
  private final Executor loaders;
  private final @Nullable Consumer<? super K> onRemoteInvalidation;
  private final byte[] seqKey;
  private final byte[] probeKey;
  private final byte[] channel;
  /** The key of the messages' tags; null: messages carry none and none is checked. */
  private final @Nullable SecretKeySpec messageKey;
  private final long nodeId = new SecureRandom().nextLong();

  private final Script acquire = new Script(ACQUIRE_SCRIPT);
  private final Script renew = new Script(RENEW_SCRIPT);
  private final Script commit = new Script(COMMIT_SCRIPT);
  private final Script release = new Script(RELEASE_SCRIPT);
  private final Script invalidate = new Script(INVALIDATE_SCRIPT);

  private final ConcurrentHashMap<String, Waiters<K, V>> waiting = new ConcurrentHashMap<>();
  private final ExecutorService inbox;
  private final AtomicInteger inboxMessages = new AtomicInteger();
  private final AtomicLong inboxBytes = new AtomicLong();
  /** Whether an invalidation of an undecodable key was logged at WARNING (later ones: DEBUG). */
  private final AtomicBoolean undecodableLogged = new AtomicBoolean();
  /** Whether a message without a valid tag was logged at WARNING (later ones: DEBUG). */
  private final AtomicBoolean rejectedLogged = new AtomicBoolean();
  private final ScheduledThreadPoolExecutor timer;
  private final RedisConnectionStateListener connectionListener = new ConnectionListener();

  private final Object lock = new Object();
  /** Held while connecting (which may take the client's connect timeout), never with {@link #lock}. */
  private final ReentrantLock connectLock = new ReentrantLock();
  private volatile Courier.@Nullable Host<K, V> host;
  private volatile boolean clustered;
  private volatile boolean closed;
  private volatile @Nullable StatefulRedisConnection<byte[], byte[]> commands;
  private volatile @Nullable StatefulRedisPubSubConnection<byte[], byte[]> events;
  private final AtomicBoolean probeScheduled = new AtomicBoolean();
  private volatile @Nullable Echo echo;
  /**
   * Keys invalidated out of cluster mode, each with the number ({@link #missedCount}) of its last
   * such invalidation: a replay forgets a key only if it was not invalidated again since the replay
   * copied it.
   */
  @GuardedBy("lock")
  private final Map<String, Long> missedInvalidations = new LinkedHashMap<>();
  /** How many invalidations were missed since the courier was built; numbers them. */
  @GuardedBy("lock")
  private long missedCount;
  /**
   * The number of the last missed invalidateAll (or overflow of {@link #missedInvalidations}); 0
   * when no clear of the shared tier is owed.
   */
  @GuardedBy("lock")
  private long missedAll;
  /** Whether the warning of the current outage was logged. */
  @GuardedBy("lock")
  private boolean outageLogged;

  private final LongAdder leads = new LongAdder();
  private final LongAdder takeovers = new LongAdder();
  private final LongAdder sharedAnswers = new LongAdder();
  private final LongAdder localLoads = new LongAdder();
  private final LongAdder fallbacks = new LongAdder();
  private final LongAdder refusedWrites = new LongAdder();
  private final LongAdder notShared = new LongAdder();
  private final LongAdder invalidationsSent = new LongAdder();
  private final LongAdder invalidationsReceived = new LongAdder();
  private final LongAdder rejectedMessages = new LongAdder();

  private RedisCourier(Builder<K, V> b) {
    this.client = b.client;
    this.keys = b.keys;
    this.values = b.values;
    // Escaped, so that no name extends another into its keys: unescaped, cache "a"'s key "v:x"
    // was cache "a:v"'s key "x", and "a"'s invalidateAll (SCAN "a:v:*") emptied cache "a:v".
    this.namespace = b.prefix + b.name.replace("%", "%25").replace(":", "%3A") + ":";
    this.leaseMillis = Math.max(1L, b.lease.toMillis());
    this.leaseArg = ascii(Long.toString(leaseMillis));
    this.commandTimeout = b.commandTimeout;
    this.commandTimeoutNanos = Durations.toNanosSaturated(b.commandTimeout);
    this.maxValueBytes = b.maxValueBytes;
    this.maxMessageValueBytes = Math.min(b.maxMessageValueBytes, b.maxValueBytes);
    this.maxRecordArg = ascii(Integer.toString(maxRecordBytes()));
    this.probeIntervalMillis = Math.max(1L, b.probeInterval.toMillis());
    this.heartbeatMillis = Math.max(1L, b.heartbeatInterval.toMillis());
    this.shareFailureMessages = b.shareFailureMessages;
    this.loaders = b.executor;
    this.onRemoteInvalidation = b.onRemoteInvalidation;
    this.seqKey = utf8(namespace + "seq");
    this.probeKey = utf8(namespace + "probe");
    this.channel = utf8(namespace + "events");
    this.messageKey = b.messageKey == null ? null : new SecretKeySpec(b.messageKey, MAC);
    this.inbox =
        Executors.newSingleThreadExecutor(
            Thread.ofPlatform().daemon().name("shepherd-cache-redis-inbox-" + b.name).factory());
    this.timer =
        new ScheduledThreadPoolExecutor(
            1, Thread.ofPlatform().daemon().name("shepherd-cache-redis-timer-" + b.name).factory());
    this.timer.setRemoveOnCancelPolicy(true);
  }

  /**
   * Returns a builder. Defaults: name {@code "default"}, key prefix {@value #DEFAULT_PREFIX}, lease
   * 10 s, command timeout 500 ms, values up to 1 MiB shared, probe every second, loaders on a new
   * virtual thread each.
   *
   * @param client the Lettuce client; the courier opens two connections from it
   * @param keys turns keys into text and back
   * @param values turns values into bytes and back
   * @param <K> the key's type
   * @param <V> the value's type
   * @return a new builder
   * @throws NullPointerException if an argument is null
   */
  public static <K, V> Builder<K, V> builder(
      RedisClient client, KeyCodec<K> keys, ValueCodec<V> values) {
    return new Builder<>(
        Require.nonNull(client, "client"), Require.nonNull(keys, "keys"),
        Require.nonNull(values, "values"));
  }

  /**
   * Returns whether the courier coalesces across JVMs now (false before the first successful probe,
   * while Redis is unreachable, and after {@link #close()}).
   *
   * @return true in cluster mode
   */
  public boolean isClustered() {
    return clustered;
  }

  /**
   * Returns a snapshot of the counters since the courier was built.
   *
   * @return the counters
   */
  public Stats stats() {
    return new Stats(
        leads.sum(), takeovers.sum(), sharedAnswers.sum(), localLoads.sum(), fallbacks.sum(),
        refusedWrites.sum(), notShared.sum(), invalidationsSent.sum(),
        invalidationsReceived.sum(), rejectedMessages.sum());
  }

  /**
   * The courier's counters; each only grows.
   *
   * @param leads loads this JVM ran holding the cluster's lease of the key
   * @param takeovers of those, loads this JVM took over after waiting on another JVM's lease (which
   *     lapsed, was given back, or was deleted by an invalidation)
   * @param sharedAnswers jobs completed with an outcome from the shared tier or another JVM's load
   * @param localLoads loads run without the cluster (local mode, or a key whose waiters fell back)
   * @param fallbacks times the courier fell back from cluster to local mode
   * @param refusedWrites outcomes of this JVM refused because its lease lapsed or was invalidated
   * @param notShared outcomes too large for the shared tier or that the codec could not encode
   * @param invalidationsSent invalidations published to the other JVMs
   * @param invalidationsReceived invalidations of other JVMs applied to this JVM's storage
   * @param rejectedMessages messages received without a valid tag and dropped (with a
   *     {@link Builder#messageKey} only)
   */
  public record Stats(
      long leads,
      long takeovers,
      long sharedAnswers,
      long localLoads,
      long fallbacks,
      long refusedWrites,
      long notShared,
      long invalidationsSent,
      long invalidationsReceived,
      long rejectedMessages) {

    /**
     * The counters of a courier before {@code rejectedMessages} was counted.
     *
     * @param leads see the record
     * @param takeovers see the record
     * @param sharedAnswers see the record
     * @param localLoads see the record
     * @param fallbacks see the record
     * @param refusedWrites see the record
     * @param notShared see the record
     * @param invalidationsSent see the record
     * @param invalidationsReceived see the record
     */
    public Stats(long leads, long takeovers, long sharedAnswers, long localLoads, long fallbacks,
        long refusedWrites, long notShared, long invalidationsSent, long invalidationsReceived) {
      this(leads, takeovers, sharedAnswers, localLoads, fallbacks, refusedWrites, notShared,
          invalidationsSent, invalidationsReceived, 0L);
    }
  }

  // ---- Courier ----

  @Override
  public <K2, V2> void attach(Courier.Host<K2, V2> cacheHost) {
    Require.nonNull(cacheHost, "host");
    synchronized (lock) {
      Require.state(host == null, "a RedisCourier serves one cache; build another for this one");
      Require.state(!closed, "the RedisCourier is closed");
      host = cast(cacheHost);
    }
    client.addListener(connectionListener);
    scheduleProbe(0L);
    try {
      discard(timer.scheduleWithFixedDelay(
          () -> {
            if (clustered && !closed) {
              execute(this::heartbeat);
            }
          },
          heartbeatMillis,
          heartbeatMillis,
          TimeUnit.MILLISECONDS));
    } catch (RejectedExecutionException closing) {
      // closed meanwhile: nothing to watch
    }
  }

  @Override
  public <K2, V2> void dispatch(Courier.Job<K2, V2> job) {
    Courier.Job<K, V> typed = cast(job);
    if (typed.completeFromStorage()) {
      return;
    }
    // The question goes to Redis from the caller's thread without waiting for the answer (Lettuce
    // writes it from its event loop), so its round trip overlaps the start of the thread that
    // handles the answer instead of following it. If the executor rejects that thread, a lease the
    // question took lapses and a waiting JVM takes the load over.
    Question asked = clustered ? ask(typed) : null;
    try {
      loaders.execute(() -> begin(typed, asked));
    } catch (RuntimeException rejected) {
      if (asked != null) {
        unregister(asked.text(), typed);
      }
      throw rejected; // the cache fails the job with it
    }
  }

  @Override
  public void invalidated(Object key) {
    K typed = castKey(key);
    String text = text(typed);
    // Sent in cluster mode, else remembered for the probe to replay; rememberMissed refuses once
    // the probe has clustered (it checks under the lock the probe clusters under), and the
    // invalidation is sent after all: none falls between the two.
    boolean done;
    do {
      done = sendInvalidation(text) || rememberMissed(text);
    } while (!done);
    // Our own jobs waiting on the key's lease: it was just deleted.
    retry(takeWaiting(text));
  }

  /**
   * {@inheritDoc}
   *
   * <p>Here: the key's value and lease are deleted in Redis and the invalidation is published, as
   * for {@link #invalidated}; this JVM ignores its own message, so the value just put stays here.
   * Deleting the lease refuses a running leader's write (it may have read the source before the
   * write that the put reflects). Out of cluster mode it is remembered and replayed by the probe.
   */
  @Override
  public void stored(Object key) {
    invalidated(key);
  }

  @Override
  public void invalidatedAll() {
    boolean done;
    do {
      done = sendInvalidateAll() || rememberMissedAll();
    } while (!done);
    for (String text : List.copyOf(waiting.keySet())) {
      retry(takeWaiting(text));
    }
  }

  /**
   * Deletes the key's value and lease in Redis and publishes the invalidation; false if not
   * clustered, or if Redis failed (then falls back).
   */
  private boolean sendInvalidation(String text) {
    if (!clustered) {
      return false;
    }
    try {
      eval(
          "invalidate",
          text,
          invalidate,
          new byte[][] {valueKey(text), leaseKey(text)},
          channel,
          signed(message(INVALIDATE, text)));
      invalidationsSent.increment();
      return true;
    } catch (RedisTrouble e) {
      fallBack(e);
      return false;
    }
  }

  /**
   * Clears the shared tier and publishes the invalidation of every key; false if not clustered, or
   * if Redis failed (then falls back).
   */
  private boolean sendInvalidateAll() {
    if (!clustered) {
      return false;
    }
    try {
      clearSharedTier();
      publish(signed(message(INVALIDATE_ALL, "")));
      invalidationsSent.increment();
      return true;
    } catch (RedisTrouble e) {
      fallBack(e);
      return false;
    }
  }

  /**
   * Stops coalescing across JVMs: closes the courier's connections and threads (not the client) and
   * hands every job still waiting on another JVM to a local load. Jobs dispatched afterwards load
   * locally. Does not wait for a probe that is connecting: what it opens is closed as soon as it
   * is open. Idempotent.
   */
  @Override
  public void close() {
    synchronized (lock) {
      if (closed) {
        return;
      }
      closed = true;
      clustered = false;
    }
    client.removeListener(connectionListener);
    closeConnections();
    timer.shutdownNow();
    inbox.shutdownNow();
    for (String text : List.copyOf(waiting.keySet())) {
      runLocally(takeWaiting(text));
    }
  }

  @Override
  public String toString() {
    return "RedisCourier[" + namespace + (clustered ? ", clustered" : ", local") + "]";
  }

  // ---- a job's life ----

  private void begin(Courier.Job<K, V> job, @Nullable Question asked) {
    if (asked != null) {
      answered(job, asked, false);
      return;
    }
    if (job.completeFromStorage()) {
      return;
    }
    if (!clustered) {
      try {
        text(job.key()); // refused in every mode, not only while clustered
      } catch (RuntimeException e) {
        job.complete(Load.fail(e));
        return;
      }
      runLocally(job);
      return;
    }
    acquire(job, false, false);
  }

  /**
   * The key's text from the codec, checked to have a UTF-8 form: an unpaired surrogate would
   * become '?' in its bytes, so two such keys would name one Redis key (one answered the other's
   * value) and an invalidation would reach the other JVMs as a third key.
   *
   * @throws IllegalArgumentException if the text has an unpaired surrogate, or is longer than
   *     {@link #MAX_KEY_BYTES} in UTF-8 (receivers drop a message naming a longer key)
   */
  private String text(K key) {
    String text = keys.encode(key);
    long bytes = 0;
    for (int i = 0; i < text.length(); i++) {
      char ch = text.charAt(i);
      bytes += ch < 0x80 ? 1 : ch < 0x800 ? 2 : 3;
      if (Character.isHighSurrogate(ch) && i + 1 < text.length()
          && Character.isLowSurrogate(text.charAt(i + 1))) {
        i++;
        bytes++; // a pair is 4 bytes
      } else if (Character.isSurrogate(ch)) {
        throw new IllegalArgumentException(
            "the text of key " + key + " has an unpaired surrogate at index " + i + " (U+"
                + HexFormat.of().withUpperCase().toHexDigits(ch)
                + "): it has no UTF-8 form and would name another key in Redis; make the KeyCodec"
                + " produce well-formed text");
      }
    }
    if (bytes > MAX_KEY_BYTES) {
      // Every receiver drops a message naming a longer key: its invalidation would reach no JVM.
      throw new IllegalArgumentException("the text of a key is " + bytes + " bytes in UTF-8, more"
          + " than the " + MAX_KEY_BYTES + " a message between JVMs carries; make the KeyCodec"
          + " produce shorter text (a digest, for example)");
    }
    return text;
  }

  /**
   * The acquire script's question about a job's key, sent and not yet answered; kept whole so it
   * can be sent again as EVAL when Redis lost the script.
   */
  private static final class Question {
    private final String text;
    private final byte[][] scriptKeys;
    private final byte[][] args;
    private final RedisFuture<Object> sent;
    private final @Nullable Ticket ticket;

    Question(
        String text,
        byte[][] scriptKeys,
        byte[][] args,
        RedisFuture<Object> sent,
        @Nullable Ticket ticket) {
      this.text = text;
      this.scriptKeys = scriptKeys;
      this.args = args;
      this.sent = sent;
      this.ticket = ticket;
    }

    String text() {
      return text;
    }

    byte[][] scriptKeys() {
      return scriptKeys;
    }

    byte[][] args() {
      return args;
    }

    RedisFuture<Object> sent() {
      return sent;
    }

    /** The job's registration in {@code waiting} made for this question (null for a write). */
    @Nullable Ticket ticket() {
      return ticket;
    }
  }

  /**
   * Registers the job as waiting on its key, then sends the acquire script without waiting for its
   * answer. Returns null, with the job not registered, if the key cannot be encoded or the
   * question cannot be sent ({@link #acquire} then fails the job or falls back).
   *
   * @param takeStored read the shared tier even for a refresh (another JVM just stored the value)
   * @param passStored do not read the shared tier: what it holds could not be decoded here, so this
   *     job takes the lease (or waits on it) and the leader's write replaces it
   */
  private @Nullable Question ask(Courier.Job<K, V> job, boolean takeStored, boolean passStored) {
    String text;
    try {
      text = text(job.key());
    } catch (RuntimeException e) {
      return null;
    }
    Ticket ticket = register(text, job);
    byte[][] scriptKeys = {valueKey(text), leaseKey(text), seqKey};
    byte[][] args = {
      leaseArg, passStored || (job.isRefresh() && !takeStored) ? ONE : ZERO, maxRecordArg
    };
    try {
      return new Question(text, scriptKeys, args, send(acquire, scriptKeys, args), ticket);
    } catch (RedisTrouble e) {
      unregister(text, job);
      return null;
    }
  }

  private @Nullable Question ask(Courier.Job<K, V> job) {
    return ask(job, false, false);
  }

  private void acquire(Courier.Job<K, V> job, boolean waitedBefore, boolean takeStored) {
    acquire(job, waitedBefore, takeStored, false);
  }

  private void acquire(
      Courier.Job<K, V> job, boolean waitedBefore, boolean takeStored, boolean passStored) {
    if (job.isDone()) {
      return;
    }
    String text;
    try {
      text = text(job.key());
    } catch (RuntimeException e) {
      job.complete(Load.fail(e));
      return;
    }
    Question asked = ask(job, takeStored, passStored);
    if (asked == null) {
      fallBack(new RedisTrouble("cannot send the acquire script of key " + text, null));
      runLocally(job);
      return;
    }
    answered(job, asked, waitedBefore);
  }

  private void answered(Courier.Job<K, V> job, Question asked, boolean waitedBefore) {
    String text = asked.text();
    List<Object> reply;
    try {
      reply =
          reply("acquire", text, asked.sent(), acquire, asked.scriptKeys(), asked.args(), true);
    } catch (RedisTrouble e) {
      RedisFuture<?> unanswered = e.unanswered();
      if (unanswered != null) {
        giveBackWhenAnswered(text, unanswered);
      }
      fallBack(e); // hands every waiting job, this one too if still registered, to a local load
      if (unregister(text, job)) {
        runLocally(job);
      }
      return;
    }
    try {
      String kind = ascii((byte[]) reply.get(0));
      switch (kind) {
        case "V" -> {
          boolean mine = unregister(text, job);
          Load<V> load = readable(text, (byte[]) reply.get(1), (Long) reply.get(2));
          if (load != null) {
            sharedAnswers.increment();
            job.complete(load);
          } else if (mine) { // else a message or another path acts on the job already
            // Not a value this JVM can read (corrupt, foreign, another codec): kept, it would make
            // every JVM load the key alone until it expires (if ever). Ask again past it: the
            // key's leader, here or elsewhere, replaces it. Such a question never answers "V".
            acquire(job, waitedBefore, false, true);
          }
        }
        case "W" -> {
          long token = Long.parseLong(ascii((byte[]) reply.get(1)));
          long pttl = (Long) reply.get(2);
          if (!clustered) {
            if (unregister(text, job)) {
              runLocally(job);
            }
            return;
          }
          Awaited awaited = awaitToken(text, job, asked.ticket(), token);
          byte[] early = awaited.record();
          if (early != null) {
            // The leader's result message came in before this answer.
            sharedAnswers.increment();
            complete(job, text, early, -1L);
          } else if (awaited.mine()) {
            scheduleRecheck(text, job, pttl);
          }
        }
        case "L" -> {
          long token = Long.parseLong(ascii((byte[]) reply.get(1)));
          if (!unregister(text, job)) {
            // Someone else took the job meanwhile (a result arrived): give the lease back.
            releaseQuietly(text, token, RETRY);
            return;
          }
          lead(job, text, token, waitedBefore);
        }
        default -> throw new IllegalStateException("unknown reply " + kind);
      }
    } catch (RuntimeException e) {
      LOG.log(System.Logger.Level.WARNING, "unreadable reply from Redis for key " + text, e);
      if (unregister(text, job)) {
        runLocally(job);
      }
    }
  }

  private void lead(Courier.Job<K, V> job, String text, long token, boolean takeover) {
    leads.increment();
    if (takeover) {
      takeovers.increment();
    }
    long every = Math.max(1L, leaseMillis / 3);
    AtomicBoolean lost = new AtomicBoolean();
    ScheduledFuture<?> renewal =
        timer.scheduleAtFixedRate(
            () -> execute(() -> renewLease(text, token, lost)), every, every, TimeUnit.MILLISECONDS);
    Load<? extends V> load;
    try {
      load = job.runLoader();
    } finally {
      renewal.cancel(false);
    }
    if (load == null) {
      // Abandoned or timed out here: let a waiting JVM load instead.
      releaseQuietly(text, token, RETRY);
      return;
    }
    Load<? extends V> outcome = withoutNull(load, job.key());
    Encoded encoded = encode(text, outcome);
    if (encoded == null) {
      job.complete(outcome);
      notShared.increment();
      releaseQuietly(text, token, NOT_SHARED);
      return;
    }
    // The fenced write goes out first; this JVM's callers are answered while it travels.
    Question write = null;
    try {
      write = sendCommit(text, token, encoded);
    } catch (RedisTrouble e) {
      fallBack(e);
    }
    job.complete(outcome);
    if (write != null) {
      try {
        List<Object> reply =
            reply("store the outcome of", text, write.sent(), commit, write.scriptKeys(),
                write.args(), false);
        if (Long.valueOf(0L).equals(reply.get(0))) {
          refusedWrites.increment();
        }
      } catch (RedisTrouble e) {
        fallBack(e);
      }
    }
  }

  private void renewLease(String text, long token, AtomicBoolean lost) {
    if (lost.get() || closed) {
      return;
    }
    try {
      List<Object> reply =
          eval("renew the lease of", text, renew, new byte[][] {leaseKey(text)},
              ascii(Long.toString(token)), leaseArg);
      if (Long.valueOf(0L).equals(reply.get(0))) {
        lost.set(true); // lapsed or invalidated: our write will be refused
      }
    } catch (RedisTrouble e) {
      // Not lost: one late or failed renewal says nothing of the lease, which may well still be
      // ours. The next one tries again (in local mode too: the script is fenced), so a leader
      // whose Redis was slow for a moment keeps its load instead of letting it lapse and be
      // loaded a second time by a waiting JVM.
      fallBack(e);
    }
  }

  /** An outcome as the shared tier keeps it: the record and how long to keep it. */
  private static final class Encoded {
    private final byte[] record;
    private final long ttlMillis;

    Encoded(byte[] record, long ttlMillis) {
      this.record = record;
      this.ttlMillis = ttlMillis;
    }

    byte[] record() {
      return record;
    }

    long ttlMillis() {
      return ttlMillis;
    }
  }

  /** Encodes the outcome for the cluster, or returns null if it cannot be shared (too large). */
  private @Nullable Encoded encode(String text, Load<? extends V> outcome) {
    byte[] record;
    long ttlMillis;
    try {
      record = record(outcome);
      ttlMillis = storeMillis(outcome);
    } catch (Exception e) {
      LOG.log(System.Logger.Level.WARNING,
          "the value of key " + text + " cannot be encoded; each JVM loads it itself", e);
      return null;
    }
    return record.length > maxValueBytes ? null : new Encoded(record, ttlMillis);
  }

  /**
   * Sends the fenced write of the leader's outcome without waiting for the answer. The script
   * publishes the record inside the result message when it is at most
   * {@link Builder#maxMessageValueBytes} (or is not stored at all); otherwise the message only says
   * the value is stored, and each waiting JVM reads it from the shared tier.
   */
  private Question sendCommit(String text, long token, Encoded encoded) throws RedisTrouble {
    boolean inline = encoded.record().length <= maxMessageValueBytes || encoded.ttlMillis() == 0L;
    byte[][] scriptKeys = {leaseKey(text), valueKey(text)};
    byte[] header = message(inline ? RESULT : STORED, text, token);
    byte[][] args = {
      ascii(Long.toString(token)),
      encoded.record(),
      ascii(Long.toString(encoded.ttlMillis())),
      channel,
      inline ? header : signed(header),
      inline ? ONE : ZERO,
      signed(message(RETRY, text)),
      inline && messageKey != null ? tag(header, encoded.record()) : new byte[0]
    };
    return new Question(text, scriptKeys, args, send(commit, scriptKeys, args), null);
  }

  private void releaseQuietly(String text, long token, byte kind) {
    try {
      eval("release the lease of", text, release, new byte[][] {leaseKey(text)},
          ascii(Long.toString(token)), channel, signed(message(kind, text)));
    } catch (RedisTrouble e) {
      fallBack(e);
    }
  }

  /**
   * An acquire question this JVM stopped waiting for (late answer, interrupt) still runs in Redis
   * and may take the lease, which nobody here will load under: the job went to a local load. When
   * its answer comes in after all and names a lease this question took, the lease is given back
   * with RETRY, so the JVMs waiting on it ask again at once instead of waiting for it to lapse. A
   * question that never lands leaves no lease; one whose connection drops leaves a lease that
   * lapses.
   */
  private void giveBackWhenAnswered(String text, RedisFuture<?> unanswered) {
    discard(unanswered.whenComplete((reply, error) -> {
      if (error != null || !(reply instanceof List<?> list) || list.size() < 2
          || !(list.get(0) instanceof byte[] kind) || !"L".equals(ascii(kind))
          || !(list.get(1) instanceof byte[] leased)) {
        return;
      }
      long token;
      try {
        token = Long.parseLong(ascii(leased));
      } catch (NumberFormatException e) {
        return; // unreadable: the lease lapses
      }
      // Not on Lettuce's event loop: the release waits for Redis.
      execute(() -> releaseQuietly(text, token, RETRY));
    }).toCompletableFuture());
  }

  private void scheduleRecheck(String text, Courier.Job<K, V> job, long pttl) {
    long delay = Math.max(1L, pttl) + RECHECK_MARGIN_MILLIS;
    try {
      // Nothing to wait for: the task hands itself to the executor and reports nothing.
      discard(timer.schedule(
          () -> execute(() -> {
            if (!unregister(text, job)) {
              return; // a message or another path owns it now
            }
            if (job.isDone()) {
              return;
            }
            if (clustered) {
              acquire(job, true, false);
            } else {
              runLocally(job);
            }
          }),
          delay,
          TimeUnit.MILLISECONDS));
    } catch (RejectedExecutionException closing) {
      if (unregister(text, job)) {
        runLocally(job);
      }
    }
  }

  private void runLocally(Courier.Job<K, V> job) {
    if (job.isDone() || job.completeFromStorage()) {
      return;
    }
    localLoads.increment();
    job.run();
  }

  private void runLocally(Set<Courier.Job<K, V>> jobs) {
    for (Courier.Job<K, V> job : jobs) {
      execute(() -> runLocally(job));
    }
  }

  private void retry(Set<Courier.Job<K, V>> jobs) {
    retry(jobs, false);
  }

  /**
   * Asks Redis again for each job (on the loader executor), or loads locally out of cluster mode.
   *
   * @param takeStored read the shared tier even for a refresh: another JVM just stored the value
   */
  private void retry(Set<Courier.Job<K, V>> jobs, boolean takeStored) {
    for (Courier.Job<K, V> job : jobs) {
      execute(() -> {
        if (clustered) {
          acquire(job, true, takeStored);
        } else {
          runLocally(job);
        }
      });
    }
  }

  private void execute(Runnable task) {
    try {
      loaders.execute(task);
    } catch (RejectedExecutionException e) {
      LOG.log(System.Logger.Level.WARNING, "loader executor rejected a task of " + this, e);
    }
  }

  /** The largest record this courier reads: a value of {@code maxValueBytes} and its header. */
  private int maxRecordBytes() {
    return maxValueBytes > Integer.MAX_VALUE - 9 ? Integer.MAX_VALUE : maxValueBytes + 9;
  }

  /** Completes a job with an outcome from a message, or loads it here if it cannot be read. */
  private void complete(Courier.Job<K, V> job, String text, byte[] record, long pttl) {
    Load<V> load = readable(text, record, pttl);
    if (load == null) {
      execute(() -> runLocally(job)); // the loader on its executor, whatever thread decoded
      return;
    }
    job.complete(load);
  }

  /** Decodes a shared outcome, or logs why it cannot and returns null. */
  private @Nullable Load<V> readable(String text, byte[] record, long pttl) {
    try {
      if (record.length > maxRecordBytes()) {
        throw new IllegalArgumentException(
            "shared record of " + record.length + " bytes exceeds maxValueBytes " + maxValueBytes);
      }
      return decode(record, pttl);
    } catch (Exception e) {
      LOG.log(System.Logger.Level.WARNING,
          "unreadable shared outcome of key " + text + " (" + record.length + " bytes, codec "
              + values + "); not taken", e);
      return null;
    }
  }

  // ---- waiting jobs ----

  /**
   * The jobs of this JVM waiting on one key, each with the lease token it waits on ({@link #UNKNOWN}
   * while its question to Redis is in flight), and the last result published while a question was
   * in flight (its answer may name that very lease: the message and the answer travel on two
   * connections, so the message can come first). Only touched inside {@code waiting.compute}.
   */
  private static final class Waiters<K, V> {
    final Map<Courier.Job<K, V>, Ticket> tokens = new HashMap<>(2);
    long earlyToken = UNKNOWN;
    byte @Nullable [] earlyRecord;
  }

  /**
   * One registration of a job in {@code waiting}, made by one question: the token of the lease its
   * answer named ({@link #UNKNOWN} until then). A job taken out and asked again (a retry message
   * came while its first answer was still to be handled) gets a new ticket, so that first answer,
   * handled late on its own thread, cannot make the job await a lease older than the one its
   * newer question saw. Only touched inside {@code waiting.compute}.
   */
  private static final class Ticket {
    long token = UNKNOWN;
  }

  /** What {@link #awaitToken} found: the job is no longer this path's, waits, or has its result. */
  private static final class Awaited {
    private final boolean mine;
    private final byte @Nullable [] record;

    Awaited(boolean mine, byte @Nullable [] record) {
      this.mine = mine;
      this.record = record;
    }

    boolean mine() {
      return mine;
    }

    byte @Nullable [] record() {
      return record;
    }
  }

  private Ticket register(String text, Courier.Job<K, V> job) {
    Ticket ticket = new Ticket();
    waiting.compute(
        text,
        (k, w) -> {
          Waiters<K, V> ws = w == null ? new Waiters<>() : w;
          ws.tokens.put(job, ticket);
          return ws;
        });
    return ticket;
  }

  private boolean unregister(String text, Courier.Job<K, V> job) {
    boolean[] removed = new boolean[1];
    waiting.computeIfPresent(
        text,
        (k, w) -> {
          removed[0] = w.tokens.remove(job) != null;
          return w.tokens.isEmpty() ? null : w;
        });
    return removed[0];
  }

  private Set<Courier.Job<K, V>> takeWaiting(String text) {
    Waiters<K, V> w = waiting.remove(text);
    return w == null ? Set.of() : w.tokens.keySet();
  }

  /**
   * Records that a registered job waits on the lease with this token; if the result of that lease
   * already came in, takes the job out and returns the result instead. Does nothing unless the job
   * is still registered with the ticket of the question that was answered.
   */
  private Awaited awaitToken(
      String text, Courier.Job<K, V> job, @Nullable Ticket ticket, long token) {
    Awaited[] out = {new Awaited(false, null)};
    waiting.computeIfPresent(
        text,
        (k, w) -> {
          Ticket current = w.tokens.get(job);
          if (current == null || current != ticket || current.token != UNKNOWN) {
            // A message or another path owns it now, or it was asked again: a newer question's
            // answer decides what it waits on.
            return w;
          }
          byte[] early = w.earlyRecord;
          if (early != null && w.earlyToken == token) {
            w.tokens.remove(job);
            out[0] = new Awaited(true, early);
            return w.tokens.isEmpty() ? null : w;
          }
          current.token = token;
          out[0] = new Awaited(true, null);
          return w;
        });
    return out[0];
  }

  /**
   * Takes out the jobs waiting on the lease whose token the result names; a result naming another
   * lease (stale, or not from a leader) answers nobody. Kept for jobs whose question is in flight.
   */
  private List<Courier.Job<K, V>> takeResult(String text, long token, byte[] record) {
    List<Courier.Job<K, V>> taken = new ArrayList<>(2);
    waiting.computeIfPresent(
        text,
        (k, w) -> {
          boolean asking = false;
          for (Iterator<Map.Entry<Courier.Job<K, V>, Ticket>> it = w.tokens.entrySet().iterator();
              it.hasNext(); ) {
            Map.Entry<Courier.Job<K, V>, Ticket> e = it.next();
            long awaited = e.getValue().token;
            if (awaited == token) {
              taken.add(e.getKey());
              it.remove();
            } else if (awaited == UNKNOWN) {
              asking = true;
            }
          }
          if (asking) {
            w.earlyToken = token;
            w.earlyRecord = record;
          }
          return w.tokens.isEmpty() ? null : w;
        });
    return taken;
  }

  // ---- messages ----

  /** The largest message a courier of this cache sends. */
  private long maxMessageBytes() {
    return HEADER + MAX_KEY_BYTES + 8L + maxRecordBytes() + (messageKey == null ? 0 : TAG_BYTES);
  }

  /**
   * Hands a message from Lettuce's event loop to the inbox, within a bound: at most
   * {@link #MAX_INBOX_MESSAGES} messages and {@link #MAX_INBOX_BYTES} waiting. With the inbox's
   * thread held (a slow {@code onRemoteInvalidation} listener, a long pause) a busy channel, or
   * anyone who can publish on it, would otherwise grow the heap without limit. A message past the
   * bound is dropped; an invalidation may be among them, so the JVM falls back, and the probe
   * (whose own message must come through this inbox) brings it back, clearing its local storage,
   * once the inbox keeps up. A message larger than any courier sends is not even queued, nor is
   * one without a valid tag when the courier has a message key (it is counted and dropped here).
   */
  private void received(byte[] tagged) {
    if (tagged.length < HEADER || tagged.length > maxMessageBytes()) {
      if (messageKey != null) {
        rejected(tagged.length);
      } else {
        LOG.log(System.Logger.Level.DEBUG, "message of " + tagged.length + " bytes ignored");
      }
      return;
    }
    byte[] message = tagged;
    if (messageKey != null) {
      // Checked here, before the message takes room in the inbox: a flood of forged messages
      // (whoever can publish, without the key) is dropped and never makes this JVM fall back.
      int length = tagged.length - TAG_BYTES;
      if (length < HEADER) {
        rejected(tagged.length);
        return;
      }
      message = Arrays.copyOf(tagged, length);
      if (!MessageDigest.isEqual(
          tag(message), Arrays.copyOfRange(tagged, length, tagged.length))) {
        rejected(tagged.length);
        return;
      }
    }
    byte[] accepted = message;
    long budget = Math.max(MAX_INBOX_BYTES, 2L * maxMessageBytes());
    if (inboxMessages.incrementAndGet() > MAX_INBOX_MESSAGES
        || inboxBytes.addAndGet(accepted.length) > budget) {
      inboxMessages.decrementAndGet();
      inboxBytes.addAndGet(-accepted.length);
      if (clustered && !closed) {
        execute(() -> fallBack(new RedisTrouble("the courier's message thread is "
            + MAX_INBOX_MESSAGES + " messages or " + budget + " bytes behind on " + ascii(channel)
            + "; messages are dropped until it catches up", null)));
      }
      return;
    }
    try {
      inbox.execute(() -> {
        try {
          onMessage(accepted);
        } finally {
          inboxMessages.decrementAndGet();
          inboxBytes.addAndGet(-accepted.length);
        }
      });
    } catch (RejectedExecutionException closing) {
      inboxMessages.decrementAndGet(); // closed: nothing to do
      inboxBytes.addAndGet(-accepted.length);
    }
  }

  private void onMessage(byte[] message) {
    ByteBuffer in = ByteBuffer.wrap(message);
    byte kind = in.get();
    long sender = in.getLong();
    int keyLength = in.getInt();
    if (keyLength < 0 || keyLength > MAX_KEY_BYTES || keyLength > in.remaining()) {
      LOG.log(System.Logger.Level.DEBUG, "malformed message on " + ascii(channel) + " ignored");
      return;
    }
    String text = new String(message, HEADER, keyLength, StandardCharsets.UTF_8);
    int bodyAt = HEADER + keyLength;
    switch (kind) {
      case PROBE -> {
        Echo expected = echo;
        if (sender == nodeId && expected != null && expected.nonce.equals(text)) {
          expected.future.complete(null);
        }
      }
      case RESULT -> {
        if (message.length - bodyAt < 8) {
          LOG.log(System.Logger.Level.DEBUG, "result message without a token ignored");
          return;
        }
        long token = ByteBuffer.wrap(message, bodyAt, 8).getLong();
        if (token <= 0L || !waiting.containsKey(text)) {
          return; // nobody here waits on the key (tokens come from INCR and TIME: a leader's is positive)
        }
        byte[] record = Arrays.copyOfRange(message, bodyAt + 8, message.length);
        // Completed on the loader executor, not here: completing a job also completes the
        // fetchAsync futures of its callers, whose dependent stages run on the completing thread
        // and may block; this thread must stay free for the next message (an invalidation).
        for (Courier.Job<K, V> job : takeResult(text, token, record)) {
          sharedAnswers.increment();
          execute(() -> complete(job, text, record, -1L));
        }
      }
      case STORED -> retry(takeWaiting(text), true); // too large for a message: read it in Redis
      case INVALIDATE -> {
        if (sender != nodeId) {
          applyRemoteInvalidation(text);
        }
        retry(takeWaiting(text));
      }
      case INVALIDATE_ALL -> {
        Courier.Host<K, V> h = host;
        if (sender != nodeId && h != null) {
          h.invalidateAllLocally();
          invalidationsReceived.increment();
        }
        for (String waitingKey : List.copyOf(waiting.keySet())) {
          retry(takeWaiting(waitingKey));
        }
      }
      case RETRY -> retry(takeWaiting(text));
      case NOT_SHARED -> runLocally(takeWaiting(text));
      default -> LOG.log(System.Logger.Level.DEBUG, "unknown message kind " + kind + " ignored");
    }
  }

  private void applyRemoteInvalidation(String text) {
    Courier.Host<K, V> h = host;
    if (h == null) {
      return;
    }
    K key;
    try {
      key = keys.decode(text);
    } catch (RuntimeException e) {
      // The text came from whoever published it: escaped and cut (a newline would write a line of
      // its own into the log), without the exception (its message repeats the text), and at
      // WARNING only once (a flood of them would flood the log).
      boolean first = undecodableLogged.compareAndSet(false, true);
      LOG.log(first ? System.Logger.Level.WARNING : System.Logger.Level.DEBUG,
          "invalidation of a key the KeyCodec cannot decode, ignored: \"" + printable(text)
              + "\" (" + e.getClass().getName() + ")"
              + (first ? "; later ones are logged at DEBUG" : ""));
      return;
    }
    h.invalidateLocally(key);
    invalidationsReceived.increment();
    Consumer<? super K> listener = onRemoteInvalidation;
    if (listener != null) {
      try {
        listener.accept(key);
      } catch (RuntimeException e) {
        LOG.log(System.Logger.Level.WARNING, "onRemoteInvalidation listener failed", e);
      }
    }
  }

  /** Text from the channel as a log may show it: control characters escaped, cut at 100. */
  private static String printable(String text) {
    StringBuilder out = new StringBuilder(Math.min(text.length(), 100) + 16);
    for (int i = 0; i < text.length() && i < 100; i++) {
      char ch = text.charAt(i);
      switch (ch) {
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        default -> {
          if (Character.isISOControl(ch) || Character.isSurrogate(ch)) {
            out.append("\\u").append(HexFormat.of().toHexDigits(ch));
          } else {
            out.append(ch);
          }
        }
      }
    }
    if (text.length() > 100) {
      out.append("... (").append(text.length()).append(" characters)");
    }
    return out.toString();
  }

  /** Counts and logs a message dropped for its missing or wrong tag; its bytes are not shown. */
  private void rejected(int length) {
    rejectedMessages.increment();
    boolean first = rejectedLogged.compareAndSet(false, true);
    LOG.log(first ? System.Logger.Level.WARNING : System.Logger.Level.DEBUG,
        "message of " + length + " bytes on " + ascii(channel) + " without a valid tag dropped:"
            + " published by a JVM of this cache with another messageKey (or none), or by a party"
            + " without the key" + (first ? "; later ones are logged at DEBUG" : ""));
  }

  /** The message followed by its tag; the message itself without a message key. */
  private byte[] signed(byte[] message) {
    if (messageKey == null) {
      return message;
    }
    byte[] tag = tag(message);
    byte[] out = Arrays.copyOf(message, message.length + TAG_BYTES);
    System.arraycopy(tag, 0, out, message.length, TAG_BYTES);
    return out;
  }

  /** The HMAC-SHA256 of the channel's name (and its length) and the parts, in order. */
  private byte[] tag(byte[]... parts) {
    SecretKeySpec key = Require.nonNull(messageKey, "messageKey");
    Mac mac;
    try {
      mac = Mac.getInstance(MAC);
      mac.init(key);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(MAC + " is missing from this JVM", e);
    }
    mac.update(ByteBuffer.allocate(4).putInt(channel.length).array());
    mac.update(channel);
    for (byte[] part : parts) {
      mac.update(part);
    }
    return mac.doFinal();
  }

  private byte[] message(byte kind, String text) {
    byte[] key = utf8(text);
    return ByteBuffer.allocate(HEADER + key.length)
        .put(kind)
        .putLong(nodeId)
        .putInt(key.length)
        .put(key)
        .array();
  }

  /** A message about one lease's outcome: the header, then the lease's token. */
  private byte[] message(byte kind, String text, long token) {
    byte[] key = utf8(text);
    return ByteBuffer.allocate(HEADER + key.length + 8)
        .put(kind)
        .putLong(nodeId)
        .putInt(key.length)
        .put(key)
        .putLong(token)
        .array();
  }

  // ---- records ----

  private byte[] record(Load<? extends V> outcome) throws Exception {
    return switch (outcome) {
      case Load.Commit<? extends V> c when c.ttl() == null ->
          prefixed(VALUE, values.encode(Require.nonNull(c.value(), "value")));
      case Load.Commit<? extends V> c -> {
        byte[] body = values.encode(Require.nonNull(c.value(), "value"));
        yield ByteBuffer.allocate(1 + 8 + body.length)
            .put(VALUE_TTL)
            .putLong(Require.nonNull(c.ttl(), "ttl").toMillis())
            .put(body)
            .array();
      }
      case Load.Ignore<? extends V> i ->
          prefixed(IGNORED, values.encode(Require.nonNull(i.value(), "value")));
      case Load.Fail<? extends V> f -> {
        Throwable error = f.error();
        String message =
            error.getMessage() == null || !shareFailureMessages ? "" : error.getMessage();
        if (message.length() > MAX_FAILURE_MESSAGE) {
          message = message.substring(0, MAX_FAILURE_MESSAGE);
        }
        yield prefixed(FAILURE, utf8(error.getClass().getName() + "\n" + message));
      }
    };
  }

  /** How long the shared tier keeps an outcome: ms, 0 not at all, -1 without expiry. */
  private long storeMillis(Load<? extends V> outcome) {
    Courier.Host<K, V> h = Require.nonNull(host, "host");
    return switch (outcome) {
      case Load.Commit<? extends V> c when c.ttl() != null ->
          Math.max(1L, Require.nonNull(c.ttl(), "ttl").toMillis());
      case Load.Commit<? extends V> c -> {
        Duration ttl = h.timeToLive();
        yield ttl == null ? -1L : Math.max(1L, ttl.toMillis());
      }
      case Load.Ignore<? extends V> i -> 0L;
      case Load.Fail<? extends V> f -> {
        Duration keep = h.cacheFailuresFor();
        yield keep == null ? 0L : Math.max(1L, keep.toMillis());
      }
    };
  }

  private Load<V> decode(byte[] record, long pttl) throws Exception {
    if (record.length < 1) {
      throw new IllegalArgumentException("empty record");
    }
    byte kind = record[0];
    switch (kind) {
      case VALUE -> {
        V value = values.decode(Arrays.copyOfRange(record, 1, record.length));
        if (pttl <= 0L) {
          return Load.commit(value); // from a message: loaded just now
        }
        // From the shared tier: kept here only for what is left of it there (at most this
        // cache's own time to live), not a whole time to live from now.
        Courier.Host<K, V> h = host;
        Duration ttl = h == null ? null : h.timeToLive();
        long left = ttl == null ? pttl : Math.min(pttl, Math.max(1L, ttl.toMillis()));
        return Load.commit(value, Duration.ofMillis(left));
      }
      case VALUE_TTL -> {
        if (record.length < 9) {
          throw new IllegalArgumentException("short record");
        }
        long ttl = ByteBuffer.wrap(record, 1, 8).getLong();
        if (ttl <= 0L) {
          throw new IllegalArgumentException("time to live " + ttl + " ms");
        }
        long left = pttl > 0L ? Math.min(ttl, pttl) : ttl;
        return Load.commit(
            values.decode(Arrays.copyOfRange(record, 9, record.length)),
            Duration.ofMillis(left));
      }
      case IGNORED -> {
        return Load.ignore(values.decode(Arrays.copyOfRange(record, 1, record.length)));
      }
      case FAILURE -> {
        String text = new String(record, 1, record.length - 1, StandardCharsets.UTF_8);
        int newline = text.indexOf('\n');
        if (newline < 0) {
          throw new IllegalArgumentException("failure record without a class name");
        }
        return Load.fail(
            new RemoteLoadException(text.substring(0, newline), text.substring(newline + 1)));
      }
      default -> throw new IllegalArgumentException("unknown record kind " + kind);
    }
  }

  private static <V> Load<? extends V> withoutNull(Load<? extends V> load, Object key) {
    V value =
        switch (load) {
          case Load.Commit<? extends V> c -> c.value();
          case Load.Ignore<? extends V> i -> i.value();
          case Load.Fail<? extends V> f -> null;
        };
    if (value == null && !(load instanceof Load.Fail<? extends V>)) {
      return Load.fail(new NullPointerException("loader returned a null value for key " + key));
    }
    return load;
  }

  private static byte[] prefixed(byte kind, byte[] body) {
    byte[] out = new byte[body.length + 1];
    out[0] = kind;
    System.arraycopy(body, 0, out, 1, body.length);
    return out;
  }

  // ---- modes ----

  private void fallBack(Throwable cause) {
    boolean log = false;
    synchronized (lock) {
      if (clustered) {
        clustered = false;
        fallbacks.increment();
        if (!outageLogged) {
          outageLogged = true;
          log = true;
        }
      }
    }
    if (log) {
      LOG.log(System.Logger.Level.WARNING,
          "Redis is unreachable or slow for cache " + namespace
              + "; coalescing in this JVM only until it is back: " + cause.getMessage());
    }
    for (String text : List.copyOf(waiting.keySet())) {
      runLocally(takeWaiting(text));
    }
    if (!closed) {
      scheduleProbe(probeIntervalMillis);
    }
  }

  /**
   * Remembers an invalidation made out of cluster mode for the probe to replay; returns false,
   * remembering nothing, if the courier is clustered (the caller sends it instead). A key is kept
   * even while a clear is owed: a replay may be clearing the shared tier right now, past the key.
   */
  private boolean rememberMissed(String text) {
    synchronized (lock) {
      if (clustered) {
        return false;
      }
      long number = ++missedCount;
      missedInvalidations.put(text, number);
      if (missedInvalidations.size() > MAX_MISSED_INVALIDATIONS) {
        missedInvalidations.clear();
        missedAll = number;
      }
      return true;
    }
  }

  /** As {@link #rememberMissed}, for an invalidation of every key. */
  private boolean rememberMissedAll() {
    synchronized (lock) {
      if (clustered) {
        return false;
      }
      // The clear owed covers the keys missed until now.
      missedInvalidations.clear();
      missedAll = ++missedCount;
      return true;
    }
  }

  private void scheduleProbe(long delayMillis) {
    if (closed || !probeScheduled.compareAndSet(false, true)) {
      return;
    }
    try {
      discard(timer.schedule(
          () -> execute(() -> {
            probeScheduled.set(false);
            probe();
          }),
          delayMillis,
          TimeUnit.MILLISECONDS));
    } catch (RejectedExecutionException closing) {
      probeScheduled.set(false);
    }
  }

  /**
   * In cluster mode, checks that the subscription's connection answers; if it does not, closes it
   * (Lettuce would keep a connection that no byte crosses as open, and the probe would keep using
   * it) and falls back, so the probe opens a new one and, back in cluster mode, clears the local
   * storage of what the JVM may have missed meanwhile.
   */
  private void heartbeat() {
    StatefulRedisPubSubConnection<byte[], byte[]> p = events;
    if (p == null || !clustered || closed) {
      return;
    }
    try {
      await("ping", "the subscription's connection", p.async().ping());
    } catch (RedisTrouble e) {
      discard(p.closeAsync());
      fallBack(e);
    }
  }

  /**
   * Connects, checks that Redis takes a write and that the channel works end to end, replays missed
   * invalidations until none is left, then clusters. The write matters: a Redis out of memory
   * under {@code noeviction}, or a master demoted to a replica by a failover, still answers,
   * publishes and delivers, but refuses every script that writes; a probe that did not write
   * returned to cluster mode at once, clearing the local storage, and the next miss fell back again.
   */
  private void probe() {
    if (closed || clustered) {
      return;
    }
    try {
      connect();
      Echo expected = new Echo(Long.toHexString(new SecureRandom().nextLong()));
      await("write", "probe", connection().async().set(
          probeKey, utf8(expected.nonce), SetArgs.Builder.px(Math.max(1_000L, probeIntervalMillis))));
      echo = expected;
      publish(signed(message(PROBE, expected.nonce)));
      try {
        expected.future.get(commandTimeoutNanos, TimeUnit.NANOSECONDS);
      } catch (TimeoutException e) {
        // The subscription hears nothing although Redis took the message: reopen it next time.
        StatefulRedisPubSubConnection<byte[], byte[]> p = events;
        if (p != null) {
          discard(p.closeAsync());
        }
        throw new RedisTrouble("the probe's message did not come back through the subscription to "
            + ascii(channel) + " within " + commandTimeout + "; it is reopened", e);
      }
      Courier.Host<K, V> h = host;
      boolean wasDown;
      while (true) {
        Missed missed;
        synchronized (lock) {
          if (closed) {
            return;
          }
          // Clustered only under the lock rememberMissed takes and only with nothing left to
          // replay: an invalidation made at any moment is either replayed here or sent by its
          // caller in cluster mode.
          if (missedInvalidations.isEmpty() && missedAll == 0L) {
            // Invalidations of the other JVMs may have been missed while we were away.
            if (h != null) {
              h.invalidateAllLocally();
            }
            clustered = true;
            wasDown = outageLogged;
            outageLogged = false;
            break;
          }
          missed = new Missed(new LinkedHashMap<>(missedInvalidations), missedAll);
        }
        replay(missed);
      }
      if (wasDown) {
        LOG.log(System.Logger.Level.INFO, "Redis is back: cache " + namespace + " coalesces across JVMs again");
      }
    } catch (RedisTrouble | ExecutionException | RuntimeException e) {
      if (closed) {
        return; // closed meanwhile: no outage to report, no probe to schedule
      }
      boolean first;
      synchronized (lock) {
        first = !outageLogged;
        outageLogged = true;
      }
      if (first) {
        // Never reached at start-up: say so once, as a fall back from cluster mode does.
        LOG.log(System.Logger.Level.WARNING,
            "cannot reach Redis for cache " + namespace
                + "; coalescing in this JVM only until it can: " + e.getMessage());
      } else {
        LOG.log(System.Logger.Level.DEBUG, "probe of Redis for cache " + namespace + " failed", e);
      }
      scheduleProbe(probeIntervalMillis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      echo = null;
    }
  }

  /** A copy of the missed invalidations, taken under the lock, each with its number. */
  private record Missed(Map<String, Long> keys, long all) {}

  /**
   * Replays one copy of the missed invalidations, then forgets what it replayed unless it was
   * missed again meanwhile (the invalidation made meanwhile may have come after the replay
   * deleted the key, or after the clear passed it): the probe replays again what is left.
   */
  private void replay(Missed missed) throws RedisTrouble {
    if (missed.all() != 0L) {
      // Clears the keys copied too: each was invalidated before the clear starts.
      clearSharedTier();
      publish(signed(message(INVALIDATE_ALL, "")));
    } else {
      for (String text : missed.keys().keySet()) {
        eval("invalidate", text, invalidate, new byte[][] {valueKey(text), leaseKey(text)},
            channel, signed(message(INVALIDATE, text)));
      }
    }
    synchronized (lock) {
      for (Map.Entry<String, Long> replayed : missed.keys().entrySet()) {
        missedInvalidations.remove(replayed.getKey(), replayed.getValue());
      }
      if (missedAll == missed.all()) {
        missedAll = 0L;
      }
    }
  }

  /** Deletes every value and lease of this cache in Redis (SCAN and UNLINK, not atomic). */
  private void clearSharedTier() throws RedisTrouble {
    StatefulRedisConnection<byte[], byte[]> c = connection();
    for (String kind : List.of("v:", "l:")) {
      ScanArgs args =
          ScanArgs.Builder.matches(utf8(glob(namespace) + kind + "*")).limit(500);
      KeyScanCursor<byte[]> cursor = await("clear", "*", c.async().scan(args));
      while (true) {
        if (!cursor.getKeys().isEmpty()) {
          await("clear", "*", c.async().unlink(cursor.getKeys().toArray(new byte[0][])));
        }
        if (cursor.isFinished()) {
          break;
        }
        cursor = await("clear", "*", c.async().scan(cursor, args));
      }
    }
  }

  private static String glob(String literal) {
    StringBuilder out = new StringBuilder(literal.length());
    for (int i = 0; i < literal.length(); i++) {
      char ch = literal.charAt(i);
      if (ch == '*' || ch == '?' || ch == '[' || ch == ']' || ch == '\\') {
        out.append('\\');
      }
      out.append(ch);
    }
    return out.toString();
  }

  private void publish(byte[] message) throws RedisTrouble {
    await("publish", "*", connection().async().publish(channel, message));
  }

  // ---- connections ----

  private void connect() throws RedisTrouble {
    connectLock.lock();
    try {
      if (closed) {
        throw new RedisTrouble("closed", null);
      }
      try {
        StatefulRedisConnection<byte[], byte[]> c = commands;
        if (c == null || !c.isOpen()) {
          if (c != null) {
            discard(c.closeAsync());
          }
          commands = null;
          StatefulRedisConnection<byte[], byte[]> opened = client.connect(ByteArrayCodec.INSTANCE);
          // Every wait of the courier is bounded by commandTimeout itself; Lettuce only drops a
          // command after the lease, so a late acquire answer still arrives while the lease it may
          // have taken could keep other JVMs waiting (see giveBackWhenAnswered).
          Duration lease = Duration.ofMillis(leaseMillis);
          opened.setTimeout(commandTimeout.compareTo(lease) > 0 ? commandTimeout : lease);
          commands = opened;
          closeIfClosed(opened);
        }
        StatefulRedisPubSubConnection<byte[], byte[]> p = events;
        if (p == null || !p.isOpen()) {
          if (p != null) {
            discard(p.closeAsync());
          }
          events = null;
          StatefulRedisPubSubConnection<byte[], byte[]> opened =
              client.connectPubSub(ByteArrayCodec.INSTANCE);
          opened.addListener(
              new RedisPubSubAdapter<>() {
                @Override
                public void message(byte[] from, byte[] message) {
                  received(message);
                }
              });
          events = opened;
          closeIfClosed(opened);
          await("subscribe", "*", opened.async().subscribe(channel));
        }
      } catch (RuntimeException e) {
        throw new RedisTrouble("cannot connect: " + e.getMessage(), e);
      }
    } finally {
      connectLock.unlock();
    }
  }

  /**
   * Closes a connection just opened, and the other, if the courier was closed while it was opening.
   * close() does not wait for a connect (it may take the client's connect timeout): it sets
   * {@code closed}, then closes the connections it finds; a connect stores what it opened, then
   * reads {@code closed}. Both fields are volatile, so one of the two sees the other's write, and
   * the connect closes its own connection, not the field (close() may have emptied it).
   */
  private void closeIfClosed(StatefulConnection<byte[], byte[]> opened) throws RedisTrouble {
    if (closed) {
      discard(opened.closeAsync());
      closeConnections();
      throw new RedisTrouble("closed while connecting", null);
    }
  }

  private StatefulRedisConnection<byte[], byte[]> connection() throws RedisTrouble {
    StatefulRedisConnection<byte[], byte[]> c = commands;
    if (c == null || closed) {
      throw new RedisTrouble("not connected", null);
    }
    return c;
  }

  private void closeConnections() {
    StatefulRedisConnection<byte[], byte[]> c = commands;
    StatefulRedisPubSubConnection<byte[], byte[]> p = events;
    commands = null;
    events = null;
    if (c != null) {
      discard(c.closeAsync());
    }
    if (p != null) {
      discard(p.closeAsync());
    }
  }

  /** Falls back as soon as one of our connections drops, instead of at the next command. */
  private final class ConnectionListener implements RedisConnectionStateListener {
    @Override
    @SuppressWarnings("ReferenceEquality") // identity: is it one of our own two connections?
    public void onRedisDisconnected(RedisChannelHandler<?, ?> connection) {
      if (!closed && (connection == commands || connection == events)) {
        execute(() -> fallBack(new RedisTrouble("connection to Redis lost", null)));
      }
    }
  }

  /** Runs a script by its SHA, loading it again if Redis lost it (restart, SCRIPT FLUSH). */
  private List<Object> eval(
      String operation, String key, Script script, byte[][] scriptKeys, byte[]... args)
      throws RedisTrouble {
    return reply(operation, key, send(script, scriptKeys, args), script, scriptKeys, args, false);
  }

  /** Sends a script by its SHA without waiting for the answer. */
  private RedisFuture<Object> send(Script script, byte[][] scriptKeys, byte[]... args)
      throws RedisTrouble {
    try {
      return connection().async().evalsha(script.sha, ScriptOutputType.MULTI, scriptKeys, args);
    } catch (RuntimeException e) {
      throw new RedisTrouble("cannot send to Redis: " + e.getMessage(), e);
    }
  }

  /**
   * Waits for a script's answer, sending the script itself if Redis lost it.
   *
   * @param keepUnanswered on a late answer or an interrupt, leave the command to complete and
   *     hand it over in {@link RedisTrouble#unanswered()} instead of cancelling it
   */
  private List<Object> reply(
      String operation,
      String key,
      RedisFuture<Object> sent,
      Script script,
      byte[][] scriptKeys,
      byte[][] args,
      boolean keepUnanswered)
      throws RedisTrouble {
    Object reply;
    try {
      reply = await(operation, key, sent, keepUnanswered);
    } catch (RedisTrouble e) {
      if (!(e.getCause() instanceof RedisNoScriptException)) {
        throw e;
      }
      RedisAsyncCommands<byte[], byte[]> redis = connection().async();
      reply = await(operation, key,
          redis.eval(script.source, ScriptOutputType.MULTI, scriptKeys, args), keepUnanswered);
    }
    if (reply instanceof List<?> list) {
      @SuppressWarnings("unchecked") // Lettuce's MULTI output is a List<Object>.
      List<Object> objects = (List<Object>) list;
      return objects;
    }
    List<Object> one = new ArrayList<>(1);
    one.add(reply);
    return one;
  }

  private <T> T await(String operation, String key, RedisFuture<T> future) throws RedisTrouble {
    return await(operation, key, future, false);
  }

  private <T> T await(
      String operation, String key, RedisFuture<T> future, boolean keepUnanswered)
      throws RedisTrouble {
    try {
      return future.get(commandTimeoutNanos, TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      String message =
          "Redis did not answer within " + commandTimeout + " to " + operation + " key " + key;
      if (keepUnanswered) {
        throw new RedisTrouble(message, e, future);
      }
      future.cancel(false);
      throw new RedisTrouble(message, e);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause() == null ? e : e.getCause();
      throw new RedisTrouble(
          "Redis failed to " + operation + " key " + key + ": " + cause.getMessage(), cause);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      String message = "interrupted while Redis was to " + operation + " key " + key;
      if (keepUnanswered) {
        throw new RedisTrouble(message, e, future);
      }
      future.cancel(false);
      throw new RedisTrouble(message, e);
    } catch (RuntimeException e) {
      throw new RedisTrouble("Redis failed to " + operation + " key " + key + ": " + e, e);
    }
  }

  private byte[] valueKey(String text) {
    return utf8(namespace + "v:" + text);
  }

  private byte[] leaseKey(String text) {
    return utf8(namespace + "l:" + text);
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  private static String ascii(byte[] b) {
    return new String(b, StandardCharsets.US_ASCII);
  }

  @SuppressWarnings("unchecked") // one courier serves one cache of matching types (documented)
  private static <K, V> Courier.Job<K, V> cast(Courier.Job<?, ?> job) {
    return (Courier.Job<K, V>) job;
  }

  @SuppressWarnings("unchecked") // one courier serves one cache of matching types (documented)
  private static <K, V> Courier.Host<K, V> cast(Courier.Host<?, ?> host) {
    return (Courier.Host<K, V>) host;
  }

  @SuppressWarnings("unchecked") // the cache passes its own keys
  private K castKey(Object key) {
    return (K) Require.nonNull(key, "key");
  }

  /**
   * Drops a future on purpose: a timer task that reports nothing, or a close whose completion
   * nobody waits for (Lettuce logs its failures).
   */
  @SuppressWarnings("unused") // the point is not to use it
  private static void discard(Future<?> future) {
    // deliberately unused
  }

  /** A probe waiting for its own message to come back through the subscription. */
  private static final class Echo {
    final String nonce;
    final CompletableFuture<@Nullable Void> future = new CompletableFuture<>();

    Echo(String nonce) {
      this.nonce = nonce;
    }
  }

  /** A Redis command that failed, timed out or could not be sent. */
  private static final class RedisTrouble extends Exception {
    private static final long serialVersionUID = 1L;

    /** A command left to complete after this JVM stopped waiting for it; not serialized. */
    private final transient @Nullable RedisFuture<?> unanswered;

    RedisTrouble(String message, @Nullable Throwable cause) {
      this(message, cause, null);
    }

    RedisTrouble(String message, @Nullable Throwable cause, @Nullable RedisFuture<?> unanswered) {
      super(message, cause);
      this.unanswered = unanswered;
    }

    @Nullable RedisFuture<?> unanswered() {
      return unanswered;
    }
  }

  /** A Lua script with its SHA-1, for EVALSHA. */
  private static final class Script {
    final byte[] source;
    final String sha;

    Script(String source) {
      this.source = utf8(source);
      try {
        this.sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-1").digest(this.source));
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException("every JVM has SHA-1", e);
      }
    }
  }

  /**
   * Builds a {@link RedisCourier}. Not thread-safe.
   *
   * @param <K> the key's type
   * @param <V> the value's type
   */
  public static final class Builder<K, V> {
    private final RedisClient client;
    private final KeyCodec<K> keys;
    private final ValueCodec<V> values;
    private String prefix = DEFAULT_PREFIX;
    private String name = "default";
    private Duration lease = Duration.ofSeconds(10);
    private Duration commandTimeout = Duration.ofMillis(500);
    private int maxValueBytes = 1 << 20;
    private int maxMessageValueBytes = DEFAULT_MAX_MESSAGE_VALUE_BYTES;
    private Duration probeInterval = Duration.ofSeconds(1);
    private Duration heartbeatInterval = Duration.ofSeconds(1);
    private boolean shareFailureMessages = true;
    private Executor executor = task -> Thread.ofVirtual().name("shepherd-cache-redis").start(task);
    private @Nullable Consumer<? super K> onRemoteInvalidation;
    private byte @Nullable [] messageKey;

    private Builder(RedisClient client, KeyCodec<K> keys, ValueCodec<V> values) {
      this.client = client;
      this.keys = keys;
      this.values = values;
    }

    /**
     * Sets the cache's name: JVMs whose couriers have the same prefix and name share loads,
     * values and invalidations. In Redis a {@code ':'} of the name is written {@code %3A} and a
     * {@code '%'} {@code %25}, so no cache's keys are another's ({@code "a"} and {@code "a:v"}
     * share none). Default {@code "default"}.
     *
     * @param name the name, not empty
     * @return this builder
     * @throws NullPointerException if null
     * @throws IllegalArgumentException if empty
     */
    public Builder<K, V> name(String name) {
      this.name = Require.notEmpty(name, "name");
      return this;
    }

    /**
     * Sets the prefix of every Redis key and channel. Default {@value RedisCourier#DEFAULT_PREFIX}.
     *
     * @param prefix the prefix, not empty
     * @return this builder
     * @throws NullPointerException if null
     * @throws IllegalArgumentException if empty
     */
    public Builder<K, V> keyPrefix(String prefix) {
      this.prefix = Require.notEmpty(prefix, "keyPrefix");
      return this;
    }

    /**
     * Sets the load lease: how long after its leader's last renewal a load may be taken over by
     * another JVM. The leader renews every third of it while its loader runs; a shorter lease
     * takes over sooner after a crash but costs more renewals and risks a take-over during a long
     * pause (garbage collection) of a live leader, whose result is then refused. Default 10 s.
     *
     * @param lease the lease, at least 100 ms
     * @return this builder
     * @throws NullPointerException if null
     * @throws IllegalArgumentException if shorter than 100 ms
     */
    public Builder<K, V> lease(Duration lease) {
      Require.positive(lease, "lease");
      Require.argument(lease.toMillis() >= 100, "lease must be at least 100 ms, was " + lease);
      this.lease = lease;
      return this;
    }

    /**
     * Sets how long any Redis command may take before the courier falls back to local
     * coalescing. Default 500 ms.
     *
     * @param timeout the timeout, positive
     * @return this builder
     * @throws NullPointerException if null
     * @throws IllegalArgumentException if not positive
     */
    public Builder<K, V> commandTimeout(Duration timeout) {
      this.commandTimeout = Require.positive(timeout, "commandTimeout");
      return this;
    }

    /**
     * Sets the largest encoded value the shared tier keeps and publishes; larger values are
     * loaded by each JVM itself. It also bounds what this JVM reads: a larger value found in the
     * shared tier is not read, but counts as absent and is replaced by the key's leader (give
     * every JVM of the cache the same limit). Default 1 MiB.
     *
     * @param bytes the limit, at least 1
     * @return this builder
     * @throws IllegalArgumentException if less than 1
     */
    public Builder<K, V> maxValueBytes(int bytes) {
      this.maxValueBytes = Require.atLeast(bytes, 1, "maxValueBytes");
      return this;
    }

    /**
     * Sets the largest encoded value the result message carries to the waiting JVMs. A value up to
     * this size reaches them inside the message, with no further command; a larger one (up to
     * {@link #maxValueBytes}) is only stored, the message says so, and each waiting JVM reads it
     * from the shared tier (one more round trip per JVM, but the value is not broadcast to every
     * JVM subscribed to the cache). 0 sends every value through the shared tier; a limit above
     * {@code maxValueBytes} is lowered to it. Default 16 KiB.
     *
     * @param bytes the limit, at least 0
     * @return this builder
     * @throws IllegalArgumentException if negative
     */
    public Builder<K, V> maxMessageValueBytes(int bytes) {
      this.maxMessageValueBytes = Require.atLeast(bytes, 0, "maxMessageValueBytes");
      return this;
    }

    /**
     * Sets how often the courier tries Redis again while in local mode (and how soon after
     * {@code build()} it first tries). Default 1 s.
     *
     * @param interval the interval, positive
     * @return this builder
     * @throws NullPointerException if null
     * @throws IllegalArgumentException if not positive
     */
    public Builder<K, V> probeInterval(Duration interval) {
      this.probeInterval = Require.positive(interval, "probeInterval");
      return this;
    }

    /**
     * Sets how often, in cluster mode, the courier checks that its subscription's connection still
     * answers (a {@code PING} on it, bounded by {@link #commandTimeout}). A connection that no byte
     * crosses any more (a NAT or load balancer that dropped the idle flow) is closed by nobody: the
     * client still sees it open, and without the check the JVM would stay in cluster mode missing
     * every other JVM's invalidation. When it does not answer, the courier falls back to local
     * mode and the probe opens a new one. Default 1 s.
     *
     * @param interval the interval, positive
     * @return this builder
     * @throws NullPointerException if null
     * @throws IllegalArgumentException if not positive
     */
    public Builder<K, V> heartbeatInterval(Duration interval) {
      this.heartbeatInterval = Require.positive(interval, "heartbeatInterval");
      return this;
    }

    /**
     * Sets whether a failure's message is shared with the other JVMs, or only the class of the
     * loader's error. Shared failures are stored in Redis (for {@code cacheFailuresFor}) and
     * published to every JVM of the cache; error messages often carry SQL, URLs, host names or
     * ids, which anything that reads Redis or the channel then sees. Off, a waiter in another JVM
     * gets a {@link RemoteLoadException} with the class and an empty message; the JVM that ran the
     * load keeps the whole error. Default true.
     *
     * @param share whether messages are shared
     * @return this builder
     */
    public Builder<K, V> shareFailureMessages(boolean share) {
      this.shareFailureMessages = share;
      return this;
    }

    /**
     * Sets where loaders and Redis calls run (this replaces the cache builder's executor). Default:
     * a new virtual thread per task.
     *
     * @param executor the executor
     * @return this builder
     * @throws NullPointerException if null
     */
    public Builder<K, V> executor(Executor executor) {
      this.executor = Require.nonNull(executor, "executor");
      return this;
    }

    /**
     * Sets a listener told of every key another JVM invalidated, after it was removed here (for
     * metrics or tests). It runs on the courier's message thread and must not block: messages
     * wait for it, and past 10,000 waiting (or 64 MiB) they are dropped and the courier falls back
     * to local mode until the thread catches up.
     *
     * @param listener the listener
     * @return this builder
     * @throws NullPointerException if null
     */
    public Builder<K, V> onRemoteInvalidation(Consumer<? super K> listener) {
      this.onRemoteInvalidation = Require.nonNull(listener, "listener");
      return this;
    }

    /**
     * Sets the secret with which messages on the cache's channel are tagged (HMAC-SHA256 of the
     * channel's name and the message): a received message without a valid tag is dropped and
     * counted ({@link Stats#rejectedMessages}). This stops a party that can publish on the
     * channel, but has not the key, from clearing every JVM's local storage or installing values;
     * it does not stop the replay of a recorded message (a replayed invalidation costs loads; a
     * replayed result names a lease that is gone and installs nothing). Every JVM of the cache
     * must have the same key: one with another key, or none, neither hears nor is heard by the
     * others, yet stays clustered (its probe hears its own messages), so its loads and
     * invalidations are not shared. Default: none, and messages carry no tag.
     *
     * @param secret the key, at least 32 bytes (copied)
     * @return this builder
     * @throws NullPointerException if null
     * @throws IllegalArgumentException if shorter than 32 bytes
     */
    public Builder<K, V> messageKey(byte[] secret) {
      Require.nonNull(secret, "secret");
      Require.argument(secret.length >= MIN_MESSAGE_KEY_BYTES,
          "a message key has at least " + MIN_MESSAGE_KEY_BYTES + " bytes");
      this.messageKey = secret.clone();
      return this;
    }

    /**
     * Builds the courier; it connects when the cache it is given to is built.
     *
     * @return the courier
     */
    public RedisCourier<K, V> build() {
      return new RedisCourier<>(this);
    }
  }
}
