package dev.shepherd.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Stopping the reference service (SIGTERM, as Ctrl-C or a container stop sends) with an event
 * stream open and a blocking query held: both are ended at once, and Jetty's graceful stop does
 * not wait for them until it gives up ("stopping Jetty failed: TimeoutException").
 */
class DemoStopIT {

  @Test
  void aStopWithAStreamOpenAndAQueryHeldIsCleanAndAnswersTheQuery() throws Exception {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    try (DemoProcess service = DemoProcess.startOnFreePort("--pool", "local")) {
      String base = service.base();
      URI flags = URI.create(base + "/config/feature-flags");
      HttpResponse<String> now = http.send(HttpRequest.newBuilder(flags).build(),
          HttpResponse.BodyHandlers.ofString());
      String index = now.headers().firstValue("X-Consul-Index").orElseThrow();
      // The held query goes first; the stream and a plain read after it take round trips of
      // their own, by which time the query has long been held.
      CompletableFuture<HttpResponse<String>> held = http.sendAsync(
          HttpRequest.newBuilder(URI.create(base + "/config/feature-flags?index=" + index + "&wait=5m"))
              .build(),
          HttpResponse.BodyHandlers.ofString());
      HttpResponse<InputStream> stream = http.send(
          HttpRequest.newBuilder(flags).header("Accept", "text/event-stream").build(),
          HttpResponse.BodyHandlers.ofInputStream());
      assertThat(stream.statusCode()).isEqualTo(200);
      assertThat(http.send(HttpRequest.newBuilder(flags).build(), HttpResponse.BodyHandlers.ofString())
          .statusCode()).isEqualTo(200);
      assertThat(held).isNotDone();

      service.stop(); // SIGTERM

      assertThat(service.output()).as(service.outputText())
          .noneMatch(line -> line.contains("stopping Jetty failed"));
      HttpResponse<String> answered = held.get(30, TimeUnit.SECONDS);
      assertThat(answered.statusCode()).isEqualTo(200);
      assertThat(answered.headers().firstValue("X-Consul-Index")).hasValue(index);
      try (InputStream events = stream.body()) {
        events.readAllBytes(); // ends: the server ended the stream
      } catch (IOException cutShort) {
        // a reset at the server's exit ends it too
      }
    } finally {
      http.shutdownNow();
    }
  }
}
