package dev.shepherd.demo;

import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.redis.RedisIdempotencyStore;
import dev.shepherd.watch.etcd.EtcdKvWriter;
import dev.shepherd.watch.etcd.EtcdWatchSource;
import io.etcd.jetcd.Client;
import io.lettuce.core.RedisClient;
import jakarta.servlet.http.HttpServlet;
import dev.shepherd.idempotency.JdbcIdempotencyStore;
import dev.shepherd.idempotency.servlet.IdempotencyFilter;
import dev.shepherd.micrometer.ShepherdMetrics;
import dev.shepherd.pool.ElasticPool;
import dev.shepherd.pool.LocalBackend;
import dev.shepherd.pool.ProcessBackend;
import dev.shepherd.pool.spi.Backend;
import dev.shepherd.replica.ConsistencyTokenCodec;
import dev.shepherd.replica.ConsistencyTokenFilter;
import dev.shepherd.replica.ReplicaRouter;
import dev.shepherd.replica.ReplicaTracker;
import dev.shepherd.watch.BlockingQueryServlet;
import dev.shepherd.watch.InMemoryVersionedStore;
import dev.shepherd.watch.Watcher;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.distribution.ValueAtPercentile;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import jakarta.servlet.DispatcherType;
import java.io.IOException;
import java.io.PrintStream;
import java.net.BindException;
import java.net.URI;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.util.component.LifeCycle;
import org.eclipse.jetty.server.NetworkConnectionLimit;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.MinimumDataRateHandler;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.jspecify.annotations.Nullable;

/**
 * The reference service: an order service on Jetty 12 that uses every Shepherd capability the way a
 * user would. {@link #start} wires it; {@link #close} stops everything it started, the embedded
 * PostgreSQL servers and their temporary directory included.
 *
 * <ul>
 *   <li>{@code POST /orders}: idempotent through {@link IdempotencyFilter} with the JDBC store on the
 *       primary; the answer carries a signed consistency token for the write.
 *   <li>{@code GET /orders/{id}}: read on the replica once it has replayed the caller's write (the
 *       token), falling back to the primary after 500 ms.
 *   <li>{@code GET /products/{id}}: through a {@link CoalescingCache} over a 200 ms catalog.
 *   <li>{@code GET /config/{key}} as a Consul-style blocking query, or as server-sent events with
 *       {@code Accept: text/event-stream} (at most {@value ConfigServlet#MAX_STREAMS} streams open
 *       at once); {@code PUT /config/{key}} changes it.
 *   <li>{@code POST /reports}: counts primes on the {@link ElasticPool} (child-JVM runners).
 *   <li>Every JSON body ({@code /orders}, {@code /reports}, playground runs) is
 *       {@code application/json} of at most {@value Json#MAX_BODY} bytes (415 and 413 otherwise;
 *       on {@code /orders} the idempotency filter, bounded at the same size, answers the 413).
 *   <li>Every request must name the service ({@code Host} {@code 127.0.0.1:<port>} or
 *       {@code localhost:<port>}, else 421), and a write with an {@code Origin} must come from its
 *       own pages (else 403): {@link LocalHostFilter}, against DNS rebinding.
 *   <li>At most {@value #MAX_CONNECTIONS} connections; a request body arrives at
 *       {@value #MIN_REQUEST_DATA_RATE} bytes/s at least, or the request is ended.
 *   <li>{@code GET /metrics} (Prometheus), {@code GET /api/stats} and the dashboard at {@code /};
 *       {@code GET /api/settings}: each capability's settings, read from its {@code config()}.
 *   <li>The playground under {@code /playground/} ({@link Playground}): each capability's scenario
 *       beside its naive baseline, results at {@code /api/playground/{name}}.
 * </ul>
 */
final class DemoService implements AutoCloseable {

