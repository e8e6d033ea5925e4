package dev.shepherd.demo;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpFilter;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.Serial;
import java.util.Locale;
import java.util.Set;

/**
 * Answers only requests addressed to this service by a local name: the defence against DNS
 * rebinding, which listening on 127.0.0.1 alone does not give.
 *
 * <p>A page on {@code rebind.evil:8080} whose name later resolves to 127.0.0.1 is, for the
 * browser, same-origin with whatever listens there: it needs no CORS preflight, sends
 * {@code application/json} and reads the answers. What still gives it away is the name it used:
 * the browser sends {@code Host: rebind.evil:8080}. So every request must carry {@code Host}
 * {@code 127.0.0.1:<port>} or {@code localhost:<port>} (the address the service binds, and the
 * name that resolves to it; any letter case), else 421 Misdirected Request naming the Host
 * received. {@code [::1]} is not accepted: the service does not listen there, so no honest
 * request carries it. On port 80 the host without a port is accepted too, as browsers send it.
 *
 * <p>A request that changes something (any method but {@code GET} and {@code HEAD}) with an
 * {@code Origin} header must come from {@code http://127.0.0.1:<port>} or
 * {@code http://localhost:<port>}, else 403: a page of another origin that got a browser to send
 * such a request (a form post, say) never reaches a handler. No {@code Origin} (curl, the CLI
 * clients, the JDK's HTTP client) passes.
 *
 * <p>The port is the one the request arrived on ({@link HttpServletRequest#getLocalPort()}), so
 * the filter is right for {@code --port 0} too.
 */
final class LocalHostFilter extends HttpFilter {

  @Serial private static final long serialVersionUID = 1L;

  /** The longest part of a refused Host or Origin repeated in an answer. */
  private static final int ECHO_LIMIT = 200;

  /** The host names, without port, that name this service: its bind address and localhost. */
  private static final Set<String> LOCAL_NAMES = Set.of("127.0.0.1", "localhost");

  @Override
  protected void doFilter(HttpServletRequest req, HttpServletResponse resp, FilterChain chain)
      throws IOException, ServletException {
    int port = req.getLocalPort();
    String host = req.getHeader("Host");
    if (!isLocalHost(host, port)) {
      Json.problem(resp, 421, "Misdirected Request", "this service answers only requests for 127.0.0.1:" + port
          + " or localhost:" + port + ", not Host: " + echo(host)
          + " (a page whose name was rebound to this machine is refused)");
      return;
    }
    String method = req.getMethod();
    String origin = req.getHeader("Origin");
    if (!"GET".equals(method) && !"HEAD".equals(method) && origin != null && !isLocalOrigin(origin, port)) {
      Json.problem(resp, 403, "Forbidden", method + " requests are accepted only from pages of http://127.0.0.1:"
          + port + " or http://localhost:" + port + ", not Origin: " + echo(origin));
      return;
    }
    chain.doFilter(req, resp);
  }

  /** Whether {@code host} (a Host header) names this service on {@code port}. */
  static boolean isLocalHost(@org.jspecify.annotations.Nullable String host, int port) {
    if (host == null) {
      return false;
    }
    String h = host.toLowerCase(Locale.ROOT);
    for (String name : LOCAL_NAMES) {
      if (h.equals(name + ":" + port) || (port == 80 && h.equals(name))) {
        return true;
      }
    }
    return false;
  }

  /** Whether {@code origin} (an Origin header) is a page of this service on {@code port}. */
  static boolean isLocalOrigin(String origin, int port) {
    String o = origin.toLowerCase(Locale.ROOT);
    return o.startsWith("http://") && isLocalHost(o.substring("http://".length()), port);
  }

  private static String echo(@org.jspecify.annotations.Nullable String value) {
    if (value == null) {
      return "(none)";
    }
    return value.length() > ECHO_LIMIT ? value.substring(0, ECHO_LIMIT) + "..." : value;
  }
}
