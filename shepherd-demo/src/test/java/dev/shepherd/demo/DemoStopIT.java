package dev.shepherd.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
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
    Path jar = Path.of("target", "shepherd-demo.jar");
    assertThat(jar).as("the shaded jar built by package").exists();
    int port;
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = socket.getLocalPort();
    }
    String base = "http://127.0.0.1:" + port;
    List<String> output = new CopyOnWriteArrayList<>();
    Process service = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-jar", jar.toString(), "--port", Integer.toString(port), "--pool", "local")
        .redirectErrorStream(true).start();
    Thread reader = Thread.ofVirtual().start(() -> {
      try (BufferedReader lines = new BufferedReader(
          new InputStreamReader(service.getInputStream(), StandardCharsets.UTF_8))) {
        for (String line = lines.readLine(); line != null; line = lines.readLine()) {
          output.add(line.strip());
        }
      } catch (IOException ignored) {
        // the process ended
      }
    });
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    try {
      await().atMost(Duration.ofMinutes(2))
          .until(() -> output.contains("Shepherd reference service is up.") || !service.isAlive());
      assertThat(service.isAlive()).as("service alive; its output:\n%s", String.join("\n", output)).isTrue();
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

      service.destroy(); // SIGTERM
      assertThat(service.waitFor(60, TimeUnit.SECONDS)).as("service stopped within 60 s").isTrue();
      reader.join(10_000);

      assertThat(output).as(String.join("\n", output)).noneMatch(line -> line.contains("stopping Jetty failed"));
      HttpResponse<String> answered = held.get(30, TimeUnit.SECONDS);
      assertThat(answered.statusCode()).isEqualTo(200);
      assertThat(answered.headers().firstValue("X-Consul-Index")).hasValue(index);
      try (InputStream events = stream.body()) {
        events.readAllBytes(); // ends: the server ended the stream
      } catch (IOException cutShort) {
        // a reset at the server's exit ends it too
      }
    } finally {
      service.destroyForcibly();
      http.shutdownNow();
    }
  }
}
