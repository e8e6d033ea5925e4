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
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;

/**
 * {@code /config/{key}}: Consul's blocking-query protocol ({@code ?index=&wait=}, {@code PUT},
 * {@code DELETE}) through Shepherd's {@link BlockingQueryServlet} (over the in-memory store, or
 * over etcd with {@code --etcd}), or, with
 * {@code Accept: text/event-stream}, a server-sent event stream fed by a {@link Watcher}
 * subscription: every stream of one key shares one upstream loop.
 *
 * <p>Event streams are capped: at most {@code maxStreams} are open at once; one more is answered
 * 429 with {@code Retry-After} and a problem naming the cap, as {@link BlockingQueryServlet}
 * answers a held query beyond its caps. A stream's slot (and its Watcher subscription) is freed
 * when the stream ends: the container completes, times out or fails it, or a write to it fails,
 * which is how a client that went away is noticed, within two heartbeats ({@link #HEARTBEAT}).
 */
final class ConfigServlet extends WrappingServlet {

  /*
   * Why heartbeats: a stream is an AsyncContext with no timeout (a live stream may last as long as
   * its client stays), and Jetty does not read an HTTP/1.1 connection while its request is being
   * served, so a client that closed its end goes unnoticed until a write to it fails. A key that
   * never changes would never be written, and its closed streams would keep their slots (and
   * their Watcher subscriptions) for good. So every stream gets an SSE comment line every
   * HEARTBEAT: the write to a closed connection fails within two heartbeats, and the stream ends.
   * EventSource clients ignore comment lines.
   */

  @Serial private static final long serialVersionUID = 1L;

  /** The cap on open event streams of {@code /config}. */
  static final int MAX_STREAMS = 100;
  /** How often each open stream gets an SSE comment line, so a closed client is noticed. */
  static final Duration HEARTBEAT = Duration.ofSeconds(5);
  private static final byte[] HEARTBEAT_LINE = ":\n\n".getBytes(StandardCharsets.UTF_8);

  private final transient Watcher<Optional<String>> watcher;
  private final int maxStreams;
  private final AtomicLong streams = new AtomicLong();
  private final AtomicInteger open = new AtomicInteger();
  /** Ends each open stream (its finish); removed as each ends. */
  private final transient Set<Runnable> ends = ConcurrentHashMap.newKeySet();
  private transient @Nullable ScheduledThreadPoolExecutor heartbeats;

  ConfigServlet(HttpServlet blocking, Watcher<Optional<String>> watcher, int maxStreams) {
    super(blocking);
    this.watcher = watcher;
    this.maxStreams = maxStreams;
  }

