package dev.shepherd.pool.kubernetes;

import dev.shepherd.testing.MockKubernetes;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;

/**
 * The mock API server of these tests ({@link MockKubernetes}, in namespace {@value #NAMESPACE}),
 * plus the parent Pod this JVM pretends to run in.
 */
final class KubernetesApiServer extends MockKubernetes {

  static final String NAMESPACE = "apps";
  static final String PARENT_NAME = "web-7d9f8-abcde";
  static final String PARENT_IMAGE = "registry.example.com/web:1.4.2";

  KubernetesApiServer() {
    super(NAMESPACE);
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
    return client().pods().inNamespace(NAMESPACE).resource(parent).create();
  }
}
