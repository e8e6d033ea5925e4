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
  /** The token volume the API server's ServiceAccount admission adds to every stored Pod. */
  static final String TOKEN_VOLUME = "kube-api-access-x7k2p";

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
            .addNewVolume()
            .withName("config")
            .withNewEmptyDir()
            .endEmptyDir()
            .endVolume()
            .addNewVolume()
            .withName(TOKEN_VOLUME)
            .withNewProjected()
            .addNewSource()
            .withNewServiceAccountToken()
            .withPath("token")
            .withExpirationSeconds(3607L)
            .endServiceAccountToken()
            .endSource()
            .addNewSource()
            .withNewConfigMap()
            .withName("kube-root-ca.crt")
            .endConfigMap()
            .endSource()
            .endProjected()
            .endVolume()
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
            .addNewVolumeMount()
            .withName("config")
            .withMountPath("/config")
            .endVolumeMount()
            .addNewVolumeMount()
            .withName(TOKEN_VOLUME)
            .withMountPath("/var/run/secrets/kubernetes.io/serviceaccount")
            .withReadOnly(true)
            .endVolumeMount()
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
