package dev.shepherd.idempotency.servlet;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import org.jspecify.annotations.Nullable;

/**
 * An RFC 9457 problem detail that the filter answers with, written as
 * {@code application/problem+json} with {@code type}, {@code title}, {@code status} and
 * {@code detail}.
 *
 * <p>Each kind has a stable {@code type} URI (the base configured with
 * {@link IdempotencyFilter.Builder#problemTypeBase(URI)} plus the kind's slug) and a fixed title, so
 * a client can switch on {@code type} and show {@code detail} to a human. Immutable.
 */
record Problem(Kind kind, String detail, @Nullable String retryAfterSeconds, int status) {

  /** The problems the filter answers with. */
  enum Kind {
    KEY_MISSING(400, "key-missing", "Idempotency-Key header missing"),
    KEY_SEVERAL(400, "key-several", "Several Idempotency-Key headers"),
    KEY_MALFORMED(400, "key-malformed", "Malformed Idempotency-Key header"),
    REQUEST_FAILED(500, "request-failed", "The original request failed"),
    IN_PROGRESS(409, "in-progress", "A request with this Idempotency-Key is in progress"),
    KEY_REUSED(422, "key-reused", "Idempotency-Key reused with another request"),
    BODY_TOO_LARGE(413, "body-too-large", "Request body too large for an idempotent request"),
    FORM_TOO_LARGE(413, "form-too-large", "Form body over the form limits"),
    STORE_UNAVAILABLE(503, "store-unavailable", "Idempotency store unavailable"),
    PRINCIPAL_MISSING(400, "principal-missing", "No caller to scope the Idempotency-Key to"),
    LEASE_LOST(409, "lease-lost", "The request lost its Idempotency-Key while it ran"),
    /** Sent with the original request's status, which varies. */
    RESPONSE_NOT_KEPT(200, "response-not-kept", "The original response was not kept");

    final int status;
    final String slug;
    final String title;

    Kind(int status, String slug, String title) {
      this.status = status;
      this.slug = slug;
      this.title = title;
    }
  }

  static final String CONTENT_TYPE = "application/problem+json";

  Problem(Kind kind, String detail) {
    this(kind, detail, null, kind.status);
  }

  Problem(Kind kind, String detail, @Nullable String retryAfterSeconds) {
    this(kind, detail, retryAfterSeconds, kind.status);
  }

  private static final JsonFactory JSON = JsonFactory.builder().build();

  /** Renders the JSON document with Jackson's streaming generator (escaping included). */
  byte[] toJson(URI typeBase) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(256);
    try (JsonGenerator json = JSON.createGenerator(out, JsonEncoding.UTF8)) {
      json.writeStartObject();
      json.writeStringField("type", typeBase.resolve(kind.slug).toString());
      json.writeStringField("title", kind.title);
      json.writeNumberField("status", status);
      json.writeStringField("detail", detail);
      json.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot happen: writing JSON to memory", e);
    }
    return out.toByteArray();
  }

  /**
   * Writes the problem as the whole response: sets status, content type, length,
   * {@code Retry-After} when given, and the body. Headers set before (for example CORS headers of
   * an earlier filter) are kept.
   *
   * @throws IOException if the client connection fails
   * @throws IllegalStateException if the response is already committed
   */
  void send(HttpServletResponse response, URI typeBase) throws IOException {
    byte[] body = toJson(typeBase);
    response.resetBuffer();
    response.setStatus(status);
    response.setContentType(CONTENT_TYPE);
    response.setHeader("Cache-Control", "no-store");
    if (retryAfterSeconds != null) {
      response.setHeader("Retry-After", retryAfterSeconds);
    }
    response.setContentLength(body.length);
    try (OutputStream out = response.getOutputStream()) {
      out.write(body);
    }
  }
}
