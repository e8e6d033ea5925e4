package dev.shepherd.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.shepherd.core.ShepherdException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.jspecify.annotations.Nullable;

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

  /** What a servlet computes for a 200 answer; it may fail as a Shepherd component fails. */
  @FunctionalInterface
  interface Answer {
    Object body() throws ShepherdException, InterruptedException;
  }

  /**
   * Answers 200 with the JSON of {@code answer}, or 503 problem+json with the failure's message when
   * a Shepherd component fails (or the thread is interrupted, which it keeps set).
   */
  static void writeOr503(HttpServletResponse response, Answer answer) throws IOException {
    Object body;
    try {
      body = answer.body();
    } catch (ShepherdException e) {
      problem(response, 503, "Service Unavailable", String.valueOf(e.getMessage()));
      return;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      problem(response, 503, "Service Unavailable", "interrupted");
      return;
    }
    write(response, 200, body);
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

  /**
   * Reads the request's body as JSON, or answers 400 naming the parse error.
   *
   * @return the body, or null when it was not JSON and the 400 answer has been written
   */
  static @Nullable JsonNode readOr400(HttpServletRequest request, HttpServletResponse response) throws IOException {
    try {
      return read(request.getInputStream().readAllBytes());
    } catch (IOException e) {
      problem(response, 400, "Bad Request", "the body is not JSON: " + e.getMessage());
      return null;
    }
  }
}
