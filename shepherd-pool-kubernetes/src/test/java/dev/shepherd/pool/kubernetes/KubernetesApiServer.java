package dev.shepherd.pool.kubernetes;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
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
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A JUnit 5 extension that runs fabric8's Kubernetes mock API server in CRUD mode (it stores what
 * is created and serves lists and watches of it) on 127.0.0.1 only, fresh for every test, with a
 * client pointed at it. Written here because shepherd-testing has no Kubernetes fixture.
 */
final class KubernetesApiServer implements BeforeEachCallback, AfterEachCallback {

  static final String NAMESPACE = "apps";
  static final String PARENT_NAME = "web-7d9f8-abcde";
  static final String PARENT_IMAGE = "registry.example.com/web:1.4.2";

  private KubernetesMockServer server;
  private KubernetesClient client;

  @Override
  public void beforeEach(ExtensionContext context) throws Exception {
    server =
        new KubernetesMockServer(
            new Context(), new MockWebServer(), new HashMap<>(), new KubernetesCrudDispatcher(), false);
    server.start(InetAddress.getByName("127.0.0.1"), 0);
    Config config =
        new ConfigBuilder(Config.empty())
            .withMasterUrl("http://127.0.0.1:" + server.getPort())
            .withNamespace(NAMESPACE)
            .withRequestTimeout(10_000)
            .withConnectionTimeout(10_000)
            .withRequestRetryBackoffLimit(0) // the mock server has no transient failures
            .build();
    client = new KubernetesClientBuilder().withConfig(config).build();
  }

  @Override
  public void afterEach(ExtensionContext context) {
    client.close();
    server.destroy();
  }

  KubernetesClient client() {
    return client;
  }

  /** Stops the API server (requests fail with a connection error); the client stays open. */
  void stopServer() {
    server.destroy();
  }

  /** Creates the parent Pod (the one this JVM pretends to run in) and returns it as stored. */
  Pod createParent() {
    Pod parent =
        new PodBuilder()
            .withNewMetadata()
            .withName(PARENT_NAME)
            .withNamespace(NAMESPACE)
            .addToLabels("app", "web")
            .addToLabels("pod-template-hash", "7d9f8")
            .endMetadata()
            .withNewSpec()
            .withServiceAccountName("web")
            .withRestartPolicy("Always")
            .withNodeName("node-1")
            .addNewInitContainer()
            .withName("migrate")
            .withImage(PARENT_IMAGE)
            .endInitContainer()
            .addNewContainer()
            .withName("web")
            .withImage(PARENT_IMAGE)
            .withCommand("java", "-jar", "/app/web.jar")
            .addNewEnv()
            .withName("POD_NAME")
            .withNewValueFrom()
            .withNewFieldRef()
            .withFieldPath("metadata.name")
            .endFieldRef()
            .endValueFrom()
            .endEnv()
            .addNewPort()
            .withContainerPort(8080)
            .withHostPort(8080)
            .endPort()
            .withNewReadinessProbe()
            .withNewHttpGet()
            .withPath("/ready")
            .withNewPort(8080)
            .endHttpGet()
            .endReadinessProbe()
            .withNewResources()
            .addToRequests("cpu", new io.fabric8.kubernetes.api.model.Quantity("500m"))
            .endResources()
            .endContainer()
            .addNewContainer()
            .withName("envoy")
            .withImage("envoyproxy/envoy:v1.30")
            .endContainer()
            .endSpec()
            .build();
    return client.pods().inNamespace(NAMESPACE).resource(parent).create();
  }
}
