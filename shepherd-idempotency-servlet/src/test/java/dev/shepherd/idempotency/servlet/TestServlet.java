package dev.shepherd.idempotency.servlet;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Serial;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The application behind the filter in the tests: one route per response shape the filter must
 * capture and replay, and a count of how often each route really ran.
 */
final class TestServlet extends HttpServlet {

  @Serial private static final long serialVersionUID = 1L;

  /** How often each path ran. */
  final transient Map<String, AtomicInteger> runs = new ConcurrentHashMap<>();

  /** Opened by a test to let requests to {@code /slow} finish. */
  transient volatile CountDownLatch gate = new CountDownLatch(1);

  /** Counts down when a request to {@code /slow} entered the handler. */
  transient volatile CountDownLatch entered = new CountDownLatch(1);

  /** What the container's stream threw at {@code /abort} once the client had gone. */
  final transient java.util.concurrent.atomic.AtomicReference<IOException> streamFailure =
      new java.util.concurrent.atomic.AtomicReference<>();

  /** The tracker behind the filter, for {@code /token}'s isHeld check. */
  transient volatile dev.shepherd.idempotency.@org.jspecify.annotations.Nullable IdempotencyTracker
      tracker;

  int runs(String path) {
    AtomicInteger n = runs.get(path);
    return n == null ? 0 : n.get();
  }

