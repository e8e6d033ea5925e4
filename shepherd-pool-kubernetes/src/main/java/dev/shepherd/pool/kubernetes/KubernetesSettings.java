package dev.shepherd.pool.kubernetes;

import dev.shepherd.core.internal.Require;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import org.jspecify.annotations.Nullable;

/**
 * The immutable configuration of a Kubernetes backend, as checked by the builder, and the one step
 * that needs the API: reading the parent Pod.
 *
 * @param client the client (not owned: never closed here)
 * @param namespace where runner Pods go; the parent's namespace when there is an owner
 * @param template the runner Pod template, or null to derive it from the parent Pod
 * @param containerName the runner container, or null for the first container
 * @param image the runner image, or null for the template's, else the parent container's
 * @param command the runner container's command, or null to keep the template's
 * @param args the runner container's args, or null to keep the template's
 * @param parentName the parent Pod's name, or null for no owner
 * @param parentUid the parent Pod's uid, or null to read it from the API
 * @param parentHost the host runners connect back to
 * @param labels extra labels of every runner Pod
 * @param annotations extra annotations of every runner Pod
 * @param executor runs Pod deletions
 */
record KubernetesSettings(
    KubernetesClient client,
    String namespace,
    @Nullable PodTemplateSpec template,
    @Nullable String containerName,
    @Nullable String image,
    @Nullable List<String> command,
    @Nullable List<String> args,
    @Nullable String parentName,
    @Nullable String parentUid,
    String parentHost,
    Map<String, String> labels,
    Map<String, String> annotations,
    Executor executor) {

  /** Whether the parent Pod must be read from the API to build runner Pods. */
  boolean needsParentPod() {
    if (parentName == null) {
      return false;
    }
    if (template == null || parentUid == null) {
      return true;
    }
    if (image != null) {
      return false;
    }
    String name = containerName != null ? containerName : template.getSpec().getContainers().get(0).getName();
    return RunnerPodFactory.container(template.getSpec(), name, "the Pod template").getImage() == null;
  }

  /**
   * Finds the parent Pod: reads it from the API when its image, spec or uid is needed.
   *
   * @return the parent, or null if runner Pods have no owner
   * @throws KubernetesApiException if the Pod cannot be read, does not exist, or has another uid
   *     than the downward API said
   */
  @Nullable ParentPod resolveParent() {
    if (parentName == null) {
      return null;
    }
    if (!needsParentPod()) {
      return new ParentPod(namespace, parentName, Require.nonNull(parentUid, "parentUid"), null);
    }
    Pod pod;
    try {
      pod = client.pods().inNamespace(namespace).withName(parentName).get();
    } catch (KubernetesClientException e) {
      throw new KubernetesApiException(
          "cannot read the parent Pod "
              + namespace
              + "/"
              + parentName
              + ": "
              + KubernetesApiException.describe(e, "get on pods"),
          e);
    }
    if (pod == null) {
      throw new KubernetesApiException(
          "the parent Pod " + namespace + "/" + parentName + " does not exist", null);
    }
    String uid = pod.getMetadata().getUid();
    if (parentUid != null && !parentUid.equals(uid)) {
      throw new KubernetesApiException(
          "the parent Pod "
              + namespace
              + "/"
              + parentName
              + " has uid "
              + uid
              + ", not "
              + parentUid
              + " as configured: a Pod of the same name replaced it",
          null);
    }
    return new ParentPod(namespace, parentName, uid, pod);
  }
}
