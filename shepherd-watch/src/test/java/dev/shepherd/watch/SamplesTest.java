package dev.shepherd.watch;

import static dev.shepherd.watch.TestAwait.await;
import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.junit.jupiter.api.Test;

/** Every code sample of the README and the javadoc, copied verbatim, compiled and run. */
class SamplesTest {

  @Test
  void readmeInMemorySample() throws Exception {
    InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
    store.put("feature/checkout", "on");

    BlockingQueue<WatchEvent<Optional<String>>> events = new LinkedBlockingQueue<>();
    try (Watcher<Optional<String>> watcher = Watcher.builder(store)
            .failingThreshold(Duration.ofSeconds(30))
            .build();
        Subscription<Optional<String>> checkout = watcher.watch("feature/checkout", "checkout", events::add)) {
      WatchEvent<Optional<String>> first = events.take();  // the current value: Optional[on]
      store.put("feature/checkout", "off");
      WatchEvent<Optional<String>> next = events.take();   // the change: Optional[off]
      if (next instanceof WatchEvent.Update<Optional<String>> update) {
        System.out.println(update.correlationId() + " -> " + update.value() + " @" + update.index());
      }
      // Not in the sample: check what it says.
      assertThat(describe(first)).isEqualTo("checkout=Optional[on]");
      assertThat(describe(next)).isEqualTo("checkout=Optional[off]");
      assertThat(checkout.isClosed()).isFalse();
    }
  }

  private static String describe(WatchEvent<Optional<String>> event) {
    return event.correlationId() + "=" + ((WatchEvent.Update<Optional<String>>) event).value();
  }

  @Test
  void readmeHttpSample() throws Exception {
    InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
    Server server = new Server();
    HttpConfiguration http = new HttpConfiguration();
    http.setUriCompliance(UriCompliance.DEFAULT.with("CONSUL_KEYS",
        UriCompliance.Violation.AMBIGUOUS_PATH_SEPARATOR));
    ServerConnector connector = new ServerConnector(server, new HttpConnectionFactory(http));
    connector.setHost("127.0.0.1");
    server.addConnector(connector);
    ServletContextHandler context = new ServletContextHandler();
    ServletHolder holder = new ServletHolder(BlockingQueryServlet.ofStrings(store));
    holder.setAsyncSupported(true);
    context.addServlet(holder, "/v1/kv/*");
    server.setHandler(context);
    server.start();
    URI uri = server.getURI();

    try (ConsulClient consul = ConsulClient.builder().baseUri(uri).build();
        Watcher<Optional<KvEntry>> watcher = Watcher.builder(consul.kvSource()).build()) {
      BlockingQueue<WatchEvent<Optional<KvEntry>>> events = new LinkedBlockingQueue<>();
      watcher.watch("db/url", "db", events::add);
      store.put("db/url", "jdbc:postgresql://10.0.0.7/app");
      // events: Update(KvEntry[db/url=jdbc:...]), after Update(Optional.empty) if the loop read first
      // Not in the sample: check what it says.
      List<Optional<String>> values = new ArrayList<>();
      while (values.isEmpty() || values.get(values.size() - 1).isEmpty()) {
        WatchEvent.Update<Optional<KvEntry>> update =
            (WatchEvent.Update<Optional<KvEntry>>) events.take();
        values.add(update.value().flatMap(KvEntry::valueAsString));
      }
      assertThat(values.get(values.size() - 1)).contains("jdbc:postgresql://10.0.0.7/app");
      // An encoded '/' reaches the servlet with this setup, as Consul clients send it.
      assertThat(consul.kvPut("cfg/db", "x".getBytes(java.nio.charset.StandardCharsets.UTF_8))).isTrue();
      try (java.net.http.HttpClient raw = java.net.http.HttpClient.newHttpClient()) {
        assertThat(raw.send(java.net.http.HttpRequest.newBuilder(uri.resolve("/v1/kv/cfg%2Fdb?raw")).build(),
            java.net.http.HttpResponse.BodyHandlers.ofString()).body()).isEqualTo("x");
      }
    } finally {
      server.stop();
    }
  }