  private final Database database;
  private final PrometheusMeterRegistry registry;
  private final IdempotencyTracker tracker;
  private final ReplicaTracker replicaTracker;
  private final ReplicaRouter router;
  private final CoalescingCache<String, Catalog.Product> products;
  private final Catalog catalog;
  private final InMemoryVersionedStore<String> config;
  private final @Nullable RedisClient redis;
  private final @Nullable Client etcd;
  private final @Nullable EtcdWatchSource<String> etcdSource;
  private final Watcher<Optional<String>> watcher;
  private final ElasticPool pool;
  private final Server server;
  private final Figures figures;
  private final WatchScenario watchScenario;
  private final Playground playground;
  private final long startedNanos = System.nanoTime();
  private final AtomicLong replicaLagBytes = new AtomicLong(-1);
  private final Thread lagSampler;

  private DemoService(DemoOptions options, Database database) throws Exception {
    this.database = database;
    this.registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);

    database.createSchema();
    IdempotencyStore store;
    if (options.redisUri().isPresent()) {
      this.redis = RedisClient.create(options.redisUri().get());
      store = RedisIdempotencyStore.builder(redis).build();
    } else {
      this.redis = null;
      store = JdbcIdempotencyStore.builder(database.primary()).createSchema(true).build();
    }
    this.tracker = IdempotencyTracker.builder()
        .store(ShepherdMetrics.meteredStore(registry, "orders", store))
        .lease(Duration.ofSeconds(30))
        .build();

    this.replicaTracker = ReplicaTracker.builder(database.replica()).name("replica-1").build();
    ShepherdMetrics.bindReplicaTracker(registry, replicaTracker);
    this.router = ReplicaRouter.builder(database.primary())
        .replica(replicaTracker)
        .maxWait(Duration.ofMillis(500))
        .listener(ShepherdMetrics.routeListener(registry, "orders"))
        .build();
    // The signing key survives restarts, so browsers' consistency cookies stay valid: it lives in
    // $XDG_STATE_HOME/shepherd-demo/consistency-token.key (default ~/.local/state/...), made 0600.
    String stateHome = System.getenv("XDG_STATE_HOME");
    java.nio.file.Path keyFile = (stateHome != null && !stateHome.isBlank()
        ? java.nio.file.Path.of(stateHome) : java.nio.file.Path.of(System.getProperty("user.home"), ".local", "state"))
        .resolve("shepherd-demo").resolve("consistency-token.key");
    byte[] secret = dev.shepherd.replica.SigningKeyFile.loadOrCreate(keyFile);
    ConsistencyTokenCodec codec = ConsistencyTokenCodec.builder().signingKey("demo-1", secret).build();

    this.catalog = new Catalog();
    this.products = CoalescingCache.<String, Catalog.Product>builder()
        .maximumSize(10_000)
        .timeToLive(Duration.ofSeconds(20))
        .build();
    ShepherdMetrics.bindCache(registry, "products", products);

    this.config = InMemoryVersionedStore.create();
    if (options.etcdEndpoint().isPresent()) {
      this.etcd = Client.builder().endpoints(options.etcdEndpoint().get()).build();
      this.etcdSource = EtcdWatchSource.builder(etcd).build();
      this.watcher = Watcher.builder(etcdSource).name("config")
          .backoff(dev.shepherd.core.Backoff.exponential().max(Duration.ofSeconds(1)).build()).build();
    } else {
      this.etcd = null;
      this.etcdSource = null;
      config.put("feature-flags", "{\"checkout-v2\":false}");
      this.watcher = Watcher.builder(config).name("config").build();
      ShepherdMetrics.bindVersionedStore(registry, "config", config);
    }
    ShepherdMetrics.bindWatcher(registry, "config", watcher);

    Backend backend = options.poolBackend().equals("local")
        ? LocalBackend.of(new DemoFunctions().create())
        : ProcessBackend.builder().functions(DemoFunctions.class).build();
    this.pool = ElasticPool.builder()
        .name("reports")
        .backend(backend)
        .min(0)
        .max(2)
        .maxConcurrency(2)
        .idleShutdownAfter(Duration.ofSeconds(30))
        .callTimeout(Duration.ofSeconds(30))
        .build();
    ShepherdMetrics.bindPool(registry, pool);
    Gauge.builder("demo.replica.lag.bytes", replicaLagBytes, AtomicLong::get)
        .description("primary WAL position minus the replica's replay position").register(registry);

