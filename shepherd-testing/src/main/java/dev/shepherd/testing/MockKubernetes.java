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
import io.fabric8.mockwebserver.http.Response;
import io.fabric8.mockwebserver.http.WebSocket;
import io.fabric8.mockwebserver.http.WebSocketListener;
import java.net.InetAddress;
import java.util.HashMap;
import java.util.Objects;
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
 */
public class MockKubernetes implements BeforeEachCallback, AfterEachCallback {

  private final String namespace;
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
    server =
        new KubernetesMockServer(
            new Context(), new MockWebServer(), new HashMap<>(), new WatchClosedOffTheEventLoop(), false);
    server.start(InetAddress.getLoopbackAddress(), 0);
    Config config =
        new ConfigBuilder(Config.empty())
            .withMasterUrl("http://127.0.0.1:" + server.getPort())
            .withNamespace(namespace)
            .withRequestTimeout(10_000)
            .withConnectionTimeout(10_000)
            .withRequestRetryBackoffLimit(0) // the mock server has no transient failures
            .build();
    client = new KubernetesClientBuilder().withConfig(config).build();
  }

  @Override
  public void afterEach(ExtensionContext context) {
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

  /** Stops the API server (requests fail with a connection error); the client stays open. */
  public void stopServer() {
    Objects.requireNonNull(server, "the mock API server runs only during a test").destroy();
  }

  /** The CRUD dispatcher whose watches handle their end off the server's event loop. */
  private static final class WatchClosedOffTheEventLoop extends KubernetesCrudDispatcher {
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
