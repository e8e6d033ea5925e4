package dev.shepherd.watch;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.google.errorprone.annotations.concurrent.GuardedBy;
import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.Require;
import dev.shepherd.core.internal.GoDuration;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletMapping;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.OptionalLong;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.DoubleSupplier;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * A servlet that serves Consul's KV HTTP API with blocking queries, over an
 * {@link InMemoryVersionedStore} or over any {@link WatchSource} (an etcd source, a Consul client),
 * so that real Consul clients, and {@link ConsulClient}, can read, watch and write it.
 *
 * <pre>{@code
 * InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
 * ServletContextHandler context = new ServletContextHandler();
 * context.addServlet(new ServletHolder(BlockingQueryServlet.ofStrings(store)), "/v1/kv/*");
 * }</pre>
 *
 * <h2>Protocol (mapped at a path ending in {@code /*}; the key is the rest of the path)</h2>
 *
 * <ul>
 *   <li>The key is read from the raw request path and percent-decoded here (UTF-8), so a key with
 *       an encoded {@code /} ({@code /v1/kv/cfg%2Fdb}) works under Jetty's default URI
 *       compliance, which refuses such paths through {@code getPathInfo()}.
 *   <li>{@code GET /v1/kv/<key>?index=<n>&wait=<d>}: answers at once if the key's index differs
 *       from {@code n} (or {@code n} is 0 or absent); otherwise holds the request without a thread
 *       (Servlet async) until the key is written or {@code wait} passes. {@code wait} is Go
 *       duration text ({@code 10s}, {@code 5m}), default 5 minutes (also for {@code 0s}, as
 *       Consul's blocking query treats a zero wait), capped at 10; the server adds
 *       a random {@code [0, wait/16)} so many clients spread out. Indexes are unsigned 64-bit as
 *       in Consul. The answer is Consul's JSON array ({@code Key, Value} in base64, {@code Flags},
 *       {@code CreateIndex, ModifyIndex, LockIndex}), or 404 with an empty body when absent; the
 *       index is in {@code X-Consul-Index}. {@code ?raw} answers the bare value.
 *   <li>{@code ?recurse}: every key under the prefix, in key order; the index is the highest
 *       modify index under the prefix (deletes included), and a blocking query on it wakes on any
 *       change below. {@code ?keys} lists the key names only, {@code ?separator=/} rolls them up at
 *       the first separator after the prefix. Both need a store that lists by prefix (the
 *       in-memory store); over a plain {@link WatchSource} they are a 400.
 *   <li>{@code PUT /v1/kv/<key>} with the value as body, taken raw whatever its
 *       {@code Content-Type} as in Consul (also {@code curl -d}'s form type; query parameters are
 *       read from the query string alone), at most {@code maxBodyBytes}, 512 KiB as in Consul,
 *       else 413: answers {@code true}, or {@code false} when {@code ?cas=<n>} did not
 *       match ({@code cas=0}: only if absent). {@code DELETE} the same, {@code ?recurse} deletes a
 *       prefix, {@code ?cas=0} never deletes. Both go through the {@link WriteAuthorizer} (default
 *       {@link WriteAuthorizer#loopbackOnly()}, else 403) and need a {@link KvWriter} (else 405).
 *   <li>Held queries are capped in total, per key and per client address; beyond a cap a query
 *       is answered at once with 429 and {@code Retry-After}. Over a plain source, reads without
 *       an index of one key share one fetch, and at most {@code maxConcurrentReads} run at once
 *       (429 beyond). Reads are not authorized: anyone who reaches the port reads any key the
 *       source serves (over {@link ConsulClient#kvSource()}, anything the front's ACL token may
 *       read); authenticate in a filter in front if that is too much. Errors are {@code application/problem+json} with
 *       Consul's statuses: 400 bad parameter, 403 denied, 404 absent, 405 read-only, 413 body too
 *       large, 429 too many held queries (or the source refused to watch one more key:
 *       {@link WatchLimitExceededException}), 503 the source failed. A 503 names no cause (an
 *       upstream's error text may carry its address or ACL details); the cause is logged at
 *       {@code WARNING} with the key.
 * </ul>
 *
 * <p>The servlet and every filter in front of it must be async-supported: otherwise a query to be
 * held fails with the container's error answer (its held-query slot and waiter are freed, so the
 * key keeps serving).
 *
 * <p>A client that closes its connection while its query is held frees the slot at once over
 * HTTP/2, but not over HTTP/1.1: Jetty reads nothing more from that connection and does not apply
 * its idle timeout to it, so the slot stays until the key changes, the wait runs out or
 * {@link #answerHeldQueries()}; {@link Builder#maxHeldQueriesPerClient(int)} bounds what one
 * address can pin that way.
 *
 * <p>Thread-safe. {@link #destroy()} releases the timer thread; requests still held then end when
 * the container closes their connections (clients see a failure and retry).
 *
 * @param <V> the type of values
 */
public final class BlockingQueryServlet<V> extends HttpServlet {

  /*
   * Why holds cost no thread over the in-memory store: a held query is an AsyncContext, a store
   * waiter (a future) and one timer task, which is what the per-key and total caps bound. The
   * timer removes cancelled tasks at once (removeOnCancel), so a query answered by a write frees
   * its timer slot and AsyncContext immediately rather than at the end of its wait. Over a plain
   * WatchSource the held queries on one key and index share one fetch of the source (a virtual
   * thread blocked in fetch; see "shared upstream fetches" below), each under the same caps.
   *
   * States of one GET (each arrow happens once; the "done" CAS makes the three ends exclusive):
   *
   *   parsed --index 0, store--> answered now (never counted, never refused)
   *   parsed --index 0, source--> joins the running read of (key, 0) or, with a read slot free
   *       (maxConcurrentReads), starts one; no slot free: 429 + Retry-After. The request thread
   *       waits for the shared read, which frees its read slot when it ends.
   *   parsed --index n--> permit: total < maxHeld, key < maxHeldPerKey and client (remote
   *       address) < maxHeldPerClient, else 429 + Retry-After
   *   permit --> held (AsyncContext, waiter or shared fetch, timer)
   *   held --> answered on wake | answered on the wait timer (store) or the backstop timer
   *       (source: 503 once wait + jitter + BACKSTOP passed without the fetch ending) | freed on
   *       the container's onError | answered by answerHeldQueries(); each frees the permit.
   *
   * Over HTTP/1.1 Jetty neither reads a connection whose request is suspended nor applies its idle
   * timeout to it, so a client that sends a held query and closes its socket raises no onError:
   * its permit stays until the wake, the wait timer or the backstop, and only the per-client cap
   * bounds how many one address can pin that way (HTTP/2 notices a reset stream at once).
   *
   * Source keys: a shared fetch marks its key in use while it runs; when the last fetch of a key
   * ends, WatchSource.release(key) runs after releaseKeysAfter unless a fetch of the key started
   * again meanwhile (a generation number tells). The delay keeps a PollingWatchSource's invented
   * index across a client's next query (released at once, the next read invents a new index and
   * every watcher would wake at once, again and again).
   */

  private static final long serialVersionUID = 1L;
  private static final System.Logger LOG = System.getLogger(BlockingQueryServlet.class.getName());
  private static final JsonFactory JSON = new JsonFactory();

  /** Consul's default wait of a blocking query. */
  public static final Duration DEFAULT_WAIT = Duration.ofMinutes(5);
  /** Consul's longest wait of a blocking query. */
  public static final Duration MAX_WAIT = Duration.ofMinutes(10);
  /** Default cap on held queries over all keys. */
  public static final int DEFAULT_MAX_HELD_QUERIES = 10_000;
  /** Default cap on held queries of one key (or one prefix). */
  public static final int DEFAULT_MAX_HELD_QUERIES_PER_KEY = 5_000;
  /**
   * Default cap on held queries of one client (remote address): 200, Consul's
   * {@code http_max_conns_per_client}.
   */
  public static final int DEFAULT_MAX_HELD_QUERIES_PER_CLIENT = 200;
  /** Default cap on reads without an index of a plain source running at once. */
  public static final int DEFAULT_MAX_CONCURRENT_READS = 64;
  /** Default time a plain source keeps a key nobody fetches before it is released: 1 minute. */
  public static final Duration DEFAULT_RELEASE_KEYS_AFTER = Duration.ofMinutes(1);
  /**
   * How long past its wait (and jitter) a query held over a plain source waits for the source
   * before it is answered 503: 30 s.
   */
  static final Duration BACKSTOP = Duration.ofSeconds(30);
  /** Default cap on a {@code PUT} body: Consul's 512 KiB. */
  public static final int DEFAULT_MAX_BODY_BYTES = 512 * 1024;

  // Servlets are Serializable by inheritance; this one is never serialised (it serves live
  // memory), so its fields are transient.
  private final transient @Nullable InMemoryVersionedStore<V> store;
  private final transient @Nullable WatchSource<Optional<V>> source;
  private final transient Function<? super V, byte[]> encoder;
  private final transient @Nullable Function<byte[], ? extends V> decoder;
  private final transient @Nullable KvWriter<V> writer;
  private final transient WriteAuthorizer authorizer;
  private final transient int maxHeld;
  private final transient int maxHeldPerKey;
  private final transient int maxHeldPerClient;
  private final transient int maxReads;
  private final transient Duration releaseKeysAfter;
  private final transient Duration overrunAllowed;
  /**
   * How much of a streamed body beyond {@code maxBodyBytes} is read and dropped before answering
   * 413, so that a client still sending gets the answer instead of a reset connection: 1 MiB.
   */
  static final long DRAIN_BYTES = 1L << 20;

  private final transient int maxBodyBytes;
  private final transient Duration retryAfter;
  private final transient DoubleSupplier random;
  private final transient Executor responders;
  private final transient AtomicInteger held = new AtomicInteger();
  /** Answers each held query now, as its wait running out would; removed when it is answered. */
  private final transient Set<Runnable> answerNow = ConcurrentHashMap.newKeySet();
  /** Set by {@link #answerHeldQueries()}: the server is stopping, nothing is held any more. */
  private transient volatile boolean stopping;
  private final transient ConcurrentHashMap<String, Integer> heldPerKey = new ConcurrentHashMap<>();
  private final transient ConcurrentHashMap<String, Integer> heldPerClient = new ConcurrentHashMap<>();
  /** Reads without an index of a plain source running now, at most maxReads. */
  private final transient AtomicInteger reads = new AtomicInteger();
  private final transient ConcurrentHashMap<String, KeyUse> sourceKeys = new ConcurrentHashMap<>();
  private final transient AtomicInteger pendingReleases = new AtomicInteger();
  private final transient java.util.concurrent.atomic.AtomicLong generations =
      new java.util.concurrent.atomic.AtomicLong();
  private final transient ConcurrentHashMap<FetchKey, Upstream> upstreams = new ConcurrentHashMap<>();
  private transient @Nullable ScheduledThreadPoolExecutor timer;
  private final transient Builder<V> builder;
  private final transient Config config;

  private BlockingQueryServlet(Builder<V> b, DoubleSupplier random) {
    this.store = b.store;
    this.source = b.source;
    this.encoder = b.encoder;
    this.decoder = b.decoder;
    this.writer = b.writer;
    this.authorizer = b.authorizer;
    this.maxHeld = b.maxHeld;
    this.maxHeldPerKey = b.maxHeldPerKey;
    this.maxHeldPerClient = b.maxHeldPerClient;
    this.maxReads = b.maxReads;
    this.releaseKeysAfter = b.releaseKeysAfter;
    this.overrunAllowed = b.overrunAllowed;
    this.maxBodyBytes = b.maxBodyBytes;
    this.retryAfter = b.retryAfter;
    this.random = random;
    this.responders = task -> Thread.ofVirtual().name("shepherd-kv-response").start(task);
    this.builder = b;
    this.config = new Config(b.maxHeld, b.maxHeldPerKey, b.maxHeldPerClient, b.maxReads,
        b.releaseKeysAfter, b.maxBodyBytes, b.retryAfter, b.authorizer, b.writer != null,
        b.store != null);
  }

  /**
   * Returns this servlet's settings, as built.
   *
   * @return the immutable configuration
   */
  public Config config() {
    return config;
  }

  /**
   * The immutable settings of a {@link BlockingQueryServlet}, produced by {@link Builder#build()}
   * and read through {@link BlockingQueryServlet#config()}; the builder explains each one. The
   * builder checks each setting when it is set, naming it in the error, so the record does not
   * check them again.
   *
   * @param maxHeldQueries blocking queries held at once in total
   * @param maxHeldQueriesPerKey blocking queries held at once on one key or prefix
   * @param maxHeldQueriesPerClient blocking queries held at once for one remote address
   * @param maxConcurrentReads reads without an index of a plain source running at once
   * @param releaseKeysAfter how long a plain source keeps an unused key before it is released
   * @param maxBodyBytes the largest {@code PUT} body
   * @param retryAfter the {@code Retry-After} of a 429
   * @param authorizer who may write
   * @param writable whether {@code PUT} and {@code DELETE} have a writer
   * @param lists whether {@code ?recurse} and {@code ?keys} are served (an in-memory store)
   */
  public record Config(int maxHeldQueries, int maxHeldQueriesPerKey, int maxHeldQueriesPerClient,
      int maxConcurrentReads, Duration releaseKeysAfter, int maxBodyBytes,
      Duration retryAfter, WriteAuthorizer authorizer, boolean writable, boolean lists) {

    /**
     * The settings as they were before the per-client, read and key-release settings existed:
     * those take their defaults (200 per client, 64 reads, keys released after one minute).
     *
     * @param maxHeldQueries blocking queries held at once in total
     * @param maxHeldQueriesPerKey blocking queries held at once on one key or prefix
     * @param maxBodyBytes the largest {@code PUT} body
     * @param retryAfter the {@code Retry-After} of a 429
     * @param authorizer who may write
     * @param writable whether {@code PUT} and {@code DELETE} have a writer
     * @param lists whether {@code ?recurse} and {@code ?keys} are served (an in-memory store)
     */
    public Config(int maxHeldQueries, int maxHeldQueriesPerKey, int maxBodyBytes, Duration retryAfter,
        WriteAuthorizer authorizer, boolean writable, boolean lists) {
      this(maxHeldQueries, maxHeldQueriesPerKey, DEFAULT_MAX_HELD_QUERIES_PER_CLIENT,
          DEFAULT_MAX_CONCURRENT_READS, DEFAULT_RELEASE_KEYS_AFTER, maxBodyBytes, retryAfter,
          authorizer, writable, lists);
    }
  }

  /**
   * Returns a servlet serving a store of strings (UTF-8 on the wire), writable through
   * {@code PUT}/{@code DELETE} from loopback addresses; {@link #builder(InMemoryVersionedStore,
   * Function, Function)} sets the other options.
   *
   * @param store the store
   * @return the servlet
   * @throws NullPointerException if {@code store} is null
   */
  public static BlockingQueryServlet<String> ofStrings(InMemoryVersionedStore<String> store) {
    return builder(store, s -> s.getBytes(StandardCharsets.UTF_8),
        b -> new String(b, StandardCharsets.UTF_8)).build();
  }

  /**
   * Returns a servlet serving a store of any type, with its byte encoding and the defaults.
   *
   * @param store the store
   * @param encoder turns a value into the bytes sent (base64 inside the JSON, as Consul does)
   * @param decoder turns the body of a {@code PUT} into a value
   * @param <V> the type of values
   * @return the servlet
   * @throws NullPointerException if an argument is null
   */
  public static <V> BlockingQueryServlet<V> of(InMemoryVersionedStore<V> store,
      Function<? super V, byte[]> encoder, Function<byte[], ? extends V> decoder) {
    return builder(store, encoder, decoder).build();
  }

  /**
   * Returns a builder of a servlet over an in-memory store: blocking queries on keys and prefixes,
   * listings, and writes through the store.
   *
   * @param store the store
   * @param encoder turns a value into the bytes sent
   * @param decoder turns the body of a {@code PUT} into a value; may throw
   *     {@link IllegalArgumentException} for a body it refuses (answered 400)
   * @param <V> the type of values
   * @return a new builder
   * @throws NullPointerException if an argument is null
   */
  public static <V> Builder<V> builder(InMemoryVersionedStore<V> store,
      Function<? super V, byte[]> encoder, Function<byte[], ? extends V> decoder) {
    Require.nonNull(store, "store");
    Builder<V> b = new Builder<>(store, null, Require.nonNull(encoder, "encoder"));
    return b.writer(KvWriter.of(store), decoder);
  }

  /**
   * Returns a builder of a servlet over any source of optional values (empty: the key is absent),
   * such as an etcd source: blocking queries on single keys, read-only unless
   * {@link Builder#writer(KvWriter, Function)} is set.
   *
   * @param source the source; the servlet calls {@code fetch} once per key and index for all the
   *     queries on it at the same time (index 0: reads that answer at once), and
   *     {@code release(key)} once no fetch of the key ran for {@code releaseKeysAfter}
   * @param encoder turns a value into the bytes sent
   * @param <V> the type of values
   * @return a new builder
   * @throws NullPointerException if an argument is null
   */
  public static <V> Builder<V> builder(WatchSource<Optional<V>> source,
      Function<? super V, byte[]> encoder) {
    return new Builder<>(null, Require.nonNull(source, "source"), Require.nonNull(encoder, "encoder"));
  }

  /** Test seam: fixes the jitter's random source. */
  static <V> BlockingQueryServlet<V> withRandom(BlockingQueryServlet<V> s, DoubleSupplier random) {
    return new BlockingQueryServlet<>(s.builder, random);
  }

  @Override
  public void init() {
    ScheduledThreadPoolExecutor t = new ScheduledThreadPoolExecutor(1, r -> {
      Thread thread = new Thread(r, "shepherd-kv-wait-timer");
      thread.setDaemon(true);
      return thread;
    });
    t.setRemoveOnCancelPolicy(true);
    timer = t;
  }

  @Override
  public void destroy() {
    ScheduledThreadPoolExecutor t = timer;
    if (t != null) {
      t.shutdownNow();
    }
  }

  /**
   * Answers every query held now at once: over a store as if its wait had run out (the current
   * value and index), over a plain source with 503 and {@code Retry-After} (it has no value to give
   * before its fetch returns). Call it when the server starts stopping, or a graceful stop waits
   * for queries that may be held for minutes; clients then ask again and find the server gone, or
   * another instance. From then on, a query that would be held is answered the same way at once
   * (one that was being set up while this ran included).
   */
  public void answerHeldQueries() {
    stopping = true;
    for (Runnable answer : List.copyOf(answerNow)) {
      answer.run();
    }
  }

  /**
   * Returns how many blocking queries this servlet holds right now.
   *
   * @return the held queries
   */
  public int heldQueries() {
    return held.get();
  }

  /**
   * Returns the wait timers pending (for tests: cancelled ones must not stay); the delayed
   * releases of source keys, which share the timer thread, are not counted.
   */
  int pendingTimers() {
    ScheduledThreadPoolExecutor t = timer;
    return t == null ? 0 : t.getQueue().size() - pendingReleases.get();
  }

  /**
   * Returns the wait the server applies to a request that asked for {@code requested}: capped at
   * {@link #MAX_WAIT}, plus a random jitter in {@code [0, wait/16)}.
   */
  Duration effectiveWait(Duration requested) {
    Duration capped = requested.compareTo(MAX_WAIT) > 0 ? MAX_WAIT : requested;
    long jitterNanos = (long) (capped.toNanos() / 16.0 * random.getAsDouble());
    return capped.plusNanos(jitterNanos);
  }

  // ------------------------------------------------------------------------------------ GET

  private enum Kind { KEY, RECURSE, KEYS }

  @Override
  protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
    String key;
    long index;
    Duration wait;
    Kind kind;
    String separator;
    boolean raw;
    try {
      key = key(req);
      Query query = Query.of(req);
      index = parseIndex(query.get("index"));
      wait = parseWait(query.get("wait"));
      kind = query.has("keys") ? Kind.KEYS : query.has("recurse") ? Kind.RECURSE : Kind.KEY;
      separator = query.get("separator");
      raw = query.has("raw");
      if (separator != null && kind != Kind.KEYS) {
        throw new IllegalArgumentException("separator is only valid with ?keys");
      }
      if (kind == Kind.KEY && key.isEmpty()) {
        throw new IllegalArgumentException("Missing key name: request /v1/kv/<key>");
      }
      if (kind != Kind.KEY && store == null) {
        throw new IllegalArgumentException("?" + kind.name().toLowerCase(java.util.Locale.ROOT)
            + " needs a store that lists keys by prefix; this servlet serves single keys of its "
            + "source"); // not the source's own text, which may name the upstream's address
      }
    } catch (IllegalArgumentException e) {
      problem(resp, 400, "Bad Request", e.getMessage());
      return;
    }
    // An index beyond Long.MAX_VALUE (unsigned) differs from any index we have: answer at once.
    long minIndex = index < 0 ? 0L : index;
    Answer answer = switch (kind) {
      case KEY -> (r, woken) -> writeKey(r, key, woken, raw);
      case RECURSE -> (r, woken) -> writeRecurse(r, key);
      case KEYS -> (r, woken) -> writeKeys(r, key, separator);
    };
    if (store != null) {
      InMemoryVersionedStore<V> s = store;
      Permit permitKey = new Permit(kind == Kind.KEY ? key : "?prefix " + key, client(req));
      // The permit comes first, so store waiters never outnumber the cap even for an instant.
      if (minIndex == 0L || !acquire(permitKey)) {
        // Index 0 always answers at once (counted as a query by the store); a full servlet still
        // answers at once a query that needs no hold.
        long now = minIndex == 0L ? -1L : kind == Kind.KEY ? s.get(key).index() : s.prefixIndex(key);
        if (minIndex == 0L) {
          CompletableFuture<?> counted = kind == Kind.KEY
              ? s.whenChanged(key, 0L) : s.whenPrefixChanged(key, 0L);
          counted.cancel(false);
        }
        if (minIndex == 0L || now != minIndex) {
          answer.write(resp, null); // needs no hold: never refused
        } else {
          tooMany(resp);
        }
        return;
      }
      CompletableFuture<?> wake;
      try {
        wake = kind == Kind.KEY
            ? s.whenChanged(key, minIndex) : s.whenPrefixChanged(key, minIndex);
      } catch (RuntimeException | Error e) {
        release(permitKey);
        throw e;
      }
      if (wake.isDone()) {
        release(permitKey);
        answer.write(resp, null);
        return;
      }
      holdAcquired(req, key, permitKey, wake, effectiveWait(wait), null, answer);
    } else {
      WatchSource<Optional<V>> src = Require.nonNull(source, "source");
      if (minIndex == 0L) {
        readNow(src, key, resp, answer);
        return;
      }
      Permit permit = new Permit(key, client(req));
      if (!acquire(permit)) {
        tooMany(resp);
        return;
      }
      Duration capped = wait.compareTo(MAX_WAIT) > 0 ? MAX_WAIT : wait;
      CompletableFuture<Versioned<Optional<V>>> fetched;
      try {
        fetched = join(src, key, minIndex, capped);
      } catch (RuntimeException | Error e) {
        release(permit);
        throw e;
      }
      if (fetched == null) { // only index-0 reads are refused a fetch
        release(permit);
        tooMany(resp);
        return;
      }
      Duration backstop = capped.plus(capped.dividedBy(16)).plus(overrunAllowed);
      holdAcquired(req, key, permit, fetched, null, backstop, answer);
    }
  }

  // ---------------------------------------------------------------- shared upstream fetches

  /*
   * Why held queries over a plain source share fetches: each fetch of a ConsulClient source is one
   * HTTP connection to the agent, and Consul refuses a client past http_max_conns_per_client (200
   * by default), so 200 held queries on one key would cut this host off from Consul. All held
   * queries on one key at one index ask the same question, so they share one fetch: a query joins
   * the running fetch of its (key, index) if that fetch's wait is no longer than the query's own
   * (it then ends before the query's wait plus jitter would, within what the protocol allows),
   * else starts a new one, which later queries join. The fetch leaves the map when it ends, and is
   * cancelled (its thread interrupted) only when the last query on it leaves: a client that goes
   * away does not cut the others' answer short. A failure is logged once, here, not per query.
   */

  private record FetchKey(String key, long minIndex) {}

  /**
   * Answers a read without an index over a plain source: it joins the running read of the key, or
   * starts one if a read slot is free, else answers 429. Waits on the request thread; a read
   * without an index asks the source to answer at once.
   */
  private void readNow(WatchSource<Optional<V>> src, String key, HttpServletResponse resp,
      Answer answer) throws IOException {
    CompletableFuture<Versioned<Optional<V>>> read = join(src, key, 0L, Duration.ZERO);
    if (read == null) {
      tooManyReads(resp);
      return;
    }
    Versioned<Optional<V>> value;
    try {
      value = read.get();
    } catch (InterruptedException e) {
      read.cancel(false);
      callFailed(resp, key, e);
      return;
    } catch (ExecutionException e) {
      Throwable cause = e.getCause() == null ? e : e.getCause();
      if (cause instanceof WatchLimitExceededException limited) {
        tooManyWatchedKeys(resp, limited);
      } else if (cause instanceof IllegalArgumentException) {
        keyRefused(resp);
      } else {
        sourceFailed(resp, key, cause, false); // logged once by its upstream fetch
      }
      return;
    }
    answer.write(resp, value);
  }

  /**
   * Joins the running fetch of {@code (key, minIndex)}, or starts one; returns this query's view
   * of it, whose cancellation is this query leaving.
   */
  private @Nullable CompletableFuture<Versioned<Optional<V>>> join(WatchSource<Optional<V>> src,
      String key, long minIndex, Duration wait) {
    FetchKey id = new FetchKey(key, minIndex);
    boolean[] counted = new boolean[1];
    Upstream upstream = upstreams.compute(id, (k, running) -> {
      if (running != null && running.tryJoin(wait)) {
        counted[0] = true;
        return running;
      }
      if (minIndex != 0L) {
        counted[0] = true;
        return new Upstream(k, wait, false);
      }
      // A read without an index holds no permit: the read slots bound how many run at once.
      if (reads.incrementAndGet() > maxReads) {
        reads.decrementAndGet();
        return running; // null, or one that has ended (it removes itself)
      }
      counted[0] = true;
      return new Upstream(k, wait, true);
    });
    if (upstream == null || !counted[0]) {
      return null;
    }
    upstream.startOnce(src);
    return upstream.view();
  }

  /** Returns how many queries wait on the running fetch of {@code key} at {@code index} (for tests). */
  int queriesOn(String key, long index) {
    Upstream upstream = upstreams.get(new FetchKey(key, index));
    return upstream == null ? 0 : upstream.holders();
  }

  /** Returns how many reads without an index run now (for tests). */
  int runningReads() {
    return reads.get();
  }

  /** Marks a fetch of {@code key} started: the source's state for it is in use. */
  private void keyInUse(String key) {
    long generation = generations.incrementAndGet(); // unique: never matches a stale release
    sourceKeys.compute(key, (k, use) -> new KeyUse(use == null ? 1 : use.running() + 1, generation));
  }

  /**
   * Marks a fetch of {@code key} ended; when none is left, the source releases the key after
   * {@code releaseKeysAfter}, unless a fetch of it starts again before.
   */
  private void keyIdle(String key) {
    KeyUse now = sourceKeys.computeIfPresent(key,
        (k, use) -> new KeyUse(use.running() - 1, use.generation()));
    if (now == null || now.running() > 0) {
      return;
    }
    long generation = now.generation();
    Runnable releaseIfIdle = () -> sourceKeys.computeIfPresent(key, (k, use) -> {
      // (runs once, from the timer or at once)
      if (use.running() > 0 || use.generation() != generation) {
        return use;
      }
      try {
        Require.nonNull(source, "source").release(k);
      } catch (RuntimeException e) {
        LOG.log(Level.WARNING, "the source failed to release key '" + k + "'", e);
      }
      return null;
    });
    ScheduledThreadPoolExecutor t = timer;
    if (releaseKeysAfter.isZero() || t == null) {
      releaseIfIdle.run();
    } else {
      try {
        pendingReleases.incrementAndGet();
        var unusedRelease = t.schedule(() -> {
          pendingReleases.decrementAndGet();
          releaseIfIdle.run();
        }, Durations.toNanosSaturated(releaseKeysAfter), TimeUnit.NANOSECONDS);
      } catch (RejectedExecutionException stopped) {
        pendingReleases.decrementAndGet();
        releaseIfIdle.run();
      }
    }
  }

  /** Returns how many keys of the source are in use or waiting to be released (for tests). */
  int sourceKeysInUse() {
    return sourceKeys.size();
  }

  /** Fetches of one source key running now, and the generation of the latest start. */
  private record KeyUse(int running, long generation) {}

  /** Returns how many shared upstream fetches run now (for tests). */
  int upstreamFetches() {
    return upstreams.size();
  }

  /** One fetch of the source, answered to every held query that joined it. */
  private final class Upstream {
    private final FetchKey id;
    private final Duration wait;
    private final CompletableFuture<Versioned<Optional<V>>> result = new CompletableFuture<>();
    private final AtomicBoolean started = new AtomicBoolean();
    private final boolean readSlot;
    @GuardedBy("this") private int holders = 1; // the query that started it
    @GuardedBy("this") private boolean closed;

    Upstream(FetchKey id, Duration wait, boolean readSlot) {
      this.id = id;
      this.wait = wait;
      this.readSlot = readSlot;
    }

    synchronized int holders() {
      return holders;
    }

    /** Adds a query that waits at least as long as this fetch does; false if it may not join. */
    synchronized boolean tryJoin(Duration queryWait) {
      if (closed || result.isDone() || queryWait.compareTo(wait) < 0) {
        return false;
      }
      holders++;
      return true;
    }

    void startOnce(WatchSource<Optional<V>> src) {
      if (!started.compareAndSet(false, true)) {
        return;
      }
      Duration effective = effectiveWait(wait);
      keyInUse(id.key());
      Thread fetcher = Thread.ofVirtual().name("shepherd-kv-fetch").unstarted(() -> {
        try {
          Versioned<Optional<V>> value = src.fetch(id.key(), id.minIndex(), effective);
          upstreams.remove(id, this); // before answering: a later query starts a fresh fetch
          result.complete(value);
        } catch (InterruptedException e) {
          upstreams.remove(id, this);
          result.cancel(false);
        } catch (WatchLimitExceededException e) {
          upstreams.remove(id, this);
          LOG.log(Level.DEBUG, "the source refused to watch key '" + id.key() + "'; answered 429", e);
          result.completeExceptionally(e);
        } catch (IllegalArgumentException e) {
          upstreams.remove(id, this);
          LOG.log(Level.DEBUG, "the source refused key '" + id.key() + "'; answered 400", e);
          result.completeExceptionally(e);
        } catch (Exception | LinkageError e) {
          upstreams.remove(id, this);
          LOG.log(Level.WARNING, "the source failed for key '" + id.key()
              + "'; the queries held on it are answered 503", e);
          result.completeExceptionally(e);
        } finally {
          if (readSlot) {
            reads.decrementAndGet();
          }
          keyIdle(id.key());
        }
      });
      var unusedInterrupt = result.whenComplete((v, e) -> {
        if (e instanceof CancellationException) {
          fetcher.interrupt();
        }
      });
      fetcher.start();
    }

    /** A future of the result for one query that joined; cancelling it is that query leaving. */
    CompletableFuture<Versioned<Optional<V>>> view() {
      CompletableFuture<Versioned<Optional<V>>> view = new CompletableFuture<>();
      var unusedForward = result.whenComplete((value, error) -> {
        if (error != null) {
          view.completeExceptionally(error);
        } else {
          view.complete(value);
        }
      });
      var unusedLeave = view.whenComplete((value, error) -> {
        if (error instanceof CancellationException) {
          leave();
        }
      });
      return view;
    }

    private void leave() {
      boolean last;
      synchronized (this) {
        last = --holders == 0 && !result.isDone();
        if (last) {
          closed = true;
        }
      }
      if (last) {
        upstreams.remove(id, this);
        result.cancel(false);
      }
    }
  }

  /** Writes the answer of a query; {@code woken} is what the source answered (null: read now). */
  @FunctionalInterface
  private interface Answer {
    void write(HttpServletResponse resp, @Nullable Object woken) throws IOException;
  }

  /**
   * Holds an acquired query until {@code wake} completes, or {@code wait} passes (null: the wake
   * future ends the wait itself, and {@code backstop}, if set, answers 503 should it overrun), or
   * the container reports an error (over HTTP/2, the client going away; over HTTP/1.1 a closed
   * connection is not noticed while held); the permit is released exactly once.
   *
   * <p>Until the async context's listener and the wake callback own them, the permit and the
   * waiter belong to this call: if anything throws before (above all {@code startAsync}, when a
   * filter in the chain is not async-supported), they are freed here and the exception goes on to
   * the container. Otherwise every such failed query would keep its slot, clients retrying would
   * fill the key's cap, and the key would answer 429 for good.
   */
  private void holdAcquired(HttpServletRequest req, String key, Permit permitKey,
      CompletableFuture<?> wake, @Nullable Duration wait, @Nullable Duration backstop,
      Answer answer) {
    AtomicBoolean done = new AtomicBoolean();
    try {
      AsyncContext async = req.startAsync();
      async.setTimeout(0);
      hold(async, done, key, permitKey, wake, wait, backstop, answer);
    } catch (RuntimeException | Error e) {
      if (done.compareAndSet(false, true)) {
        wake.cancel(false);
        release(permitKey);
      }
      throw e;
    }
  }

  private void hold(AsyncContext async, AtomicBoolean done, String key, Permit permitKey,
      CompletableFuture<?> wake, @Nullable Duration wait, @Nullable Duration backstop,
      Answer answer) {
    ScheduledThreadPoolExecutor t = timer;
    Runnable timesOut = () -> {
      if (done.compareAndSet(false, true)) {
        wake.cancel(false);
        release(permitKey);
        responders.execute(() -> finish(async, key, answer, null, null));
      }
    };
    // A store's query is answered now with the current value; a plain source's has no value to
    // give before its fetch returns, so it is answered 503 (retry), which its fetch's end would
    // otherwise keep waiting for.
    Runnable now = wait != null ? timesOut : () -> {
      if (done.compareAndSet(false, true)) {
        wake.cancel(false);
        release(permitKey);
        responders.execute(() -> answerUnavailable(async, "the server is stopping; retry"));
      }
    };
    // Over a plain source the fetch ends the wait; if it overruns its wait by BACKSTOP, the query
    // is answered 503 so that its permit cannot stay taken for as long as the source overruns.
    Runnable overrun = () -> {
      if (done.compareAndSet(false, true)) {
        wake.cancel(false);
        release(permitKey);
        LOG.log(Level.WARNING, "the source did not answer a query on key '" + key
            + "' within its wait and " + overrunAllowed + "; answered 503");
        responders.execute(() -> answerUnavailable(async,
            "the source did not answer within the wait; retry"));
      }
    };
    answerNow.add(now);
    var unusedForget = wake.whenComplete((v, e) -> answerNow.remove(now));
    if (stopping) {
      // answerHeldQueries() ran: it saw this query in the set, or this line sees its flag
      now.run();
    }
    ScheduledFuture<?> timeout = t == null ? null
        : wait != null ? t.schedule(timesOut, Durations.toNanosSaturated(wait), TimeUnit.NANOSECONDS)
        : backstop != null
            ? t.schedule(overrun, Durations.toNanosSaturated(backstop), TimeUnit.NANOSECONDS)
        : null;
    async.addListener(new AsyncListener() {
      @Override
      public void onComplete(AsyncEvent event) {}

      @Override
      public void onTimeout(AsyncEvent event) {
        onError(event);
      }

      @Override
      public void onError(AsyncEvent event) { // the client went away
        if (done.compareAndSet(false, true)) {
          wake.cancel(false);
          if (timeout != null) {
            timeout.cancel(false);
          }
          release(permitKey);
        }
      }

      @Override
      public void onStartAsync(AsyncEvent event) {}
    });
    var unusedAnswer = wake.whenCompleteAsync((value, error) -> {
      if (error instanceof CancellationException) {
        return;
      }
      if (done.compareAndSet(false, true)) {
        if (timeout != null) {
          timeout.cancel(false);
        }
        release(permitKey);
        finish(async, key, answer, wait == null ? value : null, error);
      }
    }, responders);
  }

  private static void completeQuietly(AsyncContext async) {
    try {
      async.complete();
    } catch (IllegalStateException alreadyDone) {
      // the container completed it (client gone)
    }
  }

  /** Answers a held query 503 (the server is stopping, or the source overran its wait). */
  private static void answerUnavailable(AsyncContext async, String detail) {
    try {
      HttpServletResponse resp = (HttpServletResponse) async.getResponse();
      resp.setHeader("Retry-After", "1");
      problem(resp, 503, "Service Unavailable", detail);
    } catch (IOException | RuntimeException e) {
      LOG.log(Level.DEBUG, "could not answer a blocking query", e);
    } finally {
      completeQuietly(async);
    }
  }

  private void finish(AsyncContext async, String key, Answer answer, @Nullable Object woken,
      @Nullable Throwable error) {
    try {
      HttpServletResponse resp = (HttpServletResponse) async.getResponse();
      if (error != null) {
        Throwable cause = error instanceof CompletionException && error.getCause() != null
            ? error.getCause() : error;
        if (cause instanceof WatchLimitExceededException limited) {
          tooManyWatchedKeys(resp, limited);
        } else if (cause instanceof IllegalArgumentException) {
          keyRefused(resp);
        } else {
          sourceFailed(resp, key, cause, false); // logged once by its upstream fetch
        }
      } else {
        answer.write(resp, woken);
      }
    } catch (IOException | RuntimeException e) {
      LOG.log(Level.DEBUG, "could not answer a blocking query", e);
    } finally {
      completeQuietly(async);
    }
  }

  /** What a held query counts against: its key (or prefix) and its client's address. */
  private record Permit(String key, String client) {}

  /** The remote address of a request: what the per-client cap counts. */
  private static String client(HttpServletRequest req) {
    String address = req.getRemoteAddr();
    return address == null ? "" : address;
  }

  private boolean acquire(Permit permit) {
    if (held.incrementAndGet() > maxHeld) {
      held.decrementAndGet();
      return false;
    }
    if (!count(heldPerClient, permit.client(), maxHeldPerClient)) {
      held.decrementAndGet();
      return false;
    }
    if (!count(heldPerKey, permit.key(), maxHeldPerKey)) {
      heldPerClient.computeIfPresent(permit.client(), (k, n) -> n <= 1 ? null : n - 1);
      held.decrementAndGet();
      return false;
    }
    return true;
  }

  /** Adds one to {@code name}'s count unless it is at {@code max}; true if added. */
  private static boolean count(ConcurrentHashMap<String, Integer> counts, String name, int max) {
    boolean[] granted = new boolean[1];
    counts.compute(name, (k, n) -> {
      int count = n == null ? 0 : n;
      if (count >= max) {
        return n;
      }
      granted[0] = true;
      return count + 1;
    });
    return granted[0];
  }

  private void release(Permit permit) {
    heldPerKey.computeIfPresent(permit.key(), (k, n) -> n <= 1 ? null : n - 1);
    heldPerClient.computeIfPresent(permit.client(), (k, n) -> n <= 1 ? null : n - 1);
    held.decrementAndGet();
  }

  /** Answers 429 because every read slot is taken by reads of other keys. */
  private void tooManyReads(HttpServletResponse resp) throws IOException {
    long seconds = Math.max(1L, (retryAfter.toMillis() + 999L) / 1000L);
    resp.setHeader("Retry-After", Long.toString(seconds));
    problem(resp, 429, "Too Many Requests", "too many reads of the source at once (at most "
        + maxReads + "); retry after " + seconds + " s");
  }

  /** Answers 400 because the source refused the key (a dot segment for a Consul upstream). */
  private static void keyRefused(HttpServletResponse resp) throws IOException {
    problem(resp, 400, "Bad Request", "the source refused this key (for a Consul upstream: "
        + "a '.' or '..' segment)");
  }

  private void tooMany(HttpServletResponse resp) throws IOException {
    long seconds = Math.max(1L, (retryAfter.toMillis() + 999L) / 1000L);
    resp.setHeader("Retry-After", Long.toString(seconds));
    problem(resp, 429, "Too Many Requests", "too many blocking queries held (at most " + maxHeld
        + " in total, " + maxHeldPerKey + " per key and " + maxHeldPerClient
        + " per client address); retry after " + seconds + " s");
  }

  /**
   * Answers 429 because the source watches as many keys as it may, each in use: the answer says
   * so, with the limit, and not the key (the client knows it) nor anything about the upstream.
   */
  private void tooManyWatchedKeys(HttpServletResponse resp, WatchLimitExceededException e)
      throws IOException {
    long seconds = Math.max(1L, (retryAfter.toMillis() + 999L) / 1000L);
    resp.setHeader("Retry-After", Long.toString(seconds));
    problem(resp, 429, "Too Many Requests", "the source watches as many keys as it may (at most "
        + e.limit() + "), each with a query in progress; retry after " + seconds + " s");
  }

  /**
   * Answers the failure of a call this request thread made to the source or the writer: 503
   * "interrupted" with the thread's interrupt flag set again when it was interrupted, else as
   * {@link #sourceFailed}.
   */
  private void callFailed(HttpServletResponse resp, String key, Exception e) throws IOException {
    if (e instanceof WatchLimitExceededException limited) {
      tooManyWatchedKeys(resp, limited);
    } else if (e instanceof InterruptedException) {
      Thread.currentThread().interrupt();
      problem(resp, 503, "Service Unavailable", "interrupted");
    } else {
      sourceFailed(resp, key, e, true);
    }
  }

  /**
   * Answers 503 for a failure of the source or the writer, and logs the failure at WARNING with
   * its key and cause unless it was logged where it happened (a shared fetch, answered to many
   * queries, logs once). The answer names no cause: an upstream's error text can carry its
   * address, an ACL token's AccessorID or a secret's path (ConsulClient quotes Consul's error
   * body), and the caller of this servlet may be anyone who reaches its port.
   */
  private void sourceFailed(HttpServletResponse resp, String key, Throwable e, boolean log)
      throws IOException {
    if (log) {
      LOG.log(Level.WARNING, "the source failed for key '" + key + "'; answered 503", e);
    }
    resp.setHeader("Retry-After", "1");
    problem(resp, 503, "Service Unavailable",
        "the source is unavailable; retry later (the cause is in the server's log)");
  }

  // ----------------------------------------------------------------------------- answers

  @SuppressWarnings("unchecked") // woken is what this servlet's own source answered
  private void writeKey(HttpServletResponse resp, String key, @Nullable Object woken, boolean raw)
      throws IOException {
    long index;
    byte @Nullable [] bytes;
    long createIndex;
    InMemoryVersionedStore<V> s = store;
    if (s != null) {
      Versioned<Optional<InMemoryVersionedStore.Listed<V>>> entry = s.lookup(key);
      index = entry.index();
      bytes = entry.value().map(l -> encoder.apply(l.value())).orElse(null);
      createIndex = entry.value().map(InMemoryVersionedStore.Listed::createIndex).orElse(0L);
    } else {
      Versioned<Optional<V>> value = (Versioned<Optional<V>>) Require.nonNull(woken, "woken");
      index = value.index();
      bytes = value.value().map(encoder).orElse(null);
      createIndex = index; // a plain source knows only the modify index
    }
    consulHeaders(resp, index);
    if (bytes == null) {
      resp.setStatus(HttpServletResponse.SC_NOT_FOUND);
      resp.setContentLength(0);
      return;
    }
    if (raw) {
      resp.setStatus(HttpServletResponse.SC_OK);
      resp.setContentType("application/octet-stream");
      resp.setContentLength(bytes.length);
      resp.getOutputStream().write(bytes);
      return;
    }
    ByteArrayOutputStream body = new ByteArrayOutputStream(96 + key.length() + bytes.length * 4 / 3);
    try (JsonGenerator json = JSON.createGenerator(body)) {
      json.writeStartArray();
      writeEntry(json, key, bytes, createIndex, index);
      json.writeEndArray();
    }
    sendJson(resp, body);
  }

  private void writeRecurse(HttpServletResponse resp, String prefix) throws IOException {
    Versioned<List<InMemoryVersionedStore.Listed<V>>> listing = Require.nonNull(store, "store").list(prefix);
    consulHeaders(resp, listing.index());
    if (listing.value().isEmpty()) {
      resp.setStatus(HttpServletResponse.SC_NOT_FOUND);
      resp.setContentLength(0);
      return;
    }
    ByteArrayOutputStream body = new ByteArrayOutputStream(256);
    try (JsonGenerator json = JSON.createGenerator(body)) {
      json.writeStartArray();
      for (InMemoryVersionedStore.Listed<V> item : listing.value()) {
        writeEntry(json, item.key(), encoder.apply(item.value()), item.createIndex(), item.modifyIndex());
      }
      json.writeEndArray();
    }
    sendJson(resp, body);
  }

  private void writeKeys(HttpServletResponse resp, String prefix, @Nullable String separator)
      throws IOException {
    Versioned<List<InMemoryVersionedStore.Listed<V>>> listing = Require.nonNull(store, "store").list(prefix);
    consulHeaders(resp, listing.index());
    List<String> names = new ArrayList<>();
    for (InMemoryVersionedStore.Listed<V> item : listing.value()) {
      String name = item.key();
      if (separator != null && !separator.isEmpty()) {
        int at = name.indexOf(separator, prefix.length());
        if (at >= 0) {
          name = name.substring(0, at + separator.length());
        }
      }
      if (names.isEmpty() || !names.get(names.size() - 1).equals(name)) {
        names.add(name); // the listing is sorted, so rolled-up names are adjacent
      }
    }
    if (names.isEmpty()) {
      resp.setStatus(HttpServletResponse.SC_NOT_FOUND);
      resp.setContentLength(0);
      return;
    }
    ByteArrayOutputStream body = new ByteArrayOutputStream(64 * names.size());
    try (JsonGenerator json = JSON.createGenerator(body)) {
      json.writeStartArray();
      for (String name : names) {
        json.writeString(name);
      }
      json.writeEndArray();
    }
    sendJson(resp, body);
  }

  private static void writeEntry(JsonGenerator json, String key, byte[] value, long createIndex,
      long modifyIndex) throws IOException {
    json.writeStartObject();
    json.writeNumberField("LockIndex", 0);
    json.writeStringField("Key", key);
    json.writeNumberField("Flags", 0);
    if (value.length == 0) {
      json.writeNullField("Value"); // as Consul answers an empty value
    } else {
      json.writeFieldName("Value");
      json.writeBinary(value);
    }
    json.writeNumberField("CreateIndex", createIndex);
    json.writeNumberField("ModifyIndex", modifyIndex);
    json.writeEndObject();
  }

  private static void consulHeaders(HttpServletResponse resp, long index) {
    resp.setHeader("X-Consul-Index", Long.toUnsignedString(index));
    resp.setHeader("X-Consul-KnownLeader", "true");
    resp.setHeader("X-Consul-LastContact", "0");
  }

  private static void sendJson(HttpServletResponse resp, ByteArrayOutputStream body)
      throws IOException {
    resp.setStatus(HttpServletResponse.SC_OK);
    resp.setContentType("application/json");
    resp.setContentLength(body.size());
    body.writeTo(resp.getOutputStream());
  }

  // ---------------------------------------------------------------------------- writes

  @Override
  protected void doPut(HttpServletRequest req, HttpServletResponse resp) throws IOException {
    KvWriter<V> w = writer;
    Function<byte[], ? extends V> dec = decoder;
    if (w == null || dec == null) {
      closeIfBodyUnread(req, resp);
      readOnly(resp);
      return;
    }
    WriteTarget target = writeTarget(req, resp, false, "writes to");
    if (target == null) {
      return;
    }
    byte[] body = readBody(req, resp);
    if (body == null) {
      return;
    }
    V value;
    try {
      value = dec.apply(body);
    } catch (IllegalArgumentException e) {
      problem(resp, 400, "Bad Request", "value refused: " + e.getMessage());
      return;
    }
    try {
      answerBoolean(resp, w.put(target.key(), value, target.cas()));
    } catch (Exception e) {
      callFailed(resp, target.key(), e);
    }
  }

  @Override
  protected void doDelete(HttpServletRequest req, HttpServletResponse resp) throws IOException {
    KvWriter<V> w = writer;
    if (w == null) {
      readOnly(resp);
      return;
    }
    WriteTarget target = writeTarget(req, resp, true, "deletes of");
    if (target == null) {
      return;
    }
    String key = target.key();
    try {
      answerBoolean(resp, target.recurse() ? OptionalLong.of(w.deletePrefix(key)) : w.delete(key, target.cas()));
    } catch (UnsupportedOperationException e) {
      problem(resp, 400, "Bad Request", "?recurse: " + e.getMessage());
    } catch (Exception e) {
      callFailed(resp, key, e);
    }
  }

  /**
   * The key, {@code ?cas} and {@code ?recurse} (of a {@code DELETE}) of a {@code PUT} or
   * {@code DELETE} that may go ahead.
   */
  private record WriteTarget(String key, OptionalLong cas, boolean recurse) {}

  /**
   * Reads and checks the key and the query parameters of a {@code PUT} or {@code DELETE}, then
   * asks the authorizer; answers 400 or 403 and returns null when the request may not go ahead.
   * Reads nothing of the body (see {@link Query}).
   *
   * @param delete whether the request is a {@code DELETE}, which may take {@code ?recurse} (then
   *     its key may be empty, and it takes no {@code ?cas})
   * @param change what the request does to the key, for the 403 message ("writes to")
   */
  private @Nullable WriteTarget writeTarget(HttpServletRequest req, HttpServletResponse resp,
      boolean delete, String change) throws IOException {
    String key;
    OptionalLong cas;
    boolean recurse;
    try {
      key = key(req);
      Query query = Query.of(req);
      recurse = delete && query.has("recurse");
      if (key.isEmpty() && !recurse) {
        throw new IllegalArgumentException("Missing key name: request /v1/kv/<key>");
      }
      cas = parseCas(query.get("cas"));
      if (recurse && cas.isPresent()) {
        throw new IllegalArgumentException("cas cannot be combined with recurse");
      }
      refuseUnsupported(query);
    } catch (IllegalArgumentException e) {
      closeIfBodyUnread(req, resp);
      problem(resp, 400, "Bad Request", e.getMessage());
      return null;
    }
    if (!authorizer.allows(req, key)) {
      closeIfBodyUnread(req, resp);
      problem(resp, 403, "Forbidden", "Permission denied: " + change + " '" + key + "' are not allowed");
      return null;
    }
    return new WriteTarget(key, cas, recurse);
  }

  /**
   * Announces that the connection closes after this answer when the request has a body that is
   * refused unread (nothing of it is read before the checks): Jetty closes a connection whose
   * request body was not consumed, and a client that was not told would send its next request on
   * it and see the connection end with no answer.
   */
  private static void closeIfBodyUnread(HttpServletRequest req, HttpServletResponse resp) {
    if (req.getContentLengthLong() != 0) { // -1: chunked, length unknown
      resp.setHeader("Connection", "close");
    }
  }

  private static void refuseUnsupported(Query query) {
    for (String name : new String[] {"acquire", "release"}) {
      if (query.has(name)) {
        throw new IllegalArgumentException("?" + name + ": sessions and locks are not supported");
      }
    }
    String flags = query.get("flags");
    if (flags != null && !flags.equals("0")) {
      throw new IllegalArgumentException("?flags: only 0 is supported, was '" + flags + "'");
    }
  }

  /** Reads a body of at most maxBodyBytes; answers 413 and returns null if it is longer. */
  private byte @Nullable [] readBody(HttpServletRequest req, HttpServletResponse resp)
      throws IOException {
    long declared = req.getContentLengthLong();
    if (declared > maxBodyBytes) {
      tooLarge(resp, declared);
      return null;
    }
    try (InputStream in = req.getInputStream()) {
      byte[] body = in.readNBytes(maxBodyBytes + 1);
      if (body.length > maxBodyBytes) {
        // A client that streams its body only reads the answer once it has sent it all: closing
        // now would reset its connection and lose the 413. Read on and drop up to DRAIN_BYTES, so
        // a body that overshoots by that much gets its answer; a longer one is cut off.
        boolean drained = drain(in, DRAIN_BYTES);
        tooLarge(resp, -1, !drained);
        return null;
      }
      return body;
    }
  }

  /** Reads and drops at most {@code limit} bytes; true if the stream ended within them. */
  private static boolean drain(InputStream in, long limit) throws IOException {
    byte[] scratch = new byte[8192];
    long left = limit;
    while (left > 0) {
      int n = in.read(scratch, 0, (int) Math.min(scratch.length, left));
      if (n < 0) {
        return true;
      }
      left -= n;
    }
    return in.read() < 0;
  }

  private void tooLarge(HttpServletResponse resp, long declared) throws IOException {
    tooLarge(resp, declared, true);
  }

  private void tooLarge(HttpServletResponse resp, long declared, boolean close) throws IOException {
    if (close) {
      resp.setHeader("Connection", "close"); // the rest of the body is not read
    }
    problem(resp, 413, "Content Too Large", "Request body"
        + (declared >= 0 ? "(" + declared + " bytes)" : "") + " too large, max size: "
        + maxBodyBytes + " bytes");
  }

  private static void readOnly(HttpServletResponse resp) throws IOException {
    resp.setHeader("Allow", "GET");
    problem(resp, 405, "Method Not Allowed", "this KV endpoint is read-only (no writer configured)");
  }

  private static void answerBoolean(HttpServletResponse resp, OptionalLong written)
      throws IOException {
    if (written.isPresent()) {
      resp.setHeader("X-Consul-Index", Long.toUnsignedString(written.getAsLong()));
    }
    byte[] body = (written.isPresent() ? "true" : "false").getBytes(StandardCharsets.US_ASCII);
    resp.setStatus(HttpServletResponse.SC_OK);
    resp.setContentType("application/json");
    resp.setContentLength(body.length);
    resp.getOutputStream().write(body);
  }

  // ---------------------------------------------------------------------------- parsing

  /**
   * Returns the decoded key: the raw request path after the servlet's mapping, percent-decoded
   * here as UTF-8 (so {@code %2F} is a {@code /} inside the key), empty for the mapping itself.
   */
  static String key(HttpServletRequest req) {
    String raw = req.getRequestURI();
    String context = req.getContextPath();
    if (context != null && !context.isEmpty() && raw.startsWith(context)) {
      raw = raw.substring(context.length());
    }
    HttpServletMapping mapping = req.getHttpServletMapping();
    String pattern = mapping == null ? null : mapping.getPattern();
    if (pattern != null && pattern.endsWith("/*")) {
      String prefix = pattern.substring(0, pattern.length() - 2);
      if (!raw.startsWith(prefix)) {
        throw new IllegalArgumentException("the path does not start with the servlet's mapping "
            + prefix);
      }
      raw = raw.substring(prefix.length());
    }
    int semicolon = raw.indexOf(';');
    if (semicolon >= 0) {
      throw new IllegalArgumentException("path parameters (;) are not allowed in a key");
    }
    if (raw.isEmpty() || raw.equals("/")) {
      return "";
    }
    if (raw.charAt(0) != '/') {
      throw new IllegalArgumentException("the key must follow a '/'");
    }
    return percentDecode(raw.substring(1), "the key");
  }

  /**
   * Decodes %XX escapes to UTF-8 text, strictly: a bad escape or bad UTF-8 is an error naming
   * {@code what} was decoded ("the key").
   */
  static String percentDecode(String text, String what) {
    if (text.indexOf('%') < 0) {
      return text;
    }
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(text.length());
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c == '%') {
        int hi = i + 1 < text.length() ? Character.digit(text.charAt(i + 1), 16) : -1;
        int lo = i + 2 < text.length() ? Character.digit(text.charAt(i + 2), 16) : -1;
        if (hi < 0 || lo < 0) {
          throw new IllegalArgumentException("bad percent-escape in " + what + " at position " + i);
        }
        bytes.write(hi * 16 + lo);
        i += 2;
      } else {
        byte[] utf8 = String.valueOf(c).getBytes(StandardCharsets.UTF_8);
        if (Character.isHighSurrogate(c) && i + 1 < text.length()) {
          utf8 = text.substring(i, i + 2).getBytes(StandardCharsets.UTF_8);
          i++;
        }
        bytes.writeBytes(utf8);
      }
    }
    try {
      return StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes.toByteArray())).toString();
    } catch (CharacterCodingException e) {
      throw new IllegalArgumentException(what + " is not UTF-8 once percent-decoded");
    }
  }

  /**
   * The query parameters of a request, read from its query string alone: the first value of each
   * name, {@code +} as a space and %XX escapes decoded strictly, as Go's {@code url.ParseQuery}
   * in Consul; a name without {@code =} has the value "".
   *
   * <p>Never through {@code getParameter}: for a body sent as
   * {@code application/x-www-form-urlencoded} (what {@code curl -d} sends unless told otherwise)
   * the container parses the body as parameters too, so a {@code PUT} read afterwards stored an
   * empty value, and fields of a body passed for query parameters. Consul takes the body raw
   * whatever its {@code Content-Type}, and so do we.
   */
  record Query(Map<String, String> values) {

    /**
     * Parses the query string of {@code req}.
     *
     * @throws IllegalArgumentException if a name or value has a bad escape or is not UTF-8
     */
    static Query of(HttpServletRequest req) {
      String text = req.getQueryString();
      Map<String, String> values = new HashMap<>();
      if (text != null) {
        for (String pair : text.split("&", -1)) {
          if (pair.isEmpty()) {
            continue;
          }
          int eq = pair.indexOf('=');
          String name = decode(eq < 0 ? pair : pair.substring(0, eq), "a query parameter name");
          String value = eq < 0 ? "" : decode(pair.substring(eq + 1), "?" + name);
          values.putIfAbsent(name, value);
        }
      }
      return new Query(Map.copyOf(values));
    }

    private static String decode(String text, String what) {
      return percentDecode(text.replace('+', ' '), what);
    }

    /** Returns the first value of {@code name}, or null when absent. */
    @Nullable String get(String name) {
      return values.get(name);
    }

    /** Returns whether {@code name} is present, with or without a value. */
    boolean has(String name) {
      return values.containsKey(name);
    }
  }

  /**
   * Parses an index as Consul does: an unsigned 64-bit decimal (returned as its two's-complement
   * {@code long}); absent or empty is 0.
   */
  static long parseIndex(@Nullable String text) {
    if (text == null || text.isEmpty()) {
      return 0L;
    }
    return parseUnsigned(text, "index");
  }

  private static OptionalLong parseCas(@Nullable String text) {
    if (text == null) {
      return OptionalLong.empty();
    }
    long cas = parseUnsigned(text, "cas");
    // A cas beyond Long.MAX_VALUE can never match one of our indexes.
    return OptionalLong.of(cas < 0 ? Long.MAX_VALUE : cas);
  }

  private static long parseUnsigned(String text, String name) {
    if (text.length() > 20 || !text.chars().allMatch(c -> c >= '0' && c <= '9')) {
      throw new IllegalArgumentException(name + " must be an unsigned 64-bit integer, was '"
          + (text.length() > 40 ? text.substring(0, 40) + "..." : text) + "'");
    }
    try {
      return Long.parseUnsignedLong(text);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + " must be an unsigned 64-bit integer, was '"
          + text + "'");
    }
  }

  /**
   * Parses {@code wait} as Consul does: absent, empty or zero is the default wait (Consul's
   * blocking query replaces a wait of zero or less with its default query time), so
   * {@code wait=0s} never turns a blocking query into a busy poll.
   */
  static Duration parseWait(@Nullable String text) {
    if (text == null || text.isEmpty()) {
      return DEFAULT_WAIT;
    }
    Duration wait = GoDuration.parseNonNegative(text, "wait");
    return wait.isZero() ? DEFAULT_WAIT : wait;
  }

  private static void problem(HttpServletResponse resp, int status, String title,
      @Nullable String detail) throws IOException {
    ByteArrayOutputStream body = new ByteArrayOutputStream(128);
    try (JsonGenerator json = JSON.createGenerator(body)) {
      json.writeStartObject();
      json.writeStringField("type", "about:blank");
      json.writeStringField("title", title);
      json.writeNumberField("status", status);
      json.writeStringField("detail", String.valueOf(detail));
      json.writeEndObject();
    }
    resp.setStatus(status);
    resp.setContentType("application/problem+json");
    resp.setContentLength(body.size());
    body.writeTo(resp.getOutputStream());
  }

  /**
   * Builder of {@link BlockingQueryServlet}; not thread-safe.
   *
   * @param <V> the type of values
   */
  public static final class Builder<V> {
    private final @Nullable InMemoryVersionedStore<V> store;
    private final @Nullable WatchSource<Optional<V>> source;
    private final Function<? super V, byte[]> encoder;
    private @Nullable KvWriter<V> writer;
    private @Nullable Function<byte[], ? extends V> decoder;
    private WriteAuthorizer authorizer = WriteAuthorizer.loopbackOnly();
    private int maxHeld = DEFAULT_MAX_HELD_QUERIES;
    private int maxHeldPerKey = DEFAULT_MAX_HELD_QUERIES_PER_KEY;
    private int maxHeldPerClient = DEFAULT_MAX_HELD_QUERIES_PER_CLIENT;
    private int maxReads = DEFAULT_MAX_CONCURRENT_READS;
    private Duration releaseKeysAfter = DEFAULT_RELEASE_KEYS_AFTER;
    private Duration overrunAllowed = BACKSTOP;
    private int maxBodyBytes = DEFAULT_MAX_BODY_BYTES;
    private Duration retryAfter = Duration.ofSeconds(1);

    private Builder(@Nullable InMemoryVersionedStore<V> store,
        @Nullable WatchSource<Optional<V>> source, Function<? super V, byte[]> encoder) {
      this.store = store;
      this.source = source;
      this.encoder = encoder;
    }

    /**
     * Makes the servlet writable: {@code PUT} decodes the body and calls {@code writer.put},
     * {@code DELETE} calls {@code writer.delete} (after the {@link #authorizer}).
     *
     * @param writer the writer
     * @param decoder turns a {@code PUT} body into a value; may throw
     *     {@link IllegalArgumentException} (answered 400)
     * @return this builder
     * @throws NullPointerException if an argument is null
     */
    public Builder<V> writer(KvWriter<V> writer, Function<byte[], ? extends V> decoder) {
      this.writer = Require.nonNull(writer, "writer");
      this.decoder = Require.nonNull(decoder, "decoder");
      return this;
    }

    /**
     * Sets who may write (default {@link WriteAuthorizer#loopbackOnly()}).
     *
     * @param authorizer the authorizer
     * @return this builder
     * @throws NullPointerException if {@code authorizer} is null
     */
    public Builder<V> authorizer(WriteAuthorizer authorizer) {
      this.authorizer = Require.nonNull(authorizer, "authorizer");
      return this;
    }

    /**
     * Sets the most blocking queries held at once over all keys (default
     * 10,000); one more is answered 429 at once.
     *
     * @param max at least 1
     * @return this builder
     * @throws IllegalArgumentException if {@code max} is below 1
     */
    public Builder<V> maxHeldQueries(int max) {
      this.maxHeld = Require.atLeast(max, 1, "maxHeldQueries");
      return this;
    }

    /**
     * Sets the most blocking queries held at once on one key or one prefix (default 5,000).
     *
     * @param max at least 1
     * @return this builder
     * @throws IllegalArgumentException if {@code max} is below 1
     */
    public Builder<V> maxHeldQueriesPerKey(int max) {
      this.maxHeldPerKey = Require.atLeast(max, 1, "maxHeldQueriesPerKey");
      return this;
    }

    /**
     * Sets the most blocking queries held at once for one client, counted by remote address
     * (default 200, Consul's {@code http_max_conns_per_client}); one more is answered 429 at once.
     *
     * <p>Over HTTP/1.1, Jetty does not notice that a client closed the connection of a held
     * query (it reads no more from a connection whose request is suspended, and does not apply
     * its idle timeout to it): the query keeps its slot until its key changes or its wait (at
     * most 10 minutes and 37.5 s) runs out. This cap is what stops one address from filling the
     * total cap that way. Behind a reverse proxy every client has the proxy's address: raise the
     * cap, or let the proxy limit its clients.
     *
     * @param max at least 1
     * @return this builder
     * @throws IllegalArgumentException if {@code max} is below 1
     */
    public Builder<V> maxHeldQueriesPerClient(int max) {
      this.maxHeldPerClient = Require.atLeast(max, 1, "maxHeldQueriesPerClient");
      return this;
    }

    /**
     * Sets how many reads without an index (answered at once) of a plain source run at once
     * (default 64). Concurrent reads of one key share one fetch of the source; a read of another
     * key beyond the cap is answered 429 with {@code Retry-After}. Over {@link ConsulClient} each
     * running read is one connection to the agent, which refuses a host past its
     * {@code http_max_conns_per_client} (200), so this cap plus the held queries' shared fetches
     * keep the front under it. Has no effect over an in-memory store.
     *
     * @param max at least 1
     * @return this builder
     * @throws IllegalArgumentException if {@code max} is below 1
     */
    public Builder<V> maxConcurrentReads(int max) {
      this.maxReads = Require.atLeast(max, 1, "maxConcurrentReads");
      return this;
    }

    /**
     * Sets how long after its last fetch ended a key of a plain source is released
     * ({@link WatchSource#release(String)}), unless it is fetched again before (default 1 minute).
     * Without it, a source that keeps state per key (a {@link PollingWatchSource}'s last value)
     * would keep every key ever asked for. Zero releases at once, which makes a
     * {@link PollingWatchSource} invent a new index for the next query of the key: its clients
     * would be answered at once, again and again.
     *
     * @param delay zero or positive
     * @return this builder
     * @throws IllegalArgumentException if it is negative
     */
    public Builder<V> releaseKeysAfter(Duration delay) {
      this.releaseKeysAfter = Require.nonNegative(delay, "releaseKeysAfter");
      return this;
    }

    /** Test seam: how long past its wait a source may overrun before a held query gets 503. */
    Builder<V> overrunAllowed(Duration overrun) {
      this.overrunAllowed = Require.nonNegative(overrun, "overrunAllowed");
      return this;
    }

    /**
     * Sets the largest {@code PUT} body accepted (default 512 KiB, Consul's limit); a larger one is
     * answered 413 and never stored. A body declared larger by {@code Content-Length} is not read
     * at all; a streamed (chunked) one is read and dropped for at most 1 MiB past the limit, so
     * the client gets its 413 instead of a reset connection, and cut off beyond that.
     *
     * @param max at least 0
     * @return this builder
     * @throws IllegalArgumentException if {@code max} is negative or above
     *     {@code Integer.MAX_VALUE - 1}
     */
    public Builder<V> maxBodyBytes(int max) {
      Require.argument(max >= 0 && max < Integer.MAX_VALUE,
          "maxBodyBytes must be in [0, Integer.MAX_VALUE), was " + max);
      this.maxBodyBytes = max;
      return this;
    }

    /**
     * Sets the {@code Retry-After} of a 429 (default 1 s; sent in whole seconds, at least 1).
     *
     * @param retryAfter a positive duration
     * @return this builder
     * @throws IllegalArgumentException if it is not positive
     */
    public Builder<V> retryAfter(Duration retryAfter) {
      this.retryAfter = Require.positive(retryAfter, "retryAfter");
      return this;
    }

    /**
     * Builds the servlet.
     *
     * @return a new servlet
     */
    public BlockingQueryServlet<V> build() {
      return new BlockingQueryServlet<>(this, () -> ThreadLocalRandom.current().nextDouble());
    }
  }
}
