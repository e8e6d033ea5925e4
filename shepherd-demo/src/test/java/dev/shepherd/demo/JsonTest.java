package dev.shepherd.demo;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.pool.CallTimeoutException;
import dev.shepherd.testing.ServletServer;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.Serial;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The demo's JSON answers, served by a real Jetty. */
class JsonTest {

  /**
   * A Shepherd component's failure is a 503 whose detail names what failed and the failure's class
   * only: its message, which may carry a runner's error text and its JVM's paths, stays out of the
   * answer (it used to be the answer's detail).
   */
  @Test
  void aComponentsFailureIsA503InFixedWordsWithoutItsMessage() throws Exception {
    String secret = "runner 7: cannot run /opt/internal/jdk/bin/java at 10.1.2.3";
    HttpServlet failing = new HttpServlet() {
      @Serial private static final long serialVersionUID = 1L;

      @Override
      protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        Json.writeOr503(resp, "the report", () -> {
          throw new CallTimeoutException(secret, true, null);
        });
      }
    };
    ServletServer server = ServletServer.builder().servlet("/report", failing).build();
    server.start();
    try (HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()) {
      HttpResponse<String> answer = http.send(
          HttpRequest.newBuilder(server.uri().resolve("/report")).timeout(Duration.ofSeconds(30)).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(answer.statusCode()).isEqualTo(503);
      assertThat(answer.headers().firstValue("Content-Type")).hasValue("application/problem+json");
      assertThat(answer.body())
          .contains("the report could not be made (CallTimeoutException)")
          .doesNotContain("runner 7").doesNotContain("/opt/internal").doesNotContain("10.1.2.3");
    } finally {
      server.stop();
    }
  }
}
