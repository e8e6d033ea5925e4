package dev.shepherd.watch;

import dev.shepherd.core.Require;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.DoubleSupplier;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * A servlet that serves an {@link InMemoryVersionedStore} over HTTP with the protocol of Consul's
 * KV endpoint and blocking queries, so other processes (and {@link ConsulClient}) can watch it.
 *
 * <pre>{@code
 * InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
 * ServletContextHandler context = new ServletContextHandler();
 * context.addServlet(new ServletHolder(BlockingQueryServlet.ofStrings(store)), "/v1/kv/*");
 * }</pre>
 *
 * <h2>Protocol (mapped at {@code /v1/kv/*}; the key is the rest of the path)</h2>
 *
 * <ul>
 *   <li>{@code GET /v1/kv/<key>?index=<n>&wait=<d>}: answers at once if the key's index differs
 *       from {@code n} (or {@code n} is 0 or absent); otherwise holds the request, without a
 *       thread (Servlet async), until the key is written or {@code wait} passes. {@code wait} is
 *       Go duration text ({@code 10s}, {@code 5m}), default 5 minutes, capped at 10 minutes; the
 *       server adds a random {@code [0, wait/16)} so that many clients spread out. The answer is
 *       Consul's JSON array with one entry ({@code Key, Value} in base64, {@code Flags},
 *       {@code CreateIndex, ModifyIndex, LockIndex}), or {@code 404} with an empty body when the
 *       key is absent; both carry the key's index in {@code X-Consul-Index}. {@code ?raw} answers
 *       the bare value.
 *   <li>{@code PUT /v1/kv/<key>} with the value as body: writes it, answers {@code true}.
 *   <li>{@code DELETE /v1/kv/<key>}: deletes it, answers {@code true}.
 *   <li>A malformed or negative {@code index} or {@code wait}: {@code 400} with a message naming
 *       the parameter and the value.
 * </ul>
 *
 * <p>Thread-safe. {@link #destroy()} releases the timer thread; requests still held then end when
 * the container closes their connections (clients see a failure and retry).
 *
 * @param <V> the type of values in the store
 */
public final class BlockingQueryServlet<V> extends HttpServlet {

  private static final long serialVersionUID = 1L;
  private static final System.Logger LOG = System.getLogger(BlockingQueryServlet.class.getName());

  /** Consul's default wait of a blocking query. */
  public static final Duration DEFAULT_WAIT = Duration.ofMinutes(5);
  /** Consul's longest wait of a blocking query. */
  public static final Duration MAX_WAIT = Duration.ofMinutes(10);

  // Servlets are Serializable by inheritance; this one is never serialised (its store is live
  // memory), so its fields are transient.
  private final transient InMemoryVersionedStore<V> store;
  private final transient Function<? super V, byte[]> encoder;
  private final transient Function<byte[], ? extends V> decoder;
  private final transient DoubleSupplier random;
  private final transient Executor responders;
  private transient @Nullable ScheduledExecutorService timer;

  private BlockingQueryServlet(InMemoryVersionedStore<V> store, Function<? super V, byte[]> encoder,
      Function<byte[], ? extends V> decoder, DoubleSupplier random) {
    this.store = store;
    this.encoder = encoder;
    this.decoder = decoder;
    this.random = random;
    this.responders = task -> Thread.ofVirtual().name("shepherd-kv-response").start(task);
  }

  /**
   * Returns a servlet serving a store of strings (UTF-8 on the wire).
   *
   * @param store the store
   * @return the servlet
   * @throws NullPointerException if {@code store} is null
   */
  public static BlockingQueryServlet<String> ofStrings(InMemoryVersionedStore<String> store) {
    return of(store, s -> s.getBytes(StandardCharsets.UTF_8),
        b -> new String(b, StandardCharsets.UTF_8));
  }

  /**
   * Returns a servlet serving a store of any type, with its byte encoding.
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
    return new BlockingQueryServlet<>(Require.nonNull(store, "store"),
        Require.nonNull(encoder, "encoder"), Require.nonNull(decoder, "decoder"),
        () -> ThreadLocalRandom.current().nextDouble());
  }

  /** Test seam: fixes the jitter's random source. */
  static <V> BlockingQueryServlet<V> withRandom(BlockingQueryServlet<V> s, DoubleSupplier random) {
    return new BlockingQueryServlet<>(s.store, s.encoder, s.decoder, random);
  }

  @Override
  public void init() {
    timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "shepherd-kv-wait-timer");
      t.setDaemon(true);
      return t;
    });
  }

  @Override
  public void destroy() {
    ScheduledExecutorService t = timer;
    if (t != null) {
      t.shutdownNow();
    }
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

  @Override
  protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
    String key = key(req);
    if (key == null) {
      badRequest(resp, "missing key: request /v1/kv/<key>");
      return;
    }
    long index;
    Duration wait;
    try {
      index = parseIndex(req.getParameter("index"));
      wait = parseWait(req.getParameter("wait"));
    } catch (IllegalArgumentException e) {
      badRequest(resp, e.getMessage());
      return;
    }
    boolean raw = req.getParameter("raw") != null;
    CompletableFuture<Versioned<Optional<V>>> change = store.whenChanged(key, index);
    if (change.isDone()) {
      write(resp, key, change.join(), raw);
      return;
    }
    AsyncContext async = req.startAsync();
    async.setTimeout(0);
    AtomicBoolean answered = new AtomicBoolean();
    ScheduledExecutorService t = timer;
    ScheduledFuture<?> timeout = t == null ? null : t.schedule(() -> {
      if (answered.compareAndSet(false, true)) {
        change.cancel(false);
        responders.execute(() -> finish(async, key, store.get(key), raw));
      }
    }, effectiveWait(wait).toNanos(), TimeUnit.NANOSECONDS);
    async.addListener(new AsyncListener() {
      @Override
      public void onComplete(AsyncEvent event) {}

      @Override
      public void onTimeout(AsyncEvent event) {}

      @Override
      public void onError(AsyncEvent event) { // client went away
        if (answered.compareAndSet(false, true)) {
          change.cancel(false);
          if (timeout != null) {
            timeout.cancel(false);
          }
        }
      }

      @Override
      public void onStartAsync(AsyncEvent event) {}
    });
    var unusedAnswer = change.whenCompleteAsync((value, error) -> {
      if (error instanceof CancellationException || value == null) {
        return;
      }
      if (answered.compareAndSet(false, true)) {
        if (timeout != null) {
          timeout.cancel(false);
        }
        finish(async, key, value, raw);
      }
    }, responders);
  }

  private void finish(AsyncContext async, String key, Versioned<Optional<V>> value, boolean raw) {
    try {
      write((HttpServletResponse) async.getResponse(), key, value, raw);
    } catch (IOException | RuntimeException e) {
      LOG.log(Level.DEBUG, "could not answer a blocking query on '" + key + "'", e);
    } finally {
      try {
        async.complete();
      } catch (IllegalStateException alreadyDone) {
        // the container completed it (client gone)
      }
    }
  }

  private void write(HttpServletResponse resp, String key, Versioned<Optional<V>> value,
      boolean raw) throws IOException {
    resp.setHeader("X-Consul-Index", Long.toString(value.index()));
    resp.setHeader("X-Consul-KnownLeader", "true");
    resp.setHeader("X-Consul-LastContact", "0");
    if (value.value().isEmpty()) {
      resp.setStatus(HttpServletResponse.SC_NOT_FOUND);
      resp.setContentLength(0);
      return;
    }
    byte[] bytes = encoder.apply(value.value().get());
    byte[] body;
    if (raw) {
      resp.setContentType("application/octet-stream");
      body = bytes;
    } else {
      StringBuilder json = new StringBuilder(64 + bytes.length * 4 / 3);
      json.append("[{\"LockIndex\":0,\"Key\":");
      Json.writeString(json, key);
      json.append(",\"Flags\":0,\"Value\":\"").append(Base64.getEncoder().encodeToString(bytes))
          .append("\",\"CreateIndex\":").append(store.createIndex(key))
          .append(",\"ModifyIndex\":").append(value.index()).append("}]");
      resp.setContentType("application/json");
      body = json.toString().getBytes(StandardCharsets.UTF_8);
    }
    resp.setStatus(HttpServletResponse.SC_OK);
    resp.setContentLength(body.length);
    resp.getOutputStream().write(body);
  }

  @Override
  protected void doPut(HttpServletRequest req, HttpServletResponse resp) throws IOException {
    String key = key(req);
    if (key == null) {
      badRequest(resp, "missing key: request /v1/kv/<key>");
      return;
    }
    byte[] body = req.getInputStream().readAllBytes();
    long index = store.put(key, decoder.apply(body));
    answerTrue(resp, index);
  }

  @Override
  protected void doDelete(HttpServletRequest req, HttpServletResponse resp) throws IOException {
    String key = key(req);
    if (key == null) {
      badRequest(resp, "missing key: request /v1/kv/<key>");
      return;
    }
    answerTrue(resp, store.delete(key));
  }

  private static void answerTrue(HttpServletResponse resp, long index) throws IOException {
    resp.setHeader("X-Consul-Index", Long.toString(index));
    resp.setContentType("application/json");
    byte[] body = "true".getBytes(StandardCharsets.US_ASCII);
    resp.setContentLength(body.length);
    resp.getOutputStream().write(body);
  }

  private static @Nullable String key(HttpServletRequest req) {
    String path = req.getPathInfo();
    if (path == null || path.length() <= 1) {
      return null;
    }
    return path.substring(1);
  }

  static long parseIndex(@Nullable String text) {
    if (text == null || text.isEmpty()) {
      return 0L;
    }
    try {
      long index = Long.parseLong(text);
      Require.argument(index >= 0, "index must not be negative, was " + text);
      return index;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("index must be a non-negative integer, was '" + text + "'");
    }
  }

  static Duration parseWait(@Nullable String text) {
    if (text == null || text.isEmpty()) {
      return DEFAULT_WAIT;
    }
    Duration wait;
    try {
      wait = GoDuration.parse(text);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("wait: " + e.getMessage());
    }
    Require.argument(!wait.isNegative(), "wait must not be negative, was '" + text + "'");
    return wait;
  }

  private static void badRequest(HttpServletResponse resp, @Nullable String message)
      throws IOException {
    byte[] body = String.valueOf(message).getBytes(StandardCharsets.UTF_8);
    resp.setStatus(HttpServletResponse.SC_BAD_REQUEST);
    resp.setContentType("text/plain;charset=utf-8");
    resp.setContentLength(body.length);
    resp.getOutputStream().write(body);
  }
}