  private void awaitGate() {
    try {
      if (!gate.await(60, TimeUnit.SECONDS)) {
        throw new IllegalStateException("the test never opened the gate");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  @Override
  protected void service(HttpServletRequest req, HttpServletResponse res) throws IOException {
    String path = req.getRequestURI();
    int run = runs.computeIfAbsent(path, p -> new AtomicInteger()).incrementAndGet();
    byte[] body = req.getInputStream().readAllBytes();
    switch (path) {
      case "/orders", "/other" -> {
        res.setStatus(201);
        res.setContentType("application/json");
        res.addHeader("X-Order-Id", "order-" + run);
        res.addHeader("X-Multi", "a");
        res.addHeader("X-Multi", "b");
        res.addHeader("Set-Cookie", "session=s" + run + "; HttpOnly");
        byte[] out = ("{\"run\":" + run + ",\"echo\":" + body.length + "}")
            .getBytes(StandardCharsets.UTF_8);
        res.setContentLength(out.length);
        res.getOutputStream().write(out);
      }
      case "/writer" -> {
        res.setContentType("text/plain; charset=UTF-8");
        PrintWriter w = res.getWriter();
        w.print("grüße, run " + run + " — ");
        w.flush();
        res.flushBuffer();
        w.print("ünïcødé ✓");
      }
      case "/boom" -> throw new IllegalStateException("handler failed on run " + run);
      case "/unavailable" -> {
        res.setStatus(503);
        res.setContentType("text/plain");
        res.getOutputStream().write(("down on run " + run).getBytes(StandardCharsets.UTF_8));
      }
      case "/teapot" -> res.sendError(418, "short and stout " + run);
      case "/big" -> {
        res.setContentType("application/octet-stream");
        byte[] chunk = new byte[8192];
        for (int i = 0; i < 64; i++) {
          chunk[0] = (byte) i;
          res.getOutputStream().write(chunk);
        }
      }
      case "/redirect" -> res.sendRedirect("/orders/" + run);
      case "/async" -> {
        jakarta.servlet.AsyncContext async = req.startAsync();
        async.start(() -> {
          try {
            async.getResponse().setContentType("text/plain");
            async.getResponse().getOutputStream().write(("async run " + run)
                .getBytes(StandardCharsets.UTF_8));
          } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
          } finally {
            async.complete();
          }
        });
      }
      case "/write-listener" -> {
        res.setContentType("text/plain");
        try {
          res.getOutputStream().setWriteListener(new jakarta.servlet.WriteListener() {
            @Override
            public void onWritePossible() {}

            @Override
            public void onError(Throwable t) {}
          });
          res.getOutputStream().write("listener accepted".getBytes(StandardCharsets.UTF_8));
        } catch (UnsupportedOperationException e) {
          res.getOutputStream().write(("refused: " + e.getMessage())
              .getBytes(StandardCharsets.UTF_8));
        }
      }
      case "/hop-by-hop" -> {
        res.setContentType("text/plain");
        res.addHeader("Connection", "X-Hop, x-other");
        res.addHeader("X-Hop", "1");
        res.addHeader("X-Other", "2");
        res.addHeader("X-Kept", "3");
        res.getWriter().print("hop run " + run);
      }
      case "/abort" -> {
        // One chunk past the test's storage limit, flushed: the response is streaming. Then, once
        // the test's client has gone, write until the container's stream fails.
        res.setContentType("application/octet-stream");
        java.io.OutputStream out = res.getOutputStream();
        byte[] chunk = new byte[8192];
        out.write(chunk);
        out.flush();
        entered.countDown();
        awaitGate();
        try {
          for (int i = 0; i < 10_000; i++) {
            out.write(chunk);
            out.flush();
          }
        } catch (IOException e) {
          streamFailure.set(e);
          throw e;
        }
      }
      case "/tx-redirect", "/tx-big", "/tx-big-writer" -> {
        java.sql.Connection c = IdempotencyFilter.connection(req).orElseThrow();
        try (java.sql.PreparedStatement insert =
            c.prepareStatement("INSERT INTO tx_orders (idempotency_key) VALUES (?)")) {
          insert.setString(1, req.getHeader("Idempotency-Key"));
          insert.executeUpdate();
        } catch (java.sql.SQLException e) {
          throw new IOException(e);
        }
        if (path.equals("/tx-redirect")) {
          res.sendRedirect("/orders/" + run); // post/redirect/get
          entered.countDown();
          awaitGate();
        } else if (path.equals("/tx-big-writer")) {
          res.setContentType("text/plain");
          PrintWriter w = res.getWriter(); // swallows the refused write, as PrintWriter does
          for (int i = 0; i < 64; i++) {
            w.print("y".repeat(8192));
          }
        } else {
          res.setContentType("application/octet-stream");
          byte[] chunk = new byte[8192];
          for (int i = 0; i < 64; i++) {
            res.getOutputStream().write(chunk);
          }
        }
      }
      case "/tx-order", "/tx-order-fails" -> {
        java.sql.Connection c = IdempotencyFilter.connection(req).orElseThrow();
        try (java.sql.PreparedStatement insert =
            c.prepareStatement("INSERT INTO tx_orders (idempotency_key) VALUES (?)")) {
          insert.setString(1, req.getHeader("Idempotency-Key"));
          insert.executeUpdate();
        } catch (java.sql.SQLException e) {
          throw new IOException(e);
        }
        if (path.equals("/tx-order-fails")) {
          throw new IllegalStateException("failed after its insert, run " + run);
        }
        res.setStatus(201);
        res.setContentType("text/plain");
        res.getOutputStream().write(("order run " + run).getBytes(StandardCharsets.UTF_8));
      }
      case "/token" -> {
        Object token = req.getAttribute(IdempotencyFilter.FENCING_TOKEN_ATTRIBUTE);
        dev.shepherd.idempotency.Tracked.Claimed claim = IdempotencyFilter.claim(req).orElseThrow();
        res.setContentType("text/plain");
        res.getWriter().print(token + " " + claim.fencingToken() + " "
            + (tracker != null && tracker.isHeld(claim) ? "held" : "not-held"));
      }
      case "/reset" -> {
        res.setHeader("X-Discarded", "yes");
        res.getWriter().print("discarded");
        res.reset();
        res.setStatus(202);
        res.setContentType("text/plain");
        res.getOutputStream().write(("kept " + run).getBytes(StandardCharsets.UTF_8));
        res.getOutputStream().close();
      }
      case "/mixed" -> {
        res.getOutputStream().write('a');
        try {
          res.getWriter();
          res.setStatus(500);
        } catch (IllegalStateException expected) {
          res.setStatus(200);
          res.getOutputStream().write('b');
        }
      }
      case "/form" -> {
        res.setContentType("text/plain");
        res.getWriter().print("a=" + req.getParameter("a") + " b=" + req.getParameter("b"));
      }
      case "/slow" -> {
        entered.countDown();
        awaitGate();
        res.setStatus(201);
        res.setContentType("text/plain");
        res.getOutputStream().write(("slow run " + run).getBytes(StandardCharsets.UTF_8));
      }
      default -> {
        res.setStatus(200);
        res.setContentType("text/plain");
        res.getOutputStream().write(("ok " + req.getMethod() + " run " + run)
            .getBytes(StandardCharsets.UTF_8));
      }
    }
  }
}