  @Test
  void watcherJavadocSample() throws Exception {
    InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
    store.put("feature/checkout", "on");
    BlockingQueue<WatchEvent<Optional<String>>> events = new LinkedBlockingQueue<>();
    try (Watcher<Optional<String>> watcher = Watcher.builder(store).build();
        Subscription<Optional<String>> sub = watcher.watch("feature/checkout", "checkout", events::add)) {
      events.take();                          // Update(value=Optional[on]): the current value
      store.put("feature/checkout", "off");
      events.take();                          // Update(value=Optional[off])
      assertThat(sub.latest().orElseThrow().value()).contains("off");
    }
  }

  @Test
  void inMemoryVersionedStoreJavadocSample() throws Exception {
    InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
    long index = store.put("db/url", "jdbc:postgresql://10.0.0.1/app");
    Versioned<Optional<String>> now = store.fetch("db/url", 0, Duration.ofSeconds(1));   // at once
    // blocks up to 5 s until db/url is written again:
    Thread.ofVirtual().start(() -> store.put("db/url", "jdbc:postgresql://10.0.0.2/app"));
    Versioned<Optional<String>> next = store.fetch("db/url", now.index(), Duration.ofSeconds(5));
    assertThat(now.index()).isEqualTo(index);
    assertThat(next.index()).isGreaterThan(index);
  }

  private static String readFlagFromDatabase(String key) {
    return "on";
  }

  @Test
  void pollingWatchSourceJavadocSample() {
    WatchSource<String> flags = PollingWatchSource.<String>builder(key -> readFlagFromDatabase(key))
        .maxAge(Duration.ofSeconds(10))
        .build();
    Watcher<String> watcher = Watcher.builder(flags).build();
    RecordingSink<String> sink = new RecordingSink<>();
    watcher.watch("flag", "f", sink);
    await().until(() -> sink.values().equals(List.of("on")));
    watcher.close();
  }

  @Test
  void blockingQueryServletJavadocSample() {
    InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
    ServletContextHandler context = new ServletContextHandler();
    context.addServlet(new ServletHolder(BlockingQueryServlet.ofStrings(store)), "/v1/kv/*");
    assertThat(context.getServletHandler().getServlets()).hasSize(1);
    assertThat(context.getServletHandler().getServletMappings()[0].getPathSpecs())
        .containsExactly("/v1/kv/*");
  }

  @Test
  void consulClientJavadocSample() {
    ConsulClient consul = ConsulClient.builder()
        .baseUri(URI.create("http://127.0.0.1:8500"))
        .token(System.getenv("CONSUL_HTTP_TOKEN"))
        .build();
    Watcher<Optional<KvEntry>> config = Watcher.builder(consul.kvSource()).build();
    config.watch("service/api/config", "api-config", event -> System.out.println(event));
    // No agent runs here: the loop fails and backs off; closing stops it.
    assertThat(config.watchedKeys()).containsExactly("service/api/config");
    config.close();
    consul.close();
  }

  private static final class Log {
    final List<String> lines = new ArrayList<>();

    void warn(String line) {
      lines.add(line);
    }

    void info(String line) {
      lines.add(line);
    }
  }

  private final Log log = new Log();
  private final List<String> applied = new ArrayList<>();

  private void apply(String value) {
    applied.add(value);
  }

  @Test
  void watchEventJavadocSample() {
    List<WatchEvent<String>> all = List.of(
        new WatchEvent.Update<>("k", "c", "v", 3, 0, Duration.ZERO),
        new WatchEvent.Failing<>("k", "c", new RuntimeException("x"), 5, Duration.ofSeconds(40)),
        new WatchEvent.Recovered<>("k", "c", Duration.ofSeconds(41)));
    for (WatchEvent<String> event : all) {
      switch (event) {
        case WatchEvent.Update<String> u -> apply(u.value());
        case WatchEvent.Failing<String> f -> log.warn("config stale for " + f.sinceLastSuccess());
        case WatchEvent.Recovered<String> r -> log.info("config source back");
      }
    }
    assertThat(applied).containsExactly("v");
    assertThat(log.lines).containsExactly("config stale for PT40S", "config source back");
  }
}
