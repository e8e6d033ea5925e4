package dev.shepherd.demo;

import dev.shepherd.watch.BlockingQueryServlet;
import dev.shepherd.watch.Subscription;
import dev.shepherd.watch.WatchEvent;
import dev.shepherd.watch.Watcher;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.Serial;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code /config/{key}}: Consul's blocking-query protocol ({@code ?index=&wait=}, {@code PUT},
 * {@code DELETE}) through Shepherd's {@link BlockingQueryServlet} (over the in-memory store, or
 * over etcd with {@code --etcd}), or, with
 * {@code Accept: text/event-stream}, a server-sent event stream fed by a {@link Watcher}
 * subscription: every stream of one key shares one upstream loop.
 */
final class ConfigServlet extends WrappingServlet {

  @Serial private static final long serialVersionUID = 1L;

  private final transient Watcher<Optional<String>> watcher;
  private final AtomicLong streams = new AtomicLong();

  ConfigServlet(HttpServlet blocking, Watcher<Optional<String>> watcher) {
    super(blocking);
    this.watcher = watcher;
  }

  @Override
  protected void service(HttpServletRequest req, HttpServletResponse resp) throws ServletException, IOException {
    String accept = req.getHeader("Accept");
    if ("GET".equals(req.getMethod()) && accept != null && accept.contains("text/event-stream")) {
      stream(req, resp);
    } else {
      inner.service(req, resp);
    }
  }

  private void stream(HttpServletRequest req, HttpServletResponse resp) throws IOException {
    String path = req.getPathInfo();
    if (path == null || path.length() <= 1) {
      Json.problem(resp, 400, "Bad Request", "missing key: request /config/<key>");
      return;
    }
    String key = path.substring(1);
    resp.setContentType("text/event-stream");
    resp.setCharacterEncoding("UTF-8");
    resp.setHeader("Cache-Control", "no-cache");
    resp.flushBuffer();
    AsyncContext async = req.startAsync();
    async.setTimeout(0);
    ServletOutputStream out = resp.getOutputStream();
    AtomicBoolean open = new AtomicBoolean(true);
    Subscription<Optional<String>>[] holder = newHolder();
    Runnable finish = () -> {
      if (open.compareAndSet(true, false)) {
        // Closing waits for an in-flight delivery, so never from inside the sink itself.
        Thread.ofVirtual().start(() -> {
          if (holder[0] != null) {
            holder[0].close();
          }
          try {
            async.complete();
          } catch (IllegalStateException alreadyDone) {
            // the container completed it (client gone)
          }
        });
      }
    };
    async.addListener(new AsyncListener() {
      @Override
      public void onComplete(AsyncEvent event) {
        finish.run();
      }

      @Override
      public void onTimeout(AsyncEvent event) {
        finish.run();
      }

      @Override
      public void onError(AsyncEvent event) {
        finish.run();
      }

      @Override
      public void onStartAsync(AsyncEvent event) {}
    });
    holder[0] = watcher.watch(key, "sse-" + streams.incrementAndGet(), event -> {
      if (!open.get()) {
        return;
      }
      String frame = switch (event) {
        case WatchEvent.Update<Optional<String>> u -> "id: " + u.index() + "\nevent: update\n"
            + data(u.value().orElse("")) + "\n";
        case WatchEvent.Failing<Optional<String>> f -> "event: failing\ndata: upstream failing\n\n";
        case WatchEvent.Recovered<Optional<String>> r -> "event: recovered\ndata: upstream recovered\n\n";
      };
      try {
        synchronized (out) {
          out.write(frame.getBytes(StandardCharsets.UTF_8));
          out.flush();
        }
      } catch (IOException | IllegalStateException e) {
        finish.run();
      }
    });
  }

  @SuppressWarnings("unchecked") // a one-element array of a generic type, filled right after
  private static Subscription<Optional<String>>[] newHolder() {
    return (Subscription<Optional<String>>[]) new Subscription<?>[1];
  }

  private static String data(String value) {
    StringBuilder lines = new StringBuilder();
    for (String line : value.split("\n", -1)) {
      lines.append("data: ").append(line).append('\n');
    }
    return lines.toString();
  }
}
