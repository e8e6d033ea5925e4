package dev.shepherd.watch;

import static dev.shepherd.watch.TestAwait.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shepherd.testing.ServletServer;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Requirement 8 against recorded Consul responses (see src/test/resources/consul/README.md),
 * served by a real Jetty: no Consul server can be installed here.
 */
class ConsulClientRecordedTest {

  private final ReplayConsulServlet replay = new ReplayConsulServlet();
  private ServletServer server;
  private ConsulClient consul;

  @BeforeEach
  void startServer() throws Exception {
    server = KvServers.start(replay, "/v1/*");
    consul = ConsulClient.builder().baseUri(server.uri()).token("s3cr3t-token").build();
  }

  @AfterEach
  void stopServer() {
    consul.close();
    server.close();
  }

  @Test
  void aKvReadParsesTheEntryAndTheIndexHeader() throws Exception {
    replay.enqueue("kv-config-initial.http");
    Versioned<Optional<KvEntry>> read = consul.kvGet("service/api/config", 0, Duration.ofMinutes(5));
    assertThat(read.index()).isEqualTo(4131);
    KvEntry entry = read.value().orElseThrow();
    assertThat(entry.key()).isEqualTo("service/api/config");
    assertThat(entry.valueAsString()).contains("{\"poolSize\":10}");
    assertThat(entry.createIndex()).isEqualTo(4128);
    assertThat(entry.modifyIndex()).isEqualTo(4131);
    assertThat(replay.received.get(0).path()).isEqualTo("/v1/kv/service/api/config");
    assertThat(replay.received.get(0).query()).isEmpty();
  }

  @Test
  void aBlockingQuerySendsIndexAndWaitAndTheTokenInAHeader() throws Exception {
    replay.enqueue("kv-config-changed.http");
    Versioned<Optional<KvEntry>> read =
        consul.kvGet("service/api/config", 4131, Duration.ofMinutes(5));
    assertThat(read.index()).isEqualTo(4177);
    assertThat(read.value().orElseThrow().valueAsString()).contains("{\"poolSize\":25}");
    ReplayConsulServlet.Received request = replay.received.get(0);
    assertThat(request.query()).isEqualTo("index=4131&wait=300000ms");
    assertThat(request.token()).isEqualTo("s3cr3t-token");
  }

  @Test
  void aZeroWaitIsSentAsConsulsDefaultWaitAndNotTimedOutEarly() throws Exception {
    replay.enqueue("kv-config-changed.http");
    consul.kvGet("service/api/config", 4131, Duration.ZERO);
    // Consul holds a blocking query with wait 0 for its default 5 minutes: the client says so,
    // and its request timeout covers that hold instead of the bare margin.
    assertThat(replay.received.get(0).query()).isEqualTo("index=4131&wait=300000ms");
  }

  @Test
  void aWaitAboveTenMinutesIsCappedAsConsulWould() throws Exception {
    replay.enqueue("kv-config-changed.http");
    consul.kvGet("service/api/config", 4131, Duration.ofHours(1));
    assertThat(replay.received.get(0).query()).isEqualTo("index=4131&wait=600000ms");
  }

  @Test
  void anAbsentKeyIsEmptyWithItsIndex() throws Exception {
    replay.enqueue("kv-missing.http");
    assertThat(consul.kvGet("nope", 0, Duration.ofMinutes(5)))
        .isEqualTo(new Versioned<>(Optional.empty(), 4131));
  }

  @Test
  void aDeniedTokenIsAConsulExceptionThatNamesTheStatusButNotTheToken() {
    replay.enqueue("kv-acl-denied.http");
    assertThatThrownBy(() -> consul.kvGet("secret/db-password", 0, Duration.ofMinutes(5)))
        .isInstanceOf(ConsulException.class)
        .hasMessageContaining("GET /v1/kv/secret/db-password answered HTTP 403")
        .hasMessageContaining("lacks permission 'key:read'")
        .satisfies(e -> assertThat(((ConsulException) e).status()).isEqualTo(403))
        .hasMessageNotContaining("s3cr3t-token");
    assertThat(consul.toString()).doesNotContain("s3cr3t-token");
  }

