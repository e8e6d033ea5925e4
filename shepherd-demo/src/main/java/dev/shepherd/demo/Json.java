package dev.shepherd.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.shepherd.core.ShepherdException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * JSON in and out for the demo's servlets, and RFC 9457 problem answers.
 *
 * <p>Every JSON request body the demo reads goes through here, with one limit and one rule: it is
 * at most {@value #MAX_BODY} bytes (an order, a report or a run's parameters are tens of bytes;
 * a longer body is a 413 and is not read on), and it is {@code Content-Type: application/json}
 * (else 415), which a page of another site cannot send without a CORS preflight, never granted
 * here, so no cross-site form or {@code text/plain} post reaches a handler.
 */
final class Json {

  private static final System.Logger LOG = System.getLogger(Json.class.getName());

  static final ObjectMapper MAPPER = new ObjectMapper();

  /** The largest JSON request body read, in bytes. */
  static final int MAX_BODY = 4_096;

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
   * Answers 200 with the JSON of {@code answer}, or 503 problem+json when a Shepherd component
   * fails (or the thread is interrupted, which it keeps set). The 503 says what failed in fixed
   * words and names the exception's class only: a failure's message can carry what a client must
   * not see (a loader's or a runner's error text, file paths of the runner's JVM, a server's
   * address), so the whole failure goes to the service's log, for its operator.
   *
   * @param what what was being made, for the answer and the log ("the report", "product p1")
   */
  static void writeOr503(HttpServletResponse response, String what, Answer answer) throws IOException {
    Object body;
    try {
      body = answer.body();
    } catch (ShepherdException e) {
      LOG.log(System.Logger.Level.WARNING, what + ": failed", e);
      problem(response, 503, "Service Unavailable", unavailable(what, e));
      return;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      problem(response, 503, "Service Unavailable", "interrupted");
      return;
    }
    write(response, 200, body);
  }

  /** The fixed words of a 503 for {@code what} failing with {@code e}. */
  static String unavailable(String what, ShepherdException e) {
    return what + " could not be made (" + e.getClass().getSimpleName()
        + "); retry later, the cause is in the service's log";
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

  /**
   * Reads the field {@code name} of a JSON request body as a whole number from {@code min} to
   * {@code max}, or answers 400 naming the field. Only a JSON integer that fits an {@code int} is
   * one: {@code 4294967297} is refused, not wrapped to 1 as {@link JsonNode#asInt()} would, and so
   * are {@code 2.5} and {@code "2"}.
   *
   * @param fallback the value of an absent field, or null when the field is required
   * @return the value, or null when the 400 answer has been written
   */
  static @Nullable Integer wholeOr400(JsonNode body, String name, @Nullable Integer fallback, int min, int max,
      HttpServletResponse response) throws IOException {
    JsonNode node = body.path(name);
    if ((node.isMissingNode() || node.isNull()) && fallback != null) {
      return fallback;
    }
    if (node.isIntegralNumber() && node.canConvertToInt() && node.intValue() >= min && node.intValue() <= max) {
      return node.intValue();
    }
    String was = node.isMissingNode() ? "missing" : node.toString();
    problem(response, 400, "Bad Request", name + " must be a whole number from " + min + " to " + max + ", was "
        + (was.length() > 40 ? was.substring(0, 40) + "..." : was));
    return null;
  }

  static JsonNode read(byte[] body) throws IOException {
    return MAPPER.readTree(body);
  }

  /**
   * Checks that the request says {@code Content-Type: application/json}, or answers 415.
   *
   * @param what what the request is, for the answer ("a run request")
   * @return whether it does; when not, the 415 answer has been written
   */
  static boolean isJsonOr415(HttpServletRequest request, HttpServletResponse response, String what)
      throws IOException {
    String type = request.getContentType();
    if (type != null && type.toLowerCase(Locale.ROOT).startsWith("application/json")) {
      return true;
    }
    problem(response, 415, "Unsupported Media Type", what + " must be Content-Type: application/json"
        + " (a page of another site cannot send that without a CORS preflight, which this service never grants)");
    return false;
  }

  /**
   * Reads the request's body, at most {@value #MAX_BODY} bytes, or answers 413 naming the limit.
   * A body declared longer is not read at all, a longer streamed one not past the limit (Jetty then
   * drops what has already arrived, or closes the connection rather than read on).
   *
   * @param what what the body is, for the answer ("an order")
   * @return the body, or null when it was too large and the 413 answer has been written
   */
  static byte @Nullable [] readBodyOr413(HttpServletRequest request, HttpServletResponse response, String what)
      throws IOException {
    byte[] body = request.getContentLengthLong() > MAX_BODY
        ? null : request.getInputStream().readNBytes(MAX_BODY + 1);
    if (body != null && body.length <= MAX_BODY) {
      return body;
    }
    problem(response, 413, "Content Too Large", what + " is at most " + MAX_BODY + " bytes");
    return null;
  }

  /**
   * Reads the request's JSON body, or answers 415 (not {@code application/json}), 413 (longer than
   * {@value #MAX_BODY} bytes) or 400 (not JSON, naming the parse error).
   *
   * @param what what the body is, for the answers ("a report request")
   * @return the body, or null when an error answer has been written
   */
  static @Nullable JsonNode readJsonOr4xx(HttpServletRequest request, HttpServletResponse response, String what)
      throws IOException {
    if (!isJsonOr415(request, response, what)) {
      return null;
    }
    byte[] body = readBodyOr413(request, response, what);
    if (body == null) {
      return null;
    }
    try {
      return read(body);
    } catch (IOException e) {
      problem(response, 400, "Bad Request", "the body is not JSON: " + e.getMessage());
      return null;
    }
  }
}