    this.figures = dashboardFigures();
    this.watchScenario = new WatchScenario(this::baseUri);
    this.playground = new Playground(List.of(new CacheScenario(),
        new IdempotencyScenario(this::baseUri, database.primary()),
        new ReplicaScenario(this::baseUri, database.replica(), router.config().maxWait()), watchScenario,
        new PoolScenario()));
    this.server = jetty(options, codec);
    this.lagSampler = Thread.ofVirtual().name("replica-lag-sampler").start(this::sampleLag);
  }

  /**
   * Starts the service.
   *
   * @throws PortInUseException if the port is taken
   */
  static DemoService start(DemoOptions options, PrintStream out) throws Exception {
    // Fail on a taken port before starting PostgreSQL; Jetty's own bind below still reports a race.
    if (options.port() != 0) {
      try (java.net.ServerSocket probe = new java.net.ServerSocket()) {
        probe.setReuseAddress(true);
        probe.bind(new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), options.port()));
      } catch (IOException e) {
        throw new PortInUseException(options.port(), e);
      }
    }
    Database database = Database.open(options, out);
    DemoService service = null;
    try {
      service = new DemoService(options, database);
      service.server.start();
      return service;
    } catch (IOException e) {
      if (service != null) {
        service.close();
      } else {
        database.close();
      }
      if (e instanceof BindException || e.getCause() instanceof BindException) {
        throw new PortInUseException(options.port(), e);
      }
      throw e;
    } catch (Exception | Error e) {
      if (service != null) {
        service.close();
      } else {
        database.close();
      }
      throw e;
    }
  }

  private URI baseUri() {
    return URI.create("http://127.0.0.1:" + port() + "/");
  }

  int port() {
    return ((ServerConnector) server.getConnectors()[0]).getLocalPort();
  }

  void printWelcome(PrintStream out) {
    String base = "http://127.0.0.1:" + port();
    out.println("""

        Shepherd reference service is up.
          dashboard   %1$s/
          playground  %1$s/playground/   (each guarantee at a click, beside the naive baseline)
          metrics     %1$s/metrics
          PostgreSQL  primary %2$s, replica %3$s
          %4$s

        Try:
          curl -i -X POST %1$s/orders -H 'Content-Type: application/json' \\
               -H 'Idempotency-Key: "order-1"' -d '{"customer":"ada","product":"p1","quantity":2}'
            (run it again: the same answer, replayed; change the body: 422)
          curl -i %1$s/orders/1 -H 'Shepherd-Consistency-Token: <token from the POST>'
          curl -i %1$s/products/7            (first call loads for 200 ms, then hits)
          curl -i '%1$s/config/feature-flags?index=1&wait=30s'   (blocks until a change)
          curl -N -H 'Accept: text/event-stream' %1$s/config/feature-flags
          curl -X PUT %1$s/config/feature-flags -d '{"checkout-v2":true}'
          curl -X POST %1$s/reports -H 'Content-Type: application/json' -d '{"upTo":2000000}'
          ./shepherd demo --load %1$s/        (drives traffic so the dashboard moves)

        Ctrl-C stops the service and everything it started.
        """.formatted(base, database.primaryDescription(), database.replicaDescription(),
            (redis != null ? "idempotency on Redis" : "idempotency on PostgreSQL (JDBC store)")
                + (etcd != null ? ", config on etcd" : ", config in memory")));
  }

  /** The most connections open at once; Jetty accepts no more until one closes. */
  static final int MAX_CONNECTIONS = 1_000;
  /** The slowest a request body may arrive, in bytes per second (a 4 KB body within 4 s). */
  static final long MIN_REQUEST_DATA_RATE = 1_024;

  private Server jetty(DemoOptions options, ConsistencyTokenCodec codec) {
    QueuedThreadPool threads = new QueuedThreadPool(400, 8);
    threads.setName("demo-http");
    threads.setVirtualThreadsExecutor(java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor());
    Server jetty = new Server(threads);
    ServerConnector connector = new ServerConnector(jetty);
    connector.setHost("127.0.0.1");
    connector.setPort(options.port());
    jetty.addConnector(connector);

    ServletContextHandler context = new ServletContextHandler();
    context.setContextPath("/");
    EnumSet<DispatcherType> request = EnumSet.of(DispatcherType.REQUEST);
    // First of all: a request must name this service (Host), and a write must not come from a page
    // of another origin; listening on 127.0.0.1 alone does not stop a DNS-rebound page.
    context.addFilter(new FilterHolder(new LocalHostFilter()), "/*", request);
    // Idempotency outside, consistency inside: a replayed answer carries the original token.
    // "/orders/*" also matches "/orders" itself: map each filter once, or it runs twice.
    // The demo has no login: its callers share one anonymous scope, an explicit opt-in (a real
    // service scopes keys per user with principalResolver).
    // The filter reads and holds a keyed body before the servlet sees it: bounded at the demo's own
    // JSON limit, not the filter's default 1 MiB, so a longer body is refused (413 body-too-large,
    // nothing stored for its key) before it is buffered.
    IdempotencyFilter idempotency = IdempotencyFilter.builder(tracker).allowAnonymous(true)
        .maxBodySize(Json.MAX_BODY).build();
    context.addFilter(new FilterHolder(idempotency), "/orders/*", request);
    ConsistencyTokenFilter consistency = ConsistencyTokenFilter.builder(codec).secureCookie(false).build();
    context.addFilter(new FilterHolder(consistency), "/orders/*", request);

    context.addServlet(new ServletHolder(new OrdersServlet(database.primary(), router)), "/orders/*");
    context.addServlet(new ServletHolder(new ProductsServlet(products, catalog)), "/products/*");
    // One servlet over either source: the in-memory store, or etcd with writes through etcd.
    HttpServlet configQueries = etcd != null && etcdSource != null
        ? BlockingQueryServlet.builder(etcdSource, (String s) -> s.getBytes(StandardCharsets.UTF_8))
            .writer(EtcdKvWriter.utf8(etcd), b -> new String(b, StandardCharsets.UTF_8)).build()
        : BlockingQueryServlet.ofStrings(config);
    ConfigServlet configServlet = new ConfigServlet(configQueries, watcher, ConfigServlet.MAX_STREAMS);
    endOnStop(jetty, configServlet);
    ServletHolder configHolder = new ServletHolder(configServlet);
    configHolder.setAsyncSupported(true);
    context.addServlet(configHolder, "/config/*");
    context.addServlet(new ServletHolder(new ReportsServlet(pool)), "/reports");
    context.addServlet(new ServletHolder(new TextServlet("text/plain; version=0.0.4; charset=utf-8",
        registry::scrape)), "/metrics");
    context.addServlet(new ServletHolder(new TextServlet("application/json",
        () -> figures.toJson(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - startedNanos)))), "/api/stats");
    String settings = settingsJson();
    context.addServlet(new ServletHolder(new TextServlet("application/json", () -> settings)), "/api/settings");
    context.addServlet(new ServletHolder(TextServlet.resource("text/html; charset=utf-8", "dashboard.html")), "");
    playground(context, consistency, jetty);
    // A body must arrive at MIN_REQUEST_DATA_RATE at least, or the read fails and the request ends:
    // the idle timeout alone lets a body dripped a byte just under every 30 s hold its request for
    // hours. No minimum for writes: an event stream writes a heartbeat every 5 s and nothing else.
    jetty.setHandler(new MinimumDataRateHandler(context, MIN_REQUEST_DATA_RATE, 0));
    // At most MAX_CONNECTIONS open connections: past it Jetty stops accepting until one closes.
    jetty.addBean(new NetworkConnectionLimit(MAX_CONNECTIONS, jetty));
    jetty.setStopTimeout(5_000);
    return jetty;
  }

  /**
   * Ends the servlet's event streams and held queries as soon as the server starts stopping:
   * Jetty's graceful stop waits for open requests, and those never end by themselves.
   */
  private static void endOnStop(Server jetty, ConfigServlet servlet) {
    jetty.addEventListener(new LifeCycle.Listener() {
      @Override
      public void lifeCycleStopping(LifeCycle event) {
        servlet.endAll();
      }
    });
  }

  /**
   * Maps the playground under {@code /playground/} (page, runs, the storm's unfiltered baseline and
   * the watch scenario's streams) and its results under {@code /api/playground/}, apart from the
   * service's ordinary endpoints.
   */
  private void playground(ServletContextHandler context, ConsistencyTokenFilter consistency,
      Server jetty) {
    context.addFilter(new FilterHolder(consistency), "/playground/naive/orders", EnumSet.of(DispatcherType.REQUEST));
    context.addServlet(new ServletHolder(new NaiveOrdersServlet(playground,
        new OrdersServlet(database.primary(), router))), "/playground/naive/orders");
    ConfigServlet scenarioStreams = watchScenario.servlet();
    endOnStop(jetty, scenarioStreams);
    ServletHolder streams = new ServletHolder(scenarioStreams);
    streams.setAsyncSupported(true);
    context.addServlet(streams, "/playground/watch/config/*");
    context.addServlet(new ServletHolder(new PlaygroundServlet(playground)), "/playground/*");
    context.addServlet(new ServletHolder(new PlaygroundServlet(playground)), "/api/playground/*");
  }

  /** Samples replica lag, then every dashboard figure, once a second. */
  private void sampleLag() {
    while (!Thread.currentThread().isInterrupted()) {
      try (Connection p = database.primary().getConnection(); Connection r = database.replica().getConnection();
          Statement ps = p.createStatement(); Statement rs = r.createStatement();
          ResultSet current = ps.executeQuery("SELECT pg_current_wal_lsn()::text");
          ResultSet replayed = rs.executeQuery("SELECT pg_last_wal_replay_lsn()::text")) {
        current.next();
        replayed.next();
        String replayedText = replayed.getString(1);
        if (replayedText != null) {
          long lag = dev.shepherd.replica.Lsn.parse(current.getString(1))
              .bytesSince(dev.shepherd.replica.Lsn.parse(replayedText));
          replicaLagBytes.set(Math.max(0, lag));
        }
      } catch (SQLException | RuntimeException e) {
        replicaLagBytes.set(-1);
      }
      figures.sample();
      try {
        Thread.sleep(1_000);
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  /** The JSON of {@code GET /api/settings}: the components' configs, which never change once built. */
  private String settingsJson() {
    try {
      return Json.MAPPER.writeValueAsString(DemoSettings.of(products, tracker, router, watcher, pool));
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException("cannot render the settings", e);
    }
  }

  private Figures dashboardFigures() {
    Figures f = new Figures();
    f.group("cache", "Coalescing cache: GET /products/{id}");
    f.counter("cache", "cache-hits", "hits", () -> sum("shepherd.cache.requests", "result", "hit"));
    f.counter("cache", "cache-loads", "loads (catalog calls)", () -> sum("shepherd.cache.requests", "result", "loaded"));
    f.counter("cache", "cache-joins", "joined a running load", () -> sum("shepherd.cache.requests", "result", "joined"));
    f.gauge("cache", "cache-size", "entries", "", () -> sum("shepherd.cache.size", null, null));

    f.group("idempotency", "Idempotent requests: POST /orders");
    f.counter("idempotency", "idem-claims", "claims (handler ran)", () -> sum("shepherd.idempotency.claims", "outcome", "claimed")
        + sum("shepherd.idempotency.claims", "outcome", "took_over"));
    f.counter("idempotency", "idem-replays", "replays", () -> sum("shepherd.idempotency.claims", "outcome", "completed"));
    f.counter("idempotency", "idem-conflicts", "conflicts (409)", () -> sum("shepherd.idempotency.claims", "outcome", "in_progress"));
    f.counter("idempotency", "idem-mismatches", "other payload (422)", () -> sum("shepherd.idempotency.claims", "outcome", "mismatch"));

    f.group("watch", "Watches: GET /config/{key}");
    f.gauge("watch", "watch-subscribers", "SSE subscribers", "", () -> sum("shepherd.watch.subscribers", null, null));
    f.gauge("watch", "watch-blocked", "blocking queries waiting", "", () -> sum("shepherd.watch.upstream.waiting", null, null));
    f.counter("watch", "watch-queries", "upstream queries", () -> sum("shepherd.watch.upstream.queries", null, null));
    if (etcdSource != null) {
      EtcdWatchSource<String> source = etcdSource;
      f.gauge("watch", "watch-etcd", "etcd watches", "", source::openEtcdWatches);
    } else {
      f.gauge("watch", "watch-index", "config index", "", config::index);
    }

    f.group("replica", "Replica consistency: GET /orders/{id}");
    f.gauge("replica", "replica-lag", "replica lag", "bytes", () -> replicaLagBytes.get());
    f.gauge("replica", "replica-wait-p50", "wait p50", "ms", () -> waitPercentile(0.5));
    f.gauge("replica", "replica-wait-p99", "wait p99", "ms", () -> waitPercentile(0.99));
    f.counter("replica", "replica-reads", "reads on the replica", () -> sum("shepherd.replica.reads", "target", "replica"));
    f.counter("replica", "replica-fallbacks", "fallbacks to the primary", () -> sum("shepherd.replica.reads", "target", "primary"));
    f.counter("replica", "replica-queries", "poller queries", () -> sum("shepherd.replica.poller.queries", null, null));

    f.group("pool", "Elastic pool: POST /reports");
    f.gauge("pool", "pool-runners", "runners", "", () -> sum("shepherd.pool.runners", "state", "ready"));
    f.gauge("pool", "pool-booting", "booting", "", () -> sum("shepherd.pool.runners", "state", "booting"));
    f.gauge("pool", "pool-busy", "busy slots", "", () -> sum("shepherd.pool.busy.slots", null, null));
    f.gauge("pool", "pool-waiters", "waiters", "", () -> sum("shepherd.pool.waiters", null, null));
    f.counter("pool", "pool-boots", "boots", () -> sum("shepherd.pool.boots", "result", "ok"));
    return f;
  }

  /** Sums every meter of that name (and tag, when given), counters and gauges alike. */
  private double sum(String name, @Nullable String tag, @Nullable String value) {
    double total = 0;
    var search = registry.find(name);
    if (tag != null && value != null) {
      search = search.tag(tag, value);
    }
    for (Meter meter : search.meters()) {
      for (var measurement : meter.measure()) {
        total += measurement.getValue();
      }
    }
    return total;
  }

  private double waitPercentile(double percentile) {
    Timer timer = registry.find("shepherd.replica.wait").timer();
    if (timer == null) {
      return 0;
    }
    for (ValueAtPercentile v : timer.takeSnapshot().percentileValues()) {
      if (v.percentile() == percentile) {
        return v.value(TimeUnit.MILLISECONDS);
      }
    }
    return 0;
  }

  @Override
  public void close() {
    lagSampler.interrupt();
    playground.close();
    try {
      server.stop();
    } catch (Exception e) {
      System.err.println("shepherd demo: stopping Jetty failed: " + e);
    }
    watcher.close();
    if (etcdSource != null) {
      etcdSource.close();
    }
    if (etcd != null) {
      etcd.close();
    }
    pool.close();
    tracker.close();
    if (redis != null) {
      redis.shutdown();
    }
    replicaTracker.close();
    registry.close();
    database.close();
  }
}
