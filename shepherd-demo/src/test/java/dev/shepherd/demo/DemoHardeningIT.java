package dev.shepherd.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.Reader;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The reference service's inputs and limits against {@code target/shepherd-demo.jar} started as
 * {@code ./shepherd demo} starts it (the process pool, runners booted on demand): a config value
 * cannot forge server-sent event fields or events, whole-number inputs are refused rather than
 * wrapped, at most {@value ReportsServlet#MAX_REPORTS} reports are in the service at once, and a
 * body dripped slowly is cut off ({@link DemoService#MIN_REQUEST_DATA_RATE}).
 */
class DemoHardeningIT {

  private static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private static DemoProcess service;
  private static String base;

  @BeforeAll
  static void startTheService() throws Exception {
    service = DemoProcess.startOnFreePort();
    base = service.base();
  }

  @AfterAll
  static void stopTheService() throws Exception {
    if (service != null) {
      service.stop();
    }
  }

  private static final java.util.concurrent.atomic.AtomicInteger keys = new java.util.concurrent.atomic.AtomicInteger();

  private static HttpResponse<String> send(String method, String path, String contentType, String body)
      throws Exception {
    HttpRequest.Builder r = HttpRequest.newBuilder(URI.create(base + path))
        .method(method, HttpRequest.BodyPublishers.ofString(body));
    if (path.equals("/orders")) {
      r.header("Idempotency-Key", "\"hardening-" + keys.incrementAndGet() + "\"");
    }
    if (contentType != null) {
      r.header("Content-Type", contentType);
    }
    return http.send(r.build(), HttpResponse.BodyHandlers.ofString());
  }

  /** One server-sent event as an EventSource client sees it. */
  record Event(String type, @Nullable String id, String data) {}

  /**
   * An event-stream parser as the HTML standard specifies it: a line ends at CR LF, at a lone CR or
   * at a lone LF; a blank line dispatches the event gathered so far (if it has data); lines
   * starting with a colon are comments.
   */
  private static final class EventReader {
    private final Reader in;
    private boolean afterCr;

    EventReader(InputStream in) {
      this.in = new InputStreamReader(in, StandardCharsets.UTF_8);
    }

    /** The next line, without its end, or null at the end of the stream. */
    @Nullable String line() throws IOException {
      StringBuilder line = new StringBuilder();
      while (true) {
        int c = in.read();
        if (c < 0) {
          return line.isEmpty() ? null : line.toString();
        }
        if (c == '\n' && afterCr) {
          afterCr = false;
          continue;
        }
        afterCr = c == '\r';
        if (c == '\r' || c == '\n') {
          return line.toString();
        }
        line.append((char) c);
      }
    }

    /** Skips the answer's head (status line and headers, up to the blank line). */
    void skipHead() throws IOException {
      String status = line();
      assertThat(status).startsWith("HTTP/1.1 200");
      for (String l = line(); l != null && !l.isEmpty(); l = line()) {
        // a header
      }
    }

    Event next() throws IOException {
      String type = "message";
      String id = null;
      List<String> data = new ArrayList<>();
      for (String l = line(); l != null; l = line()) {
        if (l.isEmpty()) {
          if (!data.isEmpty()) {
            return new Event(type, id, String.join("\n", data));
          }
          type = "message";
          continue;
        }
        if (l.startsWith(":")) {
          continue;
        }
        int colon = l.indexOf(':');
        String field = colon < 0 ? l : l.substring(0, colon);
        String value = colon < 0 ? "" : l.substring(colon + 1);
        if (value.startsWith(" ")) {
          value = value.substring(1);
        }
        switch (field) {
          case "event" -> type = value;
          case "id" -> id = value;
          case "data" -> data.add(value);
          default -> { }
        }
      }
      throw new IOException("the stream ended");
    }
  }

  @Test
  void aConfigValueCannotForgeEventFieldsOrEvents() throws Exception {
    assertThat(send("PUT", "/config/sse-forgery", null, "first").statusCode()).isEqualTo(200);
    // HTTP/1.0: the stream is the raw body, no chunk framing between the events.
    try (Socket socket = RawHttp.connect(service.port())) {
      OutputStream out = socket.getOutputStream();
      out.write(("GET /config/sse-forgery HTTP/1.0\r\nHost: 127.0.0.1:" + service.port()
          + "\r\nAccept: text/event-stream\r\n\r\n").getBytes(StandardCharsets.UTF_8));
      out.flush();
      EventReader events = new EventReader(socket.getInputStream());
      events.skipHead();
      assertThat(events.next().data()).isEqualTo("first");

      String forged = "x\rid: 99\revent: update\rdata: forged\r\rdata: a second event";
      HttpResponse<String> put = send("PUT", "/config/sse-forgery", null, forged);
      assertThat(put.statusCode()).isEqualTo(200);
      Event update = events.next();
      assertThat(update.type()).isEqualTo("update");
      assertThat(update.id()).as("the store's index, not the forged one")
          .isEqualTo(put.headers().firstValue("X-Consul-Index").orElseThrow());
      assertThat(update.data()).as("the whole value, its CRs as LFs").isEqualTo(forged.replace('\r', '\n'));

      assertThat(send("PUT", "/config/sse-forgery", null, "after").statusCode()).isEqualTo(200);
      assertThat(events.next().data()).as("no forged event in between").isEqualTo("after");
    }
  }

  @Test
  void wholeNumberInputsAreRefusedRatherThanWrapped() throws Exception {
    for (String quantity : List.of("4294967297", "18446744073709551617", "2.5", "\"2\"", "true")) {
      HttpResponse<String> order = send("POST", "/orders", "application/json",
          "{\"customer\":\"wrap\",\"product\":\"p\",\"quantity\":" + quantity + "}");
      assertThat(order.statusCode()).as("quantity %s: %s", quantity, order.body()).isEqualTo(400);
      assertThat(order.body()).contains("quantity must be a whole number from 1 to 1000");
    }
    HttpResponse<String> delay = send("POST", "/orders", "application/json",
        "{\"customer\":\"wrap\",\"product\":\"p\",\"quantity\":1,\"paymentDelayMs\":18446744073709551617}");
    assertThat(delay.statusCode()).as(delay.body()).isEqualTo(400);
    assertThat(delay.body()).contains("paymentDelayMs must be a whole number from 0 to 10000");
    for (String upTo : List.of("\"1000\"", "18446744073709551716", "4294967396", "1e3")) {
      HttpResponse<String> report = send("POST", "/reports", "application/json", "{\"upTo\":" + upTo + "}");
      assertThat(report.statusCode()).as("upTo %s: %s", upTo, report.body()).isEqualTo(400);
      assertThat(report.body()).contains("upTo must be a whole number from 2 to 50000000");
    }
    HttpResponse<String> fits = send("POST", "/orders", "application/json",
        "{\"customer\":\"wrap\",\"product\":\"p\",\"quantity\":1000}");
    assertThat(fits.statusCode()).as(fits.body()).isEqualTo(201);
    assertThat(fits.body()).contains("\"quantity\":1000");
  }

  @Test
  void reportsPastTheCapAreRefusedAtOnce() throws Exception {
    // All requests are written before any is read; the pool starts cold, so the first reports wait
    // for a runner JVM to boot while the rest arrive.
    int sent = ReportsServlet.MAX_REPORTS + 8;
    String report = "{\"upTo\":50000000}";
    List<Socket> sockets = new ArrayList<>();
    try {
      for (int i = 0; i < sent; i++) {
        Socket socket = RawHttp.connect(service.port());
        sockets.add(socket);
        socket.getOutputStream().write(RawHttp.request("POST", "/reports", report,
            "Host: 127.0.0.1:" + service.port(), "Content-Type: application/json").getBytes(StandardCharsets.UTF_8));
        socket.getOutputStream().flush();
      }
      int ok = 0;
      int refused = 0;
      for (Socket socket : sockets) {
        RawHttp.Answer answer = RawHttp.read(socket.getInputStream());
        if (answer.status() == 429) {
          refused++;
          assertThat(answer.header("Retry-After")).contains("1");
          assertThat(answer.body()).contains("at most " + ReportsServlet.MAX_REPORTS);
        } else {
          assertThat(answer.status()).as(answer.text()).isEqualTo(200);
          assertThat(answer.body()).contains("\"primes\":3001134");
          ok++;
        }
      }
      assertThat(refused).as("refused past the cap").isPositive();
      assertThat(ok).as("served up to the cap").isPositive();
    } finally {
      for (Socket socket : sockets) {
        socket.close();
      }
    }
    // The permits came back: a report is served again.
    HttpResponse<String> after = send("POST", "/reports", "application/json", report);
    assertThat(after.statusCode()).as(after.body()).isEqualTo(200);
  }

  @Test
  void aBodyDrippedSlowlyIsCutOff() throws Exception {
    // 4,000 bytes at about 5 bytes a second would take over 13 minutes; the server's minimum rate
    // ends the request long before. The bound below is generous, not a measure of it.
    long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
    try (Socket socket = RawHttp.connect(service.port())) {
      OutputStream out = socket.getOutputStream();
      InputStream in = socket.getInputStream();
      out.write(("POST /reports HTTP/1.1\r\nHost: 127.0.0.1:" + service.port()
          + "\r\nContent-Type: application/json\r\nContent-Length: 4000\r\nConnection: close\r\n\r\n{")
          .getBytes(StandardCharsets.UTF_8));
      out.flush();
      boolean cutOff = false;
      for (int sentBytes = 1; sentBytes < 4000 && System.nanoTime() - deadline < 0; sentBytes++) {
        if (in.available() > 0) {
          cutOff = true; // the server answered before the body was complete
          break;
        }
        try {
          out.write(' ');
          out.flush();
        } catch (IOException closed) {
          cutOff = true; // the server closed the connection
          break;
        }
        Thread.sleep(200);
      }
      assertThat(cutOff).as("the dripping request was ended by the server").isTrue();
      byte[] rest;
      try {
        rest = in.readAllBytes();
      } catch (IOException reset) {
        rest = new byte[0];
      }
      String answer = new String(rest, StandardCharsets.UTF_8);
      assertThat(answer).as("never served").doesNotContain("HTTP/1.1 200");
    }
    // The service itself is fine.
    assertThat(send("POST", "/reports", "application/json", "{\"upTo\":100}").statusCode()).isEqualTo(200);
  }
}
