package dev.shepherd.testing;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
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
            new Context(), new MockWebServer(), new HashMap<>(), new KubernetesCrudDispatcher(), false);
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
}
