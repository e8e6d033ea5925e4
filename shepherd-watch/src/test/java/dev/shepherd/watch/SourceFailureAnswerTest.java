package dev.shepherd.watch;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.testing.LogCapture;
import dev.shepherd.testing.ServletServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.logging.Level;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A {@link BlockingQueryServlet} over {@link ConsulClient#kvSource()} whose Consul (recorded
 * responses on a real Jetty) denies the read: the servlet's clients get a 503 that names neither
 * Consul's error text (a token's AccessorID, the permission) nor Consul's address, and the server's
 * log gets the cause with the key.
 */
class SourceFailureAnswerTest {

  private static final String KEY = "secret/db-password";

  private final ReplayConsulServlet consulAgent = new ReplayConsulServlet();
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  private LogCapture servletLog;
  private ServletServer upstream;
  private ConsulClient consul;
  private ServletServer front;

  @BeforeEach
  void start() {
    upstream = KvServers.start(consulAgent, "/v1/*");
    consul = ConsulClient.builder().baseUri(upstream.uri()).token("s3cr3t-token").build();
    front = KvServers.start(BlockingQueryServlet.builder(consul.kvSource(),
        (KvEntry e) -> e.value() == null ? new byte[0] : e.value()).build(), "/v1/kv/*");
    servletLog = LogCapture.of(BlockingQueryServlet.class);
  }

  @AfterEach
  void stop() {
    servletLog.close();
    http.shutdownNow();
    front.close();
    consul.close();
    upstream.close();
  }

  private HttpResponse<String> get(String pathAndQuery) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(front.uri() + pathAndQuery)).build(),
        HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
  }

  private void assertGeneric503(HttpResponse<String> response) {
    assertThat(response.statusCode()).isEqualTo(503);
    assertThat(response.headers().firstValue("Content-Type")).hasValueSatisfying(
        t -> assertThat(t).startsWith("application/problem+json"));
    assertThat(response.body())
        .doesNotContain("AccessorID")
        .doesNotContain("a7f3c2d1")
        .doesNotContain("key:read")
        .doesNotContain("HTTP 403")
        .doesNotContain(upstream.uri().getAuthority())
        .doesNotContain(Integer.toString(upstream.port()))
        .doesNotContain("s3cr3t-token")
        .contains("the source is unavailable");
  }

  private void assertLoggedWithKey() {
    assertThat(servletLog.records()).anySatisfy(r -> {
      assertThat(r.getLevel()).isEqualTo(Level.WARNING);
      assertThat(r.getMessage()).contains("'" + KEY + "'");
      assertThat(r.getThrown()).isInstanceOf(ConsulException.class)
          .hasMessageContaining("lacks permission 'key:read'");
    });
  }

  @Test
  void aReadWhoseSourceFailsIs503WithoutTheUpstreamsTextOrAddress() throws Exception {
    consulAgent.enqueue("kv-acl-denied.http");
    assertGeneric503(get("/v1/kv/" + KEY));
    assertLoggedWithKey();
  }

  @Test
  void aHeldQueryWhoseSourceFailsIs503WithoutTheUpstreamsTextAndIsLoggedWithItsKey()
      throws Exception {
    consulAgent.enqueue("kv-acl-denied.http");
    HttpResponse<String> response = get("/v1/kv/" + KEY + "?index=4131&wait=30s");
    assertThat(consulAgent.received).singleElement()
        .satisfies(r -> assertThat(r.query()).startsWith("index=4131&wait="));
    assertGeneric503(response);
    assertLoggedWithKey();
  }

  @Test
  void aListingOverAPlainSourceIs400WithoutTheUpstreamsAddress() throws Exception {
    HttpResponse<String> response = get("/v1/kv/secret?recurse");
    assertThat(response.statusCode()).isEqualTo(400);
    assertThat(response.body()).contains("needs a store that lists keys by prefix")
        .doesNotContain(upstream.uri().getAuthority());
  }
}
