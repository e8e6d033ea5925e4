package dev.shepherd.idempotency.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** Assertions and raw-socket helpers for the filter's HTTP tests. */
final class Http {

  private Http() {}

  static String text(HttpResponse<byte[]> response) {
    return new String(response.body(), StandardCharsets.UTF_8);
  }

  /** Asserts an RFC 9457 problem of the filter with the given status and type slug. */
  static void assertProblem(HttpResponse<byte[]> response, int status, String slug) {
    assertThat(response.statusCode()).as("status of %s", text(response)).isEqualTo(status);
    assertThat(response.headers().firstValue("Content-Type")).hasValue("application/problem+json");
    String json = text(response);
    assertThat(json)
        .contains("\"type\":\"https://shepherd.dev/problems/idempotency/" + slug + "\"")
        .contains("\"title\":\"")
        .contains("\"status\":" + status)
        .contains("\"detail\":\"");
  }

  /** The headers of a response, names lower case, without those the container adds per response. */
  static Map<String, List<String>> headersWithout(HttpResponse<?> response, String... names) {
    Map<String, List<String>> headers = new TreeMap<>(response.headers().map());
    headers.remove("date");
    for (String name : names) {
      headers.remove(name.toLowerCase(java.util.Locale.ROOT));
    }
    return headers;
  }

  /**
   * Sends raw bytes as a whole HTTP/1.1 request (Connection: close) and returns the raw response,
   * for requests java.net.http refuses to send (non-UTF-8 header bytes).
   */
  static String raw(int port, byte[] request) throws IOException {
    try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
      socket.setSoTimeout(30_000);
      OutputStream out = socket.getOutputStream();
      out.write(request);
      out.flush();
      InputStream in = socket.getInputStream();
      ByteArrayOutputStream response = new ByteArrayOutputStream();
      in.transferTo(response);
      return response.toString(StandardCharsets.ISO_8859_1);
    }
  }

  static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] part : parts) {
      out.writeBytes(part);
    }
    return out.toByteArray();
  }

  static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.ISO_8859_1);
  }
}
