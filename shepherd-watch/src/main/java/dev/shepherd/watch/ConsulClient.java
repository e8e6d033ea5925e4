package dev.shepherd.watch;

import com.fasterxml.jackson.jr.ob.JSON;
import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.LimitedBody;
import dev.shepherd.core.internal.Require;
import dev.shepherd.core.internal.GoDuration;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/**
 * A client of Consul's HTTP API for the two kinds of blocking query worth watching, KV entries
 * ({@code GET /v1/kv/<key>}) and service health ({@code GET /v1/health/service/<service>}), on
 * {@link java.net.http.HttpClient}; each is also offered as a {@link WatchSource} for a
 * {@link Watcher}.
 *
 * <pre>{@code
 * ConsulClient consul = ConsulClient.builder()
 *     .baseUri(URI.create("http://127.0.0.1:8500"))
 *     .token(System.getenv("CONSUL_HTTP_TOKEN"))
 *     .build();
 * Watcher<Optional<KvEntry>> config = Watcher.builder(consul.kvSource()).build();
 * config.watch("service/api/config", "api-config", event -> System.out.println(event));
 * }</pre>
 *
 * <h2>Blocking queries</h2>
 *
 * A query with {@code index > 0} is sent as {@code ?index=<index>&wait=<wait>}; Consul holds it
 * until the result's index changes or the wait (plus up to wait/16 of jitter) passes, and answers
 * the index in {@code X-Consul-Index}, which this client returns as {@link Versioned#index()}. An
 * absent key is {@code 404} with an index: it reads as {@code Optional.empty()}. A response
 * without {@code X-Consul-Index} is answered with index 0, which the watch loop counts as a
 * failure. A malformed answer fails with {@link ConsulException} naming what did not parse: an
 * {@code X-Consul-Index} that is not an unsigned decimal, or a KV {@code Value} that is not
 * Base64 (named by its key, never quoted). Consul's indexes are unsigned 64-bit, {@link Versioned}'s
 * are non-negative {@code long}s: an index above {@code Long.MAX_VALUE} is a
 * {@link ConsulException} too, not a negative or wrapped index (a Raft index never gets near
 * 2<sup>63</sup>, so such a header comes from a broken agent or proxy, and the watch loop backing
 * off on it is better than following a wrong index). The ACL token travels in the
 * {@code X-Consul-Token} header, never in the URL, and never follows a redirect: the client's own
 * {@code HttpClient} does not follow them (a 3xx is a {@link ConsulException}) and a caller's
 * must not either.
 *
 * <h2>Why the connection limits cannot starve blocking queries</h2>
 *
 * <ul>
 *   <li>Every request is sent as HTTP/1.1 (also on a caller's own {@code HttpClient}): the JDK
 *       client then opens one more connection whenever no idle one is free and has no per-host or
 *       total cap ({@code jdk.httpclient.connectionPoolSize} only bounds <em>idle</em>
 *       connections kept). Over HTTP/2 queries could share one connection capped by the
 *       {@code MAX_CONCURRENT_STREAMS} the server sets, the silent starvation seen in Java Consul
 *       clients whose pools allow 2 or 5 connections per host.
 *   <li>Requests are sent with {@code sendAsync}: a held query parks no client thread; only the
 *       caller waits (a virtual thread in a {@link Watcher}).
 *   <li>Each request has a timeout of {@code wait + wait/16 + readTimeoutMargin} (default margin
 *       15 s), so a connection to a dead agent is noticed and retried instead of hanging forever.
 *   <li>The {@link Watcher} sends one query per key however many subscribe, so the number of open
 *       connections is the number of watched keys, well under Consul's
 *       {@code http_max_conns_per_client} (200 by default) for typical use; watch more keys than
 *       that from one process only after raising it. A {@link BlockingQueryServlet} over
 *       {@link #kvSource()} likewise shares one query per key and index among the queries it holds.
 * </ul>
 *
 * <p>Thread-safe. {@link #close()} shuts down the {@code HttpClient} if this client created it.
 *
 * <p>No Consul server can be installed where this module is built: it is tested against
 * {@link BlockingQueryServlet} on a real Jetty and against recorded Consul responses.
 */
public final class ConsulClient implements AutoCloseable {

