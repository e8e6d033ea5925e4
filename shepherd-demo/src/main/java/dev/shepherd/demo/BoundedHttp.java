package dev.shepherd.demo;

import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import dev.shepherd.core.internal.LimitedBody;
import org.jspecify.annotations.Nullable;

/**
 * HTTP for the demo's command-line clients ({@link ScenarioClient}, {@link LoadGenerator}), which
 * talk to a URL the user typed, so to anything: every answer is bounded in size and in time, and
 * text from it is made safe to print.
 *
 * <p>The JDK's {@code BodyHandlers.ofString()} reads a body of any length into memory, and a
 * request's {@code timeout} ends when the headers arrive; {@link #send} bounds the body at
 * {@value #MAX_BODY} bytes (cancelling the exchange past it) and the whole exchange, body
 * included, at the given time.
 */
final class BoundedHttp {

  /** The longest response body read, in bytes: the playground's largest answer is a few KB. */
  static final int MAX_BODY = 1 << 20;

  private BoundedHttp() {}

  /**
   * Sends {@code request} and reads the answer as UTF-8 text of at most {@code maxBody} bytes,
   * all within {@code timeout}.
   *
   * @throws IOException if the exchange fails (a {@link java.net.ConnectException} as such), the
   *     body is longer than {@code maxBody} bytes, or the whole answer takes longer than
   *     {@code timeout} ({@link HttpTimeoutException})
   */
  static HttpResponse<String> send(HttpClient http, HttpRequest request, int maxBody, Duration timeout)
      throws IOException, InterruptedException {
    CompletableFuture<HttpResponse<String>> answer = http.sendAsync(request,
        info -> HttpResponse.BodySubscribers.mapping(LimitedBody.handler(maxBody).apply(info),
            bytes -> new String(bytes, StandardCharsets.UTF_8)));
    try {
      return answer.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      answer.cancel(true);
      throw new HttpTimeoutException("no whole answer from " + request.uri() + " within " + timeout.toMillis() + " ms");
    } catch (InterruptedException e) {
      answer.cancel(true);
      throw e;
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof IOException io) {
        throw io;
      }
      throw new IOException(String.valueOf(cause), cause);
    }
  }

  /**
   * {@code text} with control characters (C0, DEL, C1: terminal escape sequences among them) and
   * format characters (bidirectional overrides, zero-width characters) taken out, line breaks and
   * tabs turned into spaces: what a server sent, made safe to print on a terminal as one line.
   */
  static String printable(@Nullable String text) {
    if (text == null) {
      return "";
    }
    StringBuilder safe = new StringBuilder(text.length());
    text.codePoints().forEach(c -> {
      if (c == '\n' || c == '\r' || c == '\t') {
        safe.append(' ');
      } else if (!Character.isISOControl(c) && Character.getType(c) != Character.FORMAT) {
        safe.appendCodePoint(c);
      }
    });
    return safe.toString();
  }
}