  @Override
  public void init() throws ServletException {
    super.init();
    ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1, r -> {
      Thread thread = new Thread(r, "config-sse-heartbeat");
      thread.setDaemon(true);
      return thread;
    });
    timer.setRemoveOnCancelPolicy(true);
    heartbeats = timer;
  }

  @Override
  public void destroy() {
    ScheduledThreadPoolExecutor timer = heartbeats;
    if (timer != null) {
      timer.shutdownNow();
    }
    super.destroy();
  }

  /**
   * Ends every open event stream and answers every held blocking query at once: called when the
   * server starts stopping, whose graceful stop would otherwise wait for streams that never end
   * by themselves and queries held for minutes.
   */
  void endAll() {
    for (Runnable end : List.copyOf(ends)) {
      end.run();
    }
    if (inner instanceof BlockingQueryServlet<?> blocking) {
      blocking.answerHeldQueries();
    }
  }

  /** Returns how many event streams are open now. */
  int openStreams() {
    return open.get();
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
    if (open.incrementAndGet() > maxStreams) {
      open.decrementAndGet();
      resp.setHeader("Retry-After", "1");
      Json.problem(resp, 429, "Too Many Requests", "too many event streams open (at most " + maxStreams
          + "); retry after 1 s, or watch with a blocking query (?index=&wait=)");
      return;
    }
    AsyncContext async;
    ServletOutputStream out;
    try {
      resp.setContentType("text/event-stream");
      resp.setCharacterEncoding("UTF-8");
      resp.setHeader("Cache-Control", "no-cache");
      resp.flushBuffer();
      async = req.startAsync();
      async.setTimeout(0);
      out = resp.getOutputStream();
    } catch (IOException | RuntimeException e) {
      open.decrementAndGet(); // no listener owns the slot yet
      throw e;
    }
    AtomicBoolean live = new AtomicBoolean(true);
    AtomicReference<@Nullable Subscription<Optional<String>>> subscription = new AtomicReference<>();
    AtomicReference<@Nullable ScheduledFuture<?>> heartbeat = new AtomicReference<>();
    AtomicReference<@Nullable Runnable> self = new AtomicReference<>();
    Runnable finish = () -> {
      if (live.compareAndSet(true, false)) {
        open.decrementAndGet();
        Runnable me = self.get();
        if (me != null) {
          ends.remove(me);
        }
        ScheduledFuture<?> beat = heartbeat.get();
        if (beat != null) {
          beat.cancel(false);
        }
        // Closing waits for an in-flight delivery, so never from inside the sink itself.
        Thread.ofVirtual().start(() -> {
          Subscription<Optional<String>> s = subscription.get();
          if (s != null) {
            s.close();
          }
          try {
            async.complete();
          } catch (IllegalStateException alreadyDone) {
            // the container completed it (client gone)
          }
        });
      }
    };
    self.set(finish);
    ends.add(finish);
    if (!live.get()) {
      ends.remove(finish); // finished before it was registered
    }
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
    try {
      Subscription<Optional<String>> s = watcher.watch(key, "sse-" + streams.incrementAndGet(), event -> {
        if (!live.get()) {
          return;
        }
        String frame = switch (event) {
          case WatchEvent.Update<Optional<String>> u -> "id: " + u.index() + "\nevent: update\n"
              + data(u.value().orElse("")) + "\n";
          case WatchEvent.Failing<Optional<String>> f -> "event: failing\ndata: upstream failing\n\n";
          case WatchEvent.Recovered<Optional<String>> r -> "event: recovered\ndata: upstream recovered\n\n";
        };
        send(out, frame.getBytes(StandardCharsets.UTF_8), finish);
      });
      subscription.set(s);
      ScheduledThreadPoolExecutor timer = heartbeats;
      if (timer != null) {
        AtomicBoolean beating = new AtomicBoolean();
        heartbeat.set(timer.scheduleAtFixedRate(() -> {
          // A blocked write (a client that stopped reading) holds a virtual thread, not the timer.
          if (live.get() && beating.compareAndSet(false, true)) {
            Thread.ofVirtual().start(() -> {
              try {
                send(out, HEARTBEAT_LINE, finish);
              } finally {
                beating.set(false);
              }
            });
          }
        }, HEARTBEAT.toMillis(), HEARTBEAT.toMillis(), TimeUnit.MILLISECONDS));
      }
    } catch (RuntimeException e) { // the watcher is closed: the service is stopping
      finish.run();
      return;
    }
    if (!live.get()) { // finished while subscribing: finish may have run before these were set
      Subscription<Optional<String>> s = subscription.get();
      if (s != null) {
        s.close();
      }
      ScheduledFuture<?> beat = heartbeat.get();
      if (beat != null) {
        beat.cancel(false);
      }
    }
  }

  /** Writes and flushes one frame; a failed write ends the stream. */
  private static void send(ServletOutputStream out, byte[] frame, Runnable finish) {
    try {
      synchronized (out) {
        out.write(frame);
        out.flush();
      }
    } catch (IOException | IllegalStateException e) {
      finish.run();
    }
  }

  /**
   * The value as SSE {@code data:} lines. The event-stream format ends a line at CR LF, at a lone
   * CR and at a lone LF, so the value is split at all three: a value split at LF only could carry a
   * CR followed by {@code id:} or {@code event:} and forge fields, or a whole event, in every open
   * stream. A client joins the data lines with LF, so the CRs of a value arrive as LFs.
   */
  static String data(String value) {
    StringBuilder lines = new StringBuilder();
    for (String line : value.split("\r\n|\r|\n", -1)) {
      lines.append("data: ").append(line).append('\n');
    }
    return lines.toString();
  }
}
