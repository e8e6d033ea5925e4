package dev.shepherd.testing;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.fabric8.mockwebserver.http.Response;
import io.fabric8.mockwebserver.http.WebSocket;
import io.fabric8.mockwebserver.http.WebSocketListener;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A JUnit 5 extension that runs fabric8's Kubernetes mock API server in CRUD mode (it stores what
 * is created and serves gets, lists, watches and status updates of it, but runs nothing) on
 * 127.0.0.1 only, fresh for every test, with a client pointed at it in a default namespace.
 * Pair it with {@link FakeKubelet} to have Pods actually run.
 *
 * <pre>{@code
 * @RegisterExtension final MockKubernetes api = new MockKubernetes("apps");
 * ... api.client().pods().inNamespace("apps").resource(pod).create();
 * }</pre>
 *
 * <p>Needs {@code io.fabric8:kubernetes-server-mock} on the test class path (an optional
 * dependency of this module).
 *
 * <p>One repair of fabric8's server (8.0.0): it sends a watch's events from a thread of the watch's
 * own and waits there until the server's event loop has written each, while its handler of a
 * closed or failed watch runs on that event loop and waits for those sends to finish. A watch
 * closed by its client with events still to send (a delete of many objects, then the watcher
 * closed) so blocked the event loop for up to 30 s, and every request meanwhile timed out. Here
 * those two handlers run on a thread of their own, so the sends can finish
 * ({@code MockKubernetesTest}).
 *
 * <p>The server records every request it receives ({@link #requests()}: method, path and the
 * client's {@code User-Agent}, so that {@link #client(String)} tells one client's requests from
 * another's), and can hold the next create of a resource ({@link #holdNextCreate(String)}) as a
 * slow admission webhook would: the object appears only when the test releases it, and the client
 * gets no answer meanwhile.
 */
public class MockKubernetes implements BeforeEachCallback, AfterEachCallback {

  private final String namespace;
  private final List<Request> requests = new CopyOnWriteArrayList<>();
  private final List<HeldCreate> holds = new CopyOnWriteArrayList<>();
  private final List<KubernetesClient> extraClients = new CopyOnWriteArrayList<>();
  private final List<Refusal> refusals = new CopyOnWriteArrayList<>();
  private @Nullable KubernetesMockServer server;
  private @Nullable KubernetesClient client;

  /**
   * Creates the extension.
   *
   * @param namespace the client's default namespace
   */
  public MockKubernetes(String namespace) {
    this.namespace = Objects.requireNonNull(namespace, "namespace");
  }

  @Override
  public void beforeEach(ExtensionContext context) throws Exception {
    requests.clear();
    holds.clear();
    refusals.clear();
    WatchClosedOffTheEventLoop d = new WatchClosedOffTheEventLoop();
    dispatcher = d;
    server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), d, false);
    server.start(InetAddress.getLoopbackAddress(), 0);
    client = newClient(null);
  }

  private KubernetesClient newClient(@Nullable String userAgent) {
    ConfigBuilder config =
        new ConfigBuilder(Config.empty())
            .withMasterUrl("http://127.0.0.1:" + Objects.requireNonNull(server, "server").getPort())
            .withNamespace(namespace)
            .withRequestTimeout(10_000)
            .withConnectionTimeout(10_000)
            .withRequestRetryBackoffLimit(0); // the mock server has no transient failures
    if (userAgent != null) {
      config.withUserAgent(userAgent);
    }
    return new KubernetesClientBuilder().withConfig(config.build()).build();
  }

  @Override
  public void afterEach(ExtensionContext context) {
    for (HeldCreate h : holds) {
      h.discard();
    }
    for (KubernetesClient c : extraClients) {
      c.close();
    }
    extraClients.clear();
    if (client != null) {
      client.close();
    }
    if (server != null) {
      try {
        server.destroy();
      } catch (IllegalStateException e) {
        // fabric8's server waits a bounded time for its Vert.x server to close; on a loaded
        // machine that wait can run out after the test has passed. The port is released anyway;
        // say so instead of failing a test whose assertions all held.
        if (!(e.getCause() instanceof java.util.concurrent.TimeoutException)) {
          throw e;
        }
        System.err.println("MockKubernetes: the mock API server was slow to close: " + e);
      }
    }
  }

  /**
   * Returns the client of the running mock server.
   *
   * @return the client, closed after the test
   */
  public KubernetesClient client() {
    return Objects.requireNonNull(client, "the mock API server runs only during a test");
  }

  /**
   * Returns the client's default namespace.
   *
   * @return the namespace
   */
  public String namespace() {
    return namespace;
  }

  /**
   * Returns a new client of the running mock server, like {@link #client()} but sending {@code
   * userAgent} as its {@code User-Agent}, so that its requests can be told apart in {@link
   * #requests()}.
   *
   * @param userAgent the {@code User-Agent} of every request of the client
   * @return the client, closed after the test
   */
  public KubernetesClient client(String userAgent) {
    Objects.requireNonNull(userAgent, "userAgent");
    KubernetesClient c = newClient(userAgent);
    extraClients.add(c);
    return c;
  }

  /**
   * Returns every request the server has received during this test, in the order it received them.
   *
   * @return an unmodifiable snapshot
   */
  public List<Request> requests() {
    return List.copyOf(requests);
  }

  /**
   * Holds the next create (POST) of a resource: the server neither stores the object nor answers
   * until {@link HeldCreate#release()}, as an API server whose admission webhook is slow; the
   * client meanwhile waits (until its request timeout, 10 s, or an interrupt).
   *
   * @param resource the resource's plural name, such as {@code pods} or {@code secrets}
   * @return the hold
   */
  public HeldCreate holdNextCreate(String resource) {
    HeldCreate h = new HeldCreate(Objects.requireNonNull(resource, "resource"));
    holds.add(h);
    return h;
  }

  /**
   * Answers every later request with {@code method} on {@code resource} (in any namespace, named
   * or not, watches included) with HTTP {@code code} and a Kubernetes {@code Status} saying so,
   * as an API server whose RBAC refuses the client ({@code 403}) would. For the rest of the test.
   *
   * @param code the HTTP status, such as 403
   * @param method the HTTP method, such as {@code GET}
   * @param resource the resource's plural name, such as {@code pods}
   */
  public void refuse(int code, String method, String resource) {
    refusals.add(new Refusal(code, Objects.requireNonNull(method, "method"), Objects.requireNonNull(resource, "resource")));
  }

  private record Refusal(int code, String method, String resource) {
    boolean matches(RecordedRequest r) {
      if (!method.equals(r.getMethod())) {
        return false;
      }
      String path = r.getPath();
      int q = path.indexOf('?');
      path = q < 0 ? path : path.substring(0, q);
      return path.matches("/api/v1/(namespaces/[^/]+/)?" + java.util.regex.Pattern.quote(resource) + "(/.*)?");
    }
  }

  /**
   * One request the server received.
   *
   * @param method the HTTP method, such as {@code GET}
   * @param path the path with its query string, such as {@code
   *     /api/v1/namespaces/apps/pods?watch=true}
   * @param userAgent the client's {@code User-Agent}, or null if it sent none
   */
  public record Request(String method, String path, @Nullable String userAgent) {

    /**
     * Returns the path without its query string.
     *
     * @return the path
     */
    public String pathWithoutQuery() {
      int q = path.indexOf('?');
      return q < 0 ? path : path.substring(0, q);
    }

    /**
     * Returns the query string, or an empty string if there is none.
     *
     * @return the query, without the {@code ?}
     */
    public String query() {
      int q = path.indexOf('?');
      return q < 0 ? "" : path.substring(q + 1);
    }
  }

  /** A create held by {@link #holdNextCreate(String)}. Thread-safe. */
  public final class HeldCreate {
    private final String resource;
    private final CountDownLatch held = new CountDownLatch(1);
    private final AtomicReference<@Nullable RecordedRequest> request = new AtomicReference<>();
    private volatile boolean done;

    HeldCreate(String resource) {
      this.resource = resource;
    }

    boolean matches(RecordedRequest r) {
      if (done || request.get() != null || !"POST".equals(r.getMethod())) {
        return false;
      }
      String path = r.getPath();
      int q = path.indexOf('?');
      path = q < 0 ? path : path.substring(0, q);
      return path.endsWith("/" + resource) && request.compareAndSet(null, r);
    }

    /**
     * Waits until a create was held.
     *
     * @param timeout how long to wait
     * @return whether one was held in time
     * @throws InterruptedException if interrupted while waiting
     */
    public boolean awaitHeld(Duration timeout) throws InterruptedException {
      return held.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
    }

    /**
     * Lets the held create through: the server stores the object (watchers see it added) as if
     * the request had just arrived. The client's answer is not sent.
     *
     * @throws IllegalStateException if nothing was held yet, or it was already released
     */
    public void release() {
      RecordedRequest r = request.get();
      if (r == null || done) {
        throw new IllegalStateException("no create of " + resource + " is held");
      }
      done = true;
      Objects.requireNonNull(dispatcher, "the mock API server runs only during a test").handleCreate(r);
    }

    void discard() {
      done = true;
    }
  }

  private volatile @Nullable WatchClosedOffTheEventLoop dispatcher;

  /** Stops the API server (requests fail with a connection error); the client stays open. */
  public void stopServer() {
    Objects.requireNonNull(server, "the mock API server runs only during a test").destroy();
  }

  /**
   * The CRUD dispatcher whose watches handle their end off the server's event loop; it records
   * every request and holds the creates asked for.
   */
  private final class WatchClosedOffTheEventLoop extends KubernetesCrudDispatcher {

    @Override
    public MockResponse dispatch(RecordedRequest request) {
      requests.add(new Request(request.getMethod(), request.getPath(), request.getHeader("User-Agent")));
      for (Refusal r : refusals) {
        if (r.matches(request)) {
          String reason = r.code() == 403 ? "Forbidden" : r.code() == 401 ? "Unauthorized" : "Refused";
          return new MockResponse()
              .setResponseCode(r.code())
              .setHeader("Content-Type", "application/json")
              .setBody("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\""
                  + r.resource() + " is forbidden: refused by the test\",\"reason\":\"" + reason
                  + "\",\"code\":" + r.code() + "}");
        }
      }
      return super.dispatch(request);
    }

    @Override
    public MockResponse handleCreate(RecordedRequest request) {
      for (HeldCreate h : new ArrayList<>(holds)) {
        if (h.matches(request)) {
          h.held.countDown();
          // No answer until long after every client gave up; the object appears on release().
          // (A body, so that the delay applies: an empty answer is sent at once.)
          return new MockResponse().setResponseCode(201).setBody("{}").setBodyDelay(Duration.ofHours(1));
        }
      }
      return super.handleCreate(request);
    }

    @Override
    public MockResponse handleWatch(String path) {
      MockResponse response = super.handleWatch(path);
      WebSocketListener listener = response.getWebSocketListener();
      return listener == null ? response : response.withWebSocketUpgrade(new EndsOffLoop(listener));
    }
  }

  /**
   * Forwards every event (the deprecated {@code ByteString} message arrives through the text one);
   * the two that wait for the watch's sends run on a virtual thread.
   */
  private static final class EndsOffLoop extends WebSocketListener {
    private final WebSocketListener watch;

    EndsOffLoop(WebSocketListener watch) {
      this.watch = watch;
    }

    @Override
    public void onBeforeAccept(WebSocket ws, Response response) {
      watch.onBeforeAccept(ws, response);
    }

    @Override
    public void onOpen(WebSocket ws, Response response) {
      watch.onOpen(ws, response);
    }

    @Override
    public void onMessage(WebSocket ws, String text) {
      watch.onMessage(ws, text);
    }

    @Override
    public void onMessage(WebSocket ws, byte[] bytes) {
      watch.onMessage(ws, bytes);
    }

    @Override
    public void onPing(WebSocket ws, byte[] bytes) {
      watch.onPing(ws, bytes);
    }

    @Override
    public void onClosing(WebSocket ws, int code, String reason) {
      watch.onClosing(ws, code, reason); // only queues the close behind the sends
    }

    @Override
    public void onClosed(WebSocket ws, int code, String reason) {
      Thread.ofVirtual().name("mock-kubernetes-watch-closed").start(
          () -> watch.onClosed(ws, code, reason));
    }

    @Override
    public void onFailure(WebSocket ws, Throwable failure, Response response) {
      Thread.ofVirtual().name("mock-kubernetes-watch-failed").start(
          () -> watch.onFailure(ws, failure, response));
    }
  }
}