  private final URI baseUri;
  private final @Nullable String token;
  private final @Nullable String datacenter;
  private final HttpClient http;
  private final boolean ownsHttp;
  private final Duration readTimeoutMargin;
  private final int maxResponseBytes;
  private final AtomicInteger inFlight = new AtomicInteger();

  private ConsulClient(Builder builder) {
    String base = builder.baseUri.toString();
    this.baseUri = URI.create(base.endsWith("/") ? base.substring(0, base.length() - 1) : base);
    this.token = builder.token;
    this.datacenter = builder.datacenter;
    this.readTimeoutMargin = builder.readTimeoutMargin;
    this.maxResponseBytes = builder.maxResponseBytes;
    if (builder.httpClient != null) {
      this.http = builder.httpClient;
      this.ownsHttp = false;
    } else {
      this.http = HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(builder.connectTimeout)
          .followRedirects(HttpClient.Redirect.NEVER)
          .build();
      this.ownsHttp = true;
    }
  }

  /**
   * Returns a builder with defaults: {@code http://127.0.0.1:8500}, no token, connect timeout 5 s, read timeout margin 15 s.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Reads a KV entry, blocking while its index equals {@code index} (a blocking query), at most
   * about {@code wait}.
   *
   * @param key the key, not empty
   * @param index the index the caller has; 0 answers at once
   * @param wait the longest hold, zero or more (Consul caps it at 10 minutes; zero is Consul's
   *     default of 5 minutes, as in Consul)
   * @return the entry, empty if the key is absent, with {@code X-Consul-Index}
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if {@code key} is empty or has a {@code .} or {@code ..}
   *     segment, or {@code index} or {@code wait} is negative
   * @throws ConsulException if the request failed, Consul answered an error, or the answer was
   *     malformed (an {@code X-Consul-Index} or a {@code Value} that does not parse)
   * @throws InterruptedException if interrupted while waiting (the request is cancelled)
   */
  public Versioned<Optional<KvEntry>> kvGet(String key, long index, Duration wait)
      throws InterruptedException {
    Require.notEmpty(key, "key");
    HttpResponse<byte[]> response = send(get("/v1/kv/" + encodePath(key), "", index, wait));
    long answered = consulIndex(response);
    if (response.statusCode() == 404) {
      return new Versioned<>(Optional.empty(), answered);
    }
    List<@Nullable Object> array = parseArray(response);
    if (array.isEmpty()) {
      return new Versioned<>(Optional.empty(), answered);
    }
    return new Versioned<>(Optional.of(kvEntry(object(array.get(0), response), response)),
        answered);
  }

  /**
   * Reads the instances of a service with their health, blocking while the index equals
   * {@code index}.
   *
   * @param service the service name, not empty
   * @param passingOnly true to ask only for instances whose checks all pass ({@code ?passing})
   * @param index the index the caller has; 0 answers at once
   * @param wait the longest hold, zero or more
   * @return the instances (empty if none) with {@code X-Consul-Index}
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if {@code service} is empty, {@code index} or {@code wait}
   *     negative
   * @throws ConsulException if the request failed, Consul answered an error, or the answer was
   *     malformed (an {@code X-Consul-Index} or a body that does not parse)
   * @throws InterruptedException if interrupted while waiting (the request is cancelled)
   */
  public Versioned<List<ServiceHealth>> healthService(String service, boolean passingOnly,
      long index, Duration wait) throws InterruptedException {
    Require.notEmpty(service, "service");
    HttpResponse<byte[]> response = send(get("/v1/health/service/" + encodePath(service),
        passingOnly ? "passing" : "", index, wait));
    long answered = consulIndex(response);
    List<ServiceHealth> result = new ArrayList<>();
    for (Object item : parseArray(response)) {
      result.add(serviceHealth(object(item, response), response));
    }
    return new Versioned<>(List.copyOf(result), answered);
  }

