package dev.shepherd.demo;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serial;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.function.Supplier;

/** Answers GET with a text produced on each request (metrics, stats) or a fixed resource (the dashboard). */
final class TextServlet extends HttpServlet {

  @Serial private static final long serialVersionUID = 1L;

  private final String contentType;
  private final transient Supplier<String> body;

  TextServlet(String contentType, Supplier<String> body) {
    this.contentType = contentType;
    this.body = body;
  }

  static TextServlet resource(String contentType, String name) {
    String text;
    try (InputStream in = TextServlet.class.getResourceAsStream(name)) {
      if (in == null) {
        throw new IllegalStateException("resource " + name + " is missing from the jar");
      }
      text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return new TextServlet(contentType, () -> text);
  }

  @Override
  protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
    byte[] bytes = body.get().getBytes(StandardCharsets.UTF_8);
    resp.setContentType(contentType);
    resp.setHeader("Cache-Control", "no-store");
    resp.setContentLength(bytes.length);
    resp.getOutputStream().write(bytes);
  }
}
