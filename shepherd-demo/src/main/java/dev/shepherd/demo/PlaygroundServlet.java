package dev.shepherd.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serial;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;

/**
 * The playground's HTTP side, apart from the service's ordinary endpoints:
 *
 * <ul>
 *   <li>{@code GET /playground/}: the page; {@code GET /playground/assets/uPlot.*}: the charting
 *       library, served from its WebJar inside the jar (nothing is fetched from elsewhere);
 *   <li>{@code POST /playground/run/{name}} with a JSON object of parameters: 202 and the run, 409
 *       while a run of that scenario is going, 400 naming a parameter out of bounds;
 *   <li>{@code GET /api/playground} and {@code GET /api/playground/{name}}: the latest run of each
 *       scenario (or the running one) as JSON, the figures the page shows.
 * </ul>
 *
 * Safe by default: answers only loopback clients (the service listens on 127.0.0.1 only, this
 * checks again), a run request must be {@code application/json} (so a page of another site cannot
 * start one without a CORS preflight, which this servlet never grants), its body is at most
 * {@value Json#MAX_BODY} bytes (both checked by {@link Json}, as for every JSON body of the demo),
 * and every scenario bounds its size and duration.
 */
final class PlaygroundServlet extends HttpServlet {

  @Serial private static final long serialVersionUID = 1L;

  private final transient Playground playground;
  private final String page;
  private final String uplotBase;

  PlaygroundServlet(Playground playground) {
    this.playground = playground;
    this.page = resourceText("playground.html");
    this.uplotBase = "/META-INF/resources/webjars/uplot/" + uplotVersion() + "/dist/";
  }

  private static String uplotVersion() {
    try (InputStream in = PlaygroundServlet.class.getResourceAsStream(
        "/META-INF/maven/org.webjars.npm/uplot/pom.properties")) {
      if (in == null) {
        throw new IllegalStateException("the uPlot WebJar (org.webjars.npm:uplot) is missing from the classpath");
      }
      Properties p = new Properties();
      p.load(in);
      return p.getProperty("version");
    } catch (IOException e) {
      throw new IllegalStateException("cannot read the uPlot WebJar's version", e);
    }
  }

  private static String resourceText(String name) {
    try (InputStream in = PlaygroundServlet.class.getResourceAsStream(name)) {
      if (in == null) {
        throw new IllegalStateException("resource " + name + " is missing from the jar");
      }
      return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @Override
  protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
    if (!isLoopback(req.getRemoteAddr())) {
      Json.problem(resp, 403, "Forbidden", "the playground answers only clients on this machine (127.0.0.1)");
      return;
    }
    resp.setHeader("Cache-Control", "no-store");
    String path = req.getPathInfo() == null ? "/" : req.getPathInfo();
    if (req.getServletPath().equals("/api/playground")) {
      api(req, resp, path);
    } else if (path.startsWith("/run/")) {
      run(req, resp, path.substring("/run/".length()));
    } else if (!"GET".equals(req.getMethod())) {
      Json.problem(resp, 405, "Method Not Allowed", "the page and its assets are read with GET; runs are POST /playground/run/{name}");
    } else if (path.equals("/")) {
      text(resp, "text/html; charset=utf-8", page.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    } else if (path.equals("/assets/uPlot.iife.min.js") || path.equals("/assets/uPlot.min.css")) {
      String file = path.substring("/assets/".length());
      try (InputStream in = PlaygroundServlet.class.getResourceAsStream(uplotBase + file)) {
        if (in == null) {
          Json.problem(resp, 500, "Internal Server Error", "uPlot's " + file + " is missing from the WebJar");
          return;
        }
        text(resp, file.endsWith(".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8", in.readAllBytes());
      }
    } else {
      Json.problem(resp, 404, "Not Found", "the playground is at /playground/");
    }
  }

  private void api(HttpServletRequest req, HttpServletResponse resp, String path) throws IOException {
    if (!"GET".equals(req.getMethod())) {
      Json.problem(resp, 405, "Method Not Allowed", "/api/playground is read-only; start runs with POST /playground/run/{name}");
      return;
    }
    if (path.equals("/")) {
      Json.write(resp, 200, playground.statusOfAll());
      return;
    }
    String name = path.substring(1);
    if (playground.scenario(name) == null) {
      Json.problem(resp, 404, "Not Found", "no scenario '" + name + "'; there are " + String.join(", ", playground.names()));
      return;
    }
    Json.write(resp, 200, playground.status(name));
  }

  private void run(HttpServletRequest req, HttpServletResponse resp, String name) throws IOException {
    if (!"POST".equals(req.getMethod())) {
      Json.problem(resp, 405, "Method Not Allowed", "start a run with POST /playground/run/" + name);
      return;
    }
    if (!Json.isJsonOr415(req, resp, "a run request")) {
      return;
    }
    byte[] body = Json.readBodyOr413(req, resp, "the body of a run request");
    if (body == null) {
      return;
    }
    JsonNode parameters;
    try {
      parameters = body.length == 0 ? JsonNodeFactory.instance.objectNode() : Json.read(body);
    } catch (IOException e) {
      Json.problem(resp, 400, "Bad Request", "the body is not JSON: " + e.getMessage());
      return;
    }
    if (!parameters.isObject()) {
      Json.problem(resp, 400, "Bad Request", "the body must be a JSON object of parameters, e.g. {\"callers\":1000}");
      return;
    }
    Playground.Start start;
    try {
      start = playground.start(name, parameters);
    } catch (IllegalArgumentException e) {
      Json.problem(resp, playground.scenario(name) == null ? 404 : 400,
          playground.scenario(name) == null ? "Not Found" : "Bad Request", String.valueOf(e.getMessage()));
      return;
    }
    switch (start) {
      case Playground.Start.Started s -> {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", name);
        m.put("runId", s.run().id);
        m.put("state", "running");
        m.put("parameters", s.run().parameters);
        m.put("status", "/api/playground/" + name);
        resp.setHeader("Location", "/api/playground/" + name);
        Json.write(resp, 202, m);
      }
      case Playground.Start.Busy b -> {
        resp.setHeader("Retry-After", "1");
        Json.problem(resp, 409, "Conflict", "the " + name + " scenario is already running (run " + b.running().id
            + ", for " + b.running().runningForMs() + " ms); one at a time per capability, wait for it to finish");
      }
    }
  }

  private static void text(HttpServletResponse resp, String type, byte[] bytes) throws IOException {
    resp.setContentType(type);
    resp.setContentLength(bytes.length);
    resp.getOutputStream().write(bytes);
  }

  private static boolean isLoopback(String address) {
    String a = address.startsWith("[") ? address.substring(1, address.length() - 1) : address;
    return a.startsWith("127.") || a.equals("::1") || a.equals("0:0:0:0:0:0:0:1");
  }
}
