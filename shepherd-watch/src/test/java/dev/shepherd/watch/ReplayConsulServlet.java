package dev.shepherd.watch;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Serves recorded Consul responses (src/test/resources/consul/*.http) in the order the test
 * queues them, and records every request it received. With nothing queued, a request is held up
 * to a minute, like a blocking query on which nothing changes.
 */
final class ReplayConsulServlet extends HttpServlet {

  private static final long serialVersionUID = 1L;

  record Received(String method, String path, String query, String token) {}

  final transient List<Received> received = new CopyOnWriteArrayList<>();
  private final transient LinkedBlockingQueue<String> recordings = new LinkedBlockingQueue<>();

  void enqueue(String... names) {
    recordings.addAll(List.of(names));
  }

  @Override
  protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
    String token = req.getHeader("X-Consul-Token");
    received.add(new Received(req.getMethod(), req.getRequestURI(),
        req.getQueryString() == null ? "" : req.getQueryString(), token == null ? "" : token));
    String name;
    try {
      name = recordings.poll(1, TimeUnit.MINUTES);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return;
    }
    if (name == null) {
      resp.sendError(500, "no recording queued");
      return;
    }
    String recording;
    try (InputStream in = ReplayConsulServlet.class.getResourceAsStream("/consul/" + name)) {
      if (in == null) {
        throw new IOException("no recording " + name);
      }
      recording = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    int split = recording.indexOf("\r\n\r\n");
    String[] head = recording.substring(0, split).split("\r\n");
    byte[] body = recording.substring(split + 4).getBytes(StandardCharsets.UTF_8);
    resp.setStatus(Integer.parseInt(head[0].split(" ")[1]));
    for (int i = 1; i < head.length; i++) {
      int colon = head[i].indexOf(':');
      String field = head[i].substring(0, colon);
      if (!field.equalsIgnoreCase("Content-Length")) {
        resp.setHeader(field, head[i].substring(colon + 1).trim());
      }
    }
    resp.setContentLength(body.length);
    resp.getOutputStream().write(body);
  }
}