  /**
   * Writes a KV entry ({@code PUT /v1/kv/<key>}).
   *
   * @param key the key, not empty
   * @param value the raw value
   * @return whether Consul accepted the write (its {@code true} or {@code false} body)
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if {@code key} is empty
   * @throws ConsulException if the request failed or Consul answered an error
   * @throws InterruptedException if interrupted while waiting
   */
  public boolean kvPut(String key, byte[] value) throws InterruptedException {
    Require.notEmpty(key, "key");
    Require.nonNull(value, "value");
    HttpResponse<byte[]> response = send(request("/v1/kv/" + encodePath(key), "")
        .PUT(HttpRequest.BodyPublishers.ofByteArray(value)).timeout(readTimeoutMargin).build());
    return "true".equals(new String(response.body(), StandardCharsets.UTF_8).trim());
  }

  /**
   * Deletes a KV entry ({@code DELETE /v1/kv/<key>}).
   *
   * @param key the key, not empty
   * @return whether Consul accepted the delete
   * @throws NullPointerException if {@code key} is null
   * @throws IllegalArgumentException if {@code key} is empty
   * @throws ConsulException if the request failed or Consul answered an error
   * @throws InterruptedException if interrupted while waiting
   */
  public boolean kvDelete(String key) throws InterruptedException {
    Require.notEmpty(key, "key");
    HttpResponse<byte[]> response = send(request("/v1/kv/" + encodePath(key), "")
        .DELETE().timeout(readTimeoutMargin).build());
    return "true".equals(new String(response.body(), StandardCharsets.UTF_8).trim());
  }

  /**
   * Returns a {@link WatchSource} of KV entries: {@code fetch} is {@link #kvGet}.
   *
   * @return the source
   */
  public WatchSource<Optional<KvEntry>> kvSource() {
    return new WatchSource<>() {
      @Override
      public Versioned<Optional<KvEntry>> fetch(String key, long minIndex, Duration maxWait)
          throws InterruptedException {
        return kvGet(key, minIndex, maxWait);
      }

      @Override
      public String toString() {
        return "ConsulClient.kvSource[" + baseUri + "]";
      }
    };
  }

  /**
   * Returns a {@link WatchSource} of service health whose keys are service names: {@code fetch} is
   * {@link #healthService}.
   *
   * @param passingOnly true to watch only instances whose checks all pass
   * @return the source
   */
  public WatchSource<List<ServiceHealth>> healthSource(boolean passingOnly) {
    return new WatchSource<>() {
      @Override
      public Versioned<List<ServiceHealth>> fetch(String service, long minIndex, Duration maxWait)
          throws InterruptedException {
        return healthService(service, passingOnly, minIndex, maxWait);
      }

      @Override
      public String toString() {
        return "ConsulClient.healthSource[" + baseUri + ", passingOnly=" + passingOnly + "]";
      }
    };
  }

  /**
   * Returns how many requests are in flight now; lets tests and benchmarks count upstream queries.
   *
   * @return the requests in flight
   */
  public int inFlight() {
    return inFlight.get();
  }

  /**
   * Shuts the {@code HttpClient} down if this client created it, aborting requests in flight
   * (held blocking queries fail with a {@link ConsulException}).
   */
  @Override
  public void close() {
    if (ownsHttp) {
      http.shutdownNow();
    }
  }

  @Override
  public String toString() {
    return "ConsulClient[" + baseUri + ", token=" + (token == null ? "none" : "***") + "]";
  }

  // ------------------------------------------------------------------------------ requests

  private HttpRequest get(String path, String flag, long index, Duration wait) {
    Require.atLeast(index, 0L, "index");
    Require.nonNegative(wait, "wait");
    StringBuilder query = new StringBuilder(flag);
    Duration timeout = readTimeoutMargin;
    if (index > 0L) {
      // Consul holds a blocking query with a wait of zero for its default wait (5 minutes), as
      // if none was given: send that wait, and time the request out after it, not at once.
      Duration capped = wait.isZero() ? BlockingQueryServlet.DEFAULT_WAIT
          : wait.compareTo(BlockingQueryServlet.MAX_WAIT) > 0 ? BlockingQueryServlet.MAX_WAIT : wait;
      if (!query.isEmpty()) {
        query.append('&');
      }
      query.append("index=").append(index).append("&wait=").append(GoDuration.format(capped));
      timeout = Duration.ofNanos(Durations.saturatedAdd(
          Durations.toNanosSaturated(capped.plus(capped.dividedBy(16))),
          Durations.toNanosSaturated(readTimeoutMargin)));
    }
    return request(path, query.toString()).GET().timeout(timeout).build();
  }

