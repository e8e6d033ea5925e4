package dev.shepherd.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/** JSON in and out for the demo's servlets, and RFC 9457 problem answers. */
final class Json {

  static final ObjectMapper MAPPER = new ObjectMapper();

  private Json() {}

  static void write(HttpServletResponse response, int status, Object body) throws IOException {
    byte[] bytes = MAPPER.writeValueAsBytes(body);
    response.setStatus(status);
    response.setContentType("application/json");
    response.setContentLength(bytes.length);
    response.getOutputStream().write(bytes);
  }

  static void problem(HttpServletResponse response, int status, String title, String detail) throws IOException {
    byte[] bytes = MAPPER.writeValueAsString(java.util.Map.of(
        "type", "about:blank", "title", title, "status", status, "detail", detail))
        .getBytes(StandardCharsets.UTF_8);
    response.setStatus(status);
    response.setContentType("application/problem+json");
    response.setContentLength(bytes.length);
    response.getOutputStream().write(bytes);
  }

  static JsonNode read(byte[] body) throws IOException {
    return MAPPER.readTree(body);
  }
}
