package dev.shepherd.watch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.shepherd.testing.ServletServer;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.Serial;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link ConsulClient} against a real Jetty whose answers are malformed in the ways a broken agent
 * or proxy could make them: the client fails with a {@link ConsulException} that names what did not
 * parse, never with a {@code NumberFormatException} or an {@code IllegalArgumentException}.
 */
class ConsulClientMalformedAnswerTest {

  /** Answers every request 200 with the set X-Consul-Index (none if null) and JSON body. */
  private static final class Answering extends HttpServlet {
    @Serial private static final long serialVersionUID = 1L;

    volatile @Nullable String index;
    volatile String body = "[]";

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
      String i = index;
      if (i != null) {
        resp.setHeader("X-Consul-Index", i);
      }
      byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
      resp.setStatus(200);
      resp.setContentType("application/json");
      resp.setContentLength(bytes.length);
      resp.getOutputStream().write(bytes);
    }
  }

  private static final String ENTRY = "[{\"LockIndex\":0,\"Key\":\"cfg/db\",\"Flags\":0,"
      + "\"Value\":\"%s\",\"CreateIndex\":3,\"ModifyIndex\":7}]";

  private final Answering agent = new Answering();
  private ServletServer server;
  private ConsulClient consul;

  @BeforeEach
  void start() {
    server = KvServers.start(agent, "/v1/*");
    consul = ConsulClient.builder().baseUri(server.uri()).build();
  }

  @AfterEach
  void stop() {
    consul.close();
    server.close();
  }

  @Test
  void anIndexThatIsNotANumberIsAConsulExceptionNamingTheHeader() {
    agent.index = "abc";
    agent.body = ENTRY.formatted("aGVsbG8=");
    assertThatThrownBy(() -> consul.kvGet("cfg/db", 0, Duration.ZERO))
        .isInstanceOf(ConsulException.class)
        .hasMessage("GET /v1/kv/cfg/db answered X-Consul-Index 'abc', which is not an unsigned "
            + "64-bit integer");
    agent.index = "-5";
    assertThatThrownBy(() -> consul.healthService("web", false, 0, Duration.ZERO))
        .isInstanceOf(ConsulException.class)
        .hasMessageContaining("X-Consul-Index '-5', which is not an unsigned 64-bit integer");
  }

  @Test
  void anIndexAboveLongMaxValueIsAConsulExceptionNotAWrappedIndex() {
    agent.index = "18446744073709551615"; // 2^64 - 1, a valid uint64
    agent.body = ENTRY.formatted("aGVsbG8=");
    assertThatThrownBy(() -> consul.kvGet("cfg/db", 0, Duration.ZERO))
        .isInstanceOf(ConsulException.class)
        .hasMessageContaining("X-Consul-Index '18446744073709551615', above 9223372036854775807");
    agent.index = "18446744073709551616"; // 2^64: not even a uint64
    assertThatThrownBy(() -> consul.kvGet("cfg/db", 0, Duration.ZERO))
        .isInstanceOf(ConsulException.class)
        .hasMessageContaining("which is not an unsigned 64-bit integer");
  }

  @Test
  void theLargestRepresentableIndexAndAMissingOneAreRead() throws Exception {
    agent.body = ENTRY.formatted("aGVsbG8=");
    agent.index = Long.toString(Long.MAX_VALUE);
    assertThat(consul.kvGet("cfg/db", 0, Duration.ZERO).index()).isEqualTo(Long.MAX_VALUE);
    agent.index = null;
    assertThat(consul.kvGet("cfg/db", 0, Duration.ZERO).index()).isZero();
  }

  @Test
  void aValueThatIsNotBase64IsAConsulExceptionNamingTheKeyButNotTheValue() {
    agent.index = "7";
    agent.body = ENTRY.formatted("pa$$word-in-clear");
    assertThatThrownBy(() -> consul.kvGet("cfg/db", 0, Duration.ZERO))
        .isInstanceOf(ConsulException.class)
        .hasMessageStartingWith("GET /v1/kv/cfg/db answered a Value of key 'cfg/db' that is not Base64")
        .hasMessageNotContaining("pa$$word");
  }

  @Test
  void aWatcherCountsAMalformedIndexAsAFailureWithTheConsulException() {
    agent.index = "abc";
    try (Watcher<java.util.Optional<KvEntry>> watcher = Watcher.builder(consul.kvSource())
        .backoff(f -> Duration.ofHours(1)).build()) {
      Subscription<java.util.Optional<KvEntry>> sub = watcher.watch("cfg/db", e -> {});
      TestAwait.await().until(() -> sub.consecutiveFailures() == 1);
      assertThat(sub.lastError()).containsInstanceOf(ConsulException.class);
    }
  }
}