  private HttpRequest.Builder request(String path, String query) {
    StringBuilder q = new StringBuilder(query);
    if (datacenter != null) {
      if (!q.isEmpty()) {
        q.append('&');
      }
      q.append("dc=").append(encodePath(datacenter));
    }
    HttpRequest.Builder builder = HttpRequest.newBuilder(
            URI.create(baseUri + path + (q.isEmpty() ? "" : "?" + q)))
        .version(HttpClient.Version.HTTP_1_1)
        .header("Accept", "application/json");
    if (token != null) {
      builder.header("X-Consul-Token", token);
    }
    return builder;
  }

  private HttpResponse<byte[]> send(HttpRequest request) throws InterruptedException {
    String what = request.method() + " " + request.uri().getRawPath();
    inFlight.incrementAndGet();
    CompletableFuture<HttpResponse<byte[]>> future =
        http.sendAsync(request, LimitedBody.handler(maxResponseBytes));
    // The request's timeout bounds the wait for the headers; this bounds the body as well.
    Duration bound = request.timeout().orElse(readTimeoutMargin).plus(readTimeoutMargin);
    HttpResponse<byte[]> response;
    try {
      response = future.get(Durations.toNanosSaturated(bound), TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      future.cancel(true);
      throw e;
    } catch (TimeoutException e) {
      future.cancel(true);
      throw new ConsulException(what + " to " + baseUri + " got no complete answer within "
          + bound, 0, e);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      throw new ConsulException(what + " to " + baseUri + " failed: " + cause, 0, cause);
    } finally {
      inFlight.decrementAndGet();
    }
    int status = response.statusCode();
    if (status != 200 && !(status == 404 && request.method().equals("GET"))) {
      String body = new String(response.body(), StandardCharsets.UTF_8);
      throw new ConsulException(what + " answered HTTP " + status + ": "
          + (body.length() > 200 ? body.substring(0, 200) + "..." : body), status, null);
    }
    return response;
  }

  /**
   * The X-Consul-Index header, or 0 when it is missing (a failure for the watch loop).
   *
   * @throws ConsulException if it is not an unsigned decimal, or is above {@code Long.MAX_VALUE}
   */
  static long consulIndex(HttpResponse<?> response) {
    Optional<String> header = response.headers().firstValue("X-Consul-Index");
    if (header.isEmpty()) {
      return 0L;
    }
    String text = header.get();
    String answered = response.request().method() + " " + response.request().uri().getRawPath()
        + " answered X-Consul-Index '"
        + (text.length() > 40 ? text.substring(0, 40) + "..." : text) + "'";
    long index;
    try {
      // Digits only: parseUnsignedLong would also take a leading '+'.
      if (text.isEmpty() || !text.chars().allMatch(c -> c >= '0' && c <= '9')) {
        throw new NumberFormatException("not digits");
      }
      index = Long.parseUnsignedLong(text);
    } catch (NumberFormatException e) {
      throw new ConsulException(answered + ", which is not an unsigned 64-bit integer",
          response.statusCode(), e);
    }
    if (index < 0L) { // above Long.MAX_VALUE as unsigned: see the class comment
      throw new ConsulException(answered + ", above " + Long.MAX_VALUE
          + ", the largest index this client represents", response.statusCode(), null);
    }
    return index;
  }

  // ------------------------------------------------------------------------------ parsing

  /** Jackson jr: maps, lists, strings, numbers, booleans and nulls, within Jackson's limits. */
  private static final JSON JSON_READER = JSON.std;

  private static List<@Nullable Object> parseArray(HttpResponse<byte[]> response) {
    Object parsed;
    try {
      parsed = JSON_READER.anyFrom(response.body());
    } catch (IOException | RuntimeException e) {
      throw new ConsulException(response.request().uri().getRawPath() + " answered malformed JSON: "
          + e.getMessage(), response.statusCode(), e);
    }
    if (parsed == null) {
      return List.of(); // Consul answers null for an empty result on some endpoints
    }
    if (!(parsed instanceof List<?> list)) {
      throw new ConsulException(response.request().uri().getRawPath()
          + " answered JSON that is not an array", response.statusCode(), null);
    }
    List<@Nullable Object> copy = new ArrayList<>(list);
    return copy;
  }

  private static Map<String, @Nullable Object> object(@Nullable Object value,
      HttpResponse<byte[]> response) {
    if (!(value instanceof Map<?, ?> map)) {
      throw new ConsulException(response.request().uri().getRawPath()
          + " answered an array element that is not an object", response.statusCode(), null);
    }
    Map<String, @Nullable Object> copy = new LinkedHashMap<>();
    map.forEach((k, v) -> copy.put(String.valueOf(k), v));
    return copy;
  }

  private static KvEntry kvEntry(Map<String, @Nullable Object> m, HttpResponse<byte[]> response) {
    Object value = m.get("Value");
    byte[] bytes;
    try {
      bytes = value instanceof String s ? Base64.getDecoder().decode(s) : null;
    } catch (IllegalArgumentException e) {
      // The value may be a secret: name the key and the decoder's reason, never the text.
      throw new ConsulException(response.request().method() + " "
          + response.request().uri().getRawPath() + " answered a Value of key '"
          + string(m, "Key") + "' that is not Base64: " + e.getMessage(), response.statusCode(), e);
    }
    Object session = m.get("Session");
    return new KvEntry(string(m, "Key"), bytes, number(m, "Flags"), number(m, "CreateIndex"),
        number(m, "ModifyIndex"), number(m, "LockIndex"),
        session instanceof String s ? s : null);
  }

  private static ServiceHealth serviceHealth(Map<String, @Nullable Object> m,
      HttpResponse<byte[]> response) {
    Map<String, @Nullable Object> node = object(m.get("Node"), response);
    Map<String, @Nullable Object> service = object(m.get("Service"), response);
    List<String> tags = new ArrayList<>();
    if (service.get("Tags") instanceof List<?> list) {
      for (Object tag : list) {
        tags.add(String.valueOf(tag));
      }
    }
    Map<String, String> meta = new LinkedHashMap<>();
    if (service.get("Meta") instanceof Map<?, ?> map) {
      map.forEach((k, v) -> meta.put(String.valueOf(k), String.valueOf(v)));
    }
    List<ServiceHealth.Check> checks = new ArrayList<>();
    if (m.get("Checks") instanceof List<?> list) {
      for (Object item : list) {
        Map<String, @Nullable Object> c = object(item, response);
        checks.add(new ServiceHealth.Check(string(c, "CheckID"), string(c, "Name"),
            string(c, "Status"), string(c, "Output"), string(c, "ServiceID")));
      }
    }
    return new ServiceHealth(
        new ServiceHealth.Node(string(node, "Node"), string(node, "Address"),
            string(node, "Datacenter")),
        new ServiceHealth.Service(string(service, "ID"), string(service, "Service"),
            string(service, "Address"), (int) number(service, "Port"), tags, meta),
        checks);
  }

  private static String string(Map<String, @Nullable Object> m, String field) {
    Object v = m.get(field);
    return v == null ? "" : String.valueOf(v);
  }

  private static long number(Map<String, @Nullable Object> m, String field) {
    return m.get(field) instanceof Number n ? n.longValue() : 0L;
  }

  /**
   * Percent-encodes each segment of a slash-separated path (RFC 3986 unreserved kept). A segment
   * {@code .} or {@code ..} is refused: sent as is, a path-normalising proxy or agent would
   * resolve it ({@code x/../../agent/self}) and the request, token included, would reach another
   * endpoint than the key's.
   *
   * @throws IllegalArgumentException if a segment is {@code .} or {@code ..}
   */
  static String encodePath(String path) {
    for (String segment : path.split("/", -1)) {
      if (segment.equals(".") || segment.equals("..")) {
        throw new IllegalArgumentException("a key or name may not have a '" + segment
            + "' segment");
      }
    }
    StringBuilder out = new StringBuilder(path.length() + 8);
    for (byte b : path.getBytes(StandardCharsets.UTF_8)) {
      int c = b & 0xff;
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
          || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
        out.append((char) c);
      } else {
        out.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
            .append(Character.toUpperCase(Character.forDigit(c & 0xf, 16)));
      }
    }
    return out.toString();
  }