  @Test
  void aResponseWithoutAnIndexHeaderCountsAsAFailureOfTheLoop() throws Exception {
    replay.enqueue("kv-no-index-header.http");
    assertThat(consul.kvGet("service/api/config", 0, Duration.ofMinutes(5)).index()).isZero();
    replay.enqueue("kv-no-index-header.http");
    try (Watcher<Optional<KvEntry>> watcher = Watcher.builder(consul.kvSource())
        .backoff(f -> Duration.ofHours(1)).build()) {
      Subscription<Optional<KvEntry>> sub = watcher.watch("service/api/config", e -> {});
      await().until(() -> sub.consecutiveFailures() == 1);
      assertThat(sub.lastError()).containsInstanceOf(ZeroIndexException.class);
    }
  }

  @Test
  void aHealthQueryParsesInstancesAndTheirChecks() throws Exception {
    replay.enqueue("health-web-initial.http", "health-web-critical.http");
    Versioned<List<ServiceHealth>> first = consul.healthService("web", false, 0, Duration.ofMinutes(5));
    assertThat(first.index()).isEqualTo(4110);
    assertThat(first.value()).hasSize(2);
    ServiceHealth web1 = first.value().get(0);
    assertThat(web1.node().name()).isEqualTo("ip-10-0-1-17");
    assertThat(web1.node().datacenter()).isEqualTo("dc1");
    assertThat(web1.service().id()).isEqualTo("web-1");
    assertThat(web1.service().address()).isEqualTo("10.0.1.17");
    assertThat(web1.service().port()).isEqualTo(8080);
    assertThat(web1.service().tags()).containsExactly("v2", "primary");
    assertThat(web1.service().meta()).containsEntry("version", "2.4.1");
    assertThat(web1.checks()).extracting(ServiceHealth.Check::checkId)
        .containsExactly("serfHealth", "service:web-1");
    assertThat(web1.aggregatedStatus()).isEqualTo("passing");
    Versioned<List<ServiceHealth>> next = consul.healthService("web", false, 4110, Duration.ofSeconds(30));
    assertThat(next.index()).isEqualTo(4189);
    assertThat(next.value().get(1).aggregatedStatus()).isEqualTo("critical");
    assertThat(replay.received.get(1).query()).isEqualTo("index=4110&wait=30000ms");
  }

  @Test
  void passingOnlyAsksConsulForPassingInstances() throws Exception {
    replay.enqueue("health-web-passing-only.http");
    Versioned<List<ServiceHealth>> read = consul.healthService("web", true, 0, Duration.ofMinutes(5));
    assertThat(read.value()).extracting(h -> h.service().id()).containsExactly("web-1");
    assertThat(replay.received.get(0).query()).isEqualTo("passing");
  }

  @Test
  void aWatcherOverTheHealthSourceDeliversTheInitialListAndTheChange() {
    replay.enqueue("health-web-initial.http", "health-web-critical.http");
    RecordingSink<List<ServiceHealth>> sink = new RecordingSink<>();
    try (Watcher<List<ServiceHealth>> watcher = Watcher.builder(consul.healthSource(false)).build()) {
      watcher.watch("web", "web-instances", sink);
      await().until(() -> sink.updates().size() == 2);
      assertThat(sink.indexes()).containsExactly(4110L, 4189L);
      assertThat(sink.updates().get(1).value().get(1).aggregatedStatus()).isEqualTo("critical");
      await().until(() -> replay.received.size() == 3); // the third query blocks at index 4189
      assertThat(replay.received.get(2).query()).isEqualTo("index=4189&wait=300000ms");
    }
  }
}
