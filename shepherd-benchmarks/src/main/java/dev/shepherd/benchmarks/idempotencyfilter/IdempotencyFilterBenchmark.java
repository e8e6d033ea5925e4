package dev.shepherd.benchmarks.idempotencyfilter;

import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.InMemoryIdempotencyStore;
import dev.shepherd.idempotency.servlet.IdempotencyFilter;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.Serial;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.EnumSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Group;
import org.openjdk.jmh.annotations.GroupThreads;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.jspecify.annotations.Nullable;

/**
 * Requests per second through a real Jetty 12 on loopback, with and without
 * {@link IdempotencyFilter} (in-memory store), driven by clients on the same machine: a minimal
 * keep-alive HTTP/1.1 client ({@link RawHttpConnection}, so the server's cost dominates) and, in
 * the {@code sideBySideHttpClient} group, java.net.http as an application would use it.
 *
 * <ul>
 *   <li>{@code withoutFilter}: the same POST (with its Idempotency-Key header) to a Jetty that has
 *       no filter: the baseline.
 *   <li>{@code withFilterNewKey}: every POST carries a fresh key: parse, read body, fingerprint,
 *       claim, run the servlet with the body held, store, send. The path every first request takes.
 *   <li>{@code withFilterReplay}: every POST repeats one key: parse, fingerprint, replay.
 * </ul>
 *
 * Target (issue 5): {@code withFilterNewKey} at least 0.8 times {@code withoutFilter}.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Threads(4)
@State(Scope.Benchmark)
public class IdempotencyFilterBenchmark {

  private static final byte[] BODY =
      "{\"customer\":\"c-42\",\"amount\":1999,\"currency\":\"EUR\"}".getBytes(StandardCharsets.UTF_8);

  private static final String REPLAYED_KEY = "\"replayed-key\"";

  private Server plain;
  private Server filtered;
  private Server filteredReplay;
  private IdempotencyTracker tracker;
  private HttpClient client;
  private URI plainUri;
  private URI filteredUri;
  private URI filteredReplayUri;
  private final AtomicLong keys = new AtomicLong();

  /** The application: reads the body, answers a small JSON document. */
  static final class OrderServlet extends HttpServlet {
    @Serial private static final long serialVersionUID = 1L;

    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse res) throws IOException {
      byte[] body = req.getInputStream().readAllBytes();
      byte[] out = ("{\"id\":\"ord-1\",\"received\":" + body.length + "}")
          .getBytes(StandardCharsets.UTF_8);
      res.setStatus(201);
      res.setContentType("application/json");
      res.setHeader("Location", "/orders/ord-1");
      res.setContentLength(out.length);
      res.getOutputStream().write(out);
    }
  }

  @Setup(Level.Trial)
  public void start() throws Exception {
    tracker = IdempotencyTracker.builder().store(InMemoryIdempotencyStore.create()).build();
    plain = jetty(null);
    // The benchmark's clients are anonymous: they share one scope, as allowAnonymous says.
    filtered = jetty(IdempotencyFilter.builder(tracker).allowAnonymous(true).build());
    // A server of its own for replays, so that in the side-by-side group each variant has its
    // own acceptor and selector threads, as the baseline does.
    filteredReplay = jetty(IdempotencyFilter.builder(tracker).allowAnonymous(true).build());
    plainUri = URI.create("http://127.0.0.1:" + port(plain) + "/orders");
    filteredUri = URI.create("http://127.0.0.1:" + port(filtered) + "/orders");
    filteredReplayUri = URI.create("http://127.0.0.1:" + port(filteredReplay) + "/orders");
    client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    post(filteredReplayUri, REPLAYED_KEY); // the first use; every later one replays
  }

  private static Server jetty(@Nullable IdempotencyFilter filter) throws Exception {
    Server server = new Server();
    ServerConnector connector = new ServerConnector(server);
    connector.setHost("127.0.0.1");
    connector.setPort(0);
    server.addConnector(connector);
    ServletContextHandler context = new ServletContextHandler();
    context.setContextPath("/");
    if (filter != null) {
      context.addFilter(new FilterHolder(filter), "/*", EnumSet.of(DispatcherType.REQUEST));
    }
    context.addServlet(new ServletHolder(new OrderServlet()), "/*");
    server.setHandler(context);
    server.start();
    return server;
  }

  private static int port(Server server) {
    return ((ServerConnector) server.getConnectors()[0]).getLocalPort();
  }

  @TearDown(Level.Trial)
  public void stop() throws Exception {
    client.close();
    plain.stop();
    filtered.stop();
    filteredReplay.stop();
    tracker.close();
  }

  private int post(URI uri, String key) throws Exception {
    HttpResponse<byte[]> response = client.send(HttpRequest.newBuilder(uri)
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", key)
        .POST(HttpRequest.BodyPublishers.ofByteArray(BODY))
        .build(), HttpResponse.BodyHandlers.ofByteArray());
    if (response.statusCode() != 201) {
      throw new IllegalStateException("expected 201, got " + response.statusCode() + ": "
          + new String(response.body(), StandardCharsets.UTF_8));
    }
    return response.body().length;
  }

  /** One keep-alive connection per benchmark thread to each server. */
  @State(Scope.Thread)
  public static class Connections {
    RawHttpConnection plain;
    RawHttpConnection filtered;
    RawHttpConnection filteredReplay;

    @Setup(Level.Trial)
    public void open(IdempotencyFilterBenchmark servers) throws IOException {
      plain = new RawHttpConnection(port(servers.plain));
      filtered = new RawHttpConnection(port(servers.filtered));
      filteredReplay = new RawHttpConnection(port(servers.filteredReplay));
    }

    @TearDown(Level.Trial)
    public void close() throws IOException {
      plain.close();
      filtered.close();
      filteredReplay.close();
    }
  }

  private static int check(int status) {
    if (status != 201) {
      throw new IllegalStateException("expected 201, got " + status);
    }
    return status;
  }

  private String newKey() {
    return "\"k-" + keys.incrementAndGet() + "\"";
  }

  // ---- raw keep-alive client: the server's cost dominates ----------------------------------------

  @Benchmark
  public int withoutFilter(Connections c) throws IOException {
    return check(c.plain.post("/orders", newKey(), BODY));
  }

  @Benchmark
  public int withFilterNewKey(Connections c) throws IOException {
    return check(c.filtered.post("/orders", newKey(), BODY));
  }

  @Benchmark
  public int withFilterReplay(Connections c) throws IOException {
    return check(c.filteredReplay.post("/orders", REPLAYED_KEY, BODY));
  }

  /*
   * The same three at the same time in one group (two client threads each), each against its own
   * Jetty: on a shared, noisy machine, load changes hit all three alike, so their ratio is steadier
   * than the ratio of benchmarks run one after the other.
   */

  @Benchmark
  @Group("sideBySide")
  @GroupThreads(2)
  public int sideBySideWithoutFilter(Connections c) throws IOException {
    return withoutFilter(c);
  }

  @Benchmark
  @Group("sideBySide")
  @GroupThreads(2)
  public int sideBySideWithFilterNewKey(Connections c) throws IOException {
    return withFilterNewKey(c);
  }

  @Benchmark
  @Group("sideBySide")
  @GroupThreads(2)
  public int sideBySideWithFilterReplay(Connections c) throws IOException {
    return withFilterReplay(c);
  }

  // ---- java.net.http client, as an application would call: the client's cost is included --------

  @Benchmark
  @Group("sideBySideHttpClient")
  @GroupThreads(2)
  public int httpClientWithoutFilter() throws Exception {
    return post(plainUri, newKey());
  }

  @Benchmark
  @Group("sideBySideHttpClient")
  @GroupThreads(2)
  public int httpClientWithFilterNewKey() throws Exception {
    return post(filteredUri, newKey());
  }

  @Benchmark
  @Group("sideBySideHttpClient")
  @GroupThreads(2)
  public int httpClientWithFilterReplay() throws Exception {
    return post(filteredReplayUri, REPLAYED_KEY);
  }
}