  /**
   * Builder of {@link ConsulClient}; not thread-safe.
   */
  public static final class Builder {
    private URI baseUri = URI.create("http://127.0.0.1:8500");
    private @Nullable String token;
    private @Nullable String datacenter;
    private @Nullable HttpClient httpClient;
    private Duration connectTimeout = Duration.ofSeconds(5);
    private Duration readTimeoutMargin = Duration.ofSeconds(15);
    private int maxResponseBytes = 32 * 1024 * 1024;

    private Builder() {}

    /**
     * Sets the agent's address (default {@code http://127.0.0.1:8500}).
     *
     * @param baseUri an http or https URI
     * @return this builder
     * @throws NullPointerException if {@code baseUri} is null
     * @throws IllegalArgumentException if it is not http or https
     */
    public Builder baseUri(URI baseUri) {
      Require.nonNull(baseUri, "baseUri");
      Require.argument("http".equals(baseUri.getScheme()) || "https".equals(baseUri.getScheme()),
          "baseUri must be http or https, was " + baseUri);
      this.baseUri = baseUri;
      return this;
    }

    /**
     * Sets the ACL token sent in {@code X-Consul-Token} (default none). A null or empty token
     * sends none.
     *
     * @param token the token, or null
     * @return this builder
     */
    public Builder token(@Nullable String token) {
      this.token = token == null || token.isEmpty() ? null : token;
      return this;
    }

    /**
     * Sets the datacenter queried ({@code ?dc=}; default: the agent's own).
     *
     * @param datacenter the datacenter, not empty
     * @return this builder
     * @throws NullPointerException if {@code datacenter} is null
     * @throws IllegalArgumentException if it is empty
     */
    public Builder datacenter(String datacenter) {
      var unusedChecked = encodePath(Require.notEmpty(datacenter, "datacenter"));
      this.datacenter = datacenter;
      return this;
    }

    /**
     * Uses a caller's {@code HttpClient} (not closed by {@link ConsulClient#close()}). Requests are
     * still sent as HTTP/1.1, whatever its version setting, so queries never queue for streams.
     * Its connect timeout is its own. It must not follow redirects: the JDK client resends a
     * redirected request with its headers, so a 3xx from a proxy would carry the
     * {@code X-Consul-Token} to whatever host it names.
     *
     * @param httpClient the client, with {@code followRedirects() == Redirect.NEVER}
     * @return this builder
     * @throws NullPointerException if {@code httpClient} is null
     * @throws IllegalArgumentException if it follows redirects
     */
    public Builder httpClient(HttpClient httpClient) {
      Require.argument(Require.nonNull(httpClient, "httpClient").followRedirects()
          == HttpClient.Redirect.NEVER, "httpClient must not follow redirects (it would resend "
          + "the ACL token to the host a 3xx names), was " + httpClient.followRedirects());
      this.httpClient = httpClient;
      return this;
    }

    /**
     * Sets the connect timeout of the client this builder creates (default 5 s).
     *
     * @param timeout a positive duration
     * @return this builder
     * @throws NullPointerException if {@code timeout} is null
     * @throws IllegalArgumentException if not positive
     */
    public Builder connectTimeout(Duration timeout) {
      this.connectTimeout = Require.positive(timeout, "connectTimeout");
      return this;
    }

    /**
     * Sets the time a response may take beyond the query's wait and jitter before the request
     * fails (default 15 s); also the timeout of non-blocking requests.
     *
     * @param margin a positive duration
     * @return this builder
     * @throws NullPointerException if {@code margin} is null
     * @throws IllegalArgumentException if not positive
     */
    public Builder readTimeoutMargin(Duration margin) {
      this.readTimeoutMargin = Require.positive(margin, "readTimeoutMargin");
      return this;
    }

    /**
     * Sets the largest response body read (default 32 MiB); a longer one fails the request with
     * {@link ConsulException} without being buffered further.
     *
     * @param max at least 1
     * @return this builder
     * @throws IllegalArgumentException if {@code max} is below 1
     */
    public Builder maxResponseBytes(int max) {
      this.maxResponseBytes = Require.atLeast(max, 1, "maxResponseBytes");
      return this;
    }

    /**
     * Builds the client.
     *
     * @return a new client
     */
    public ConsulClient build() {
      return new ConsulClient(this);
    }
  }


}
