package dev.shepherd.pool.kubernetes;

import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import org.jspecify.annotations.Nullable;

/**
 * The Pod this JVM runs in, as found from the downward API and read from the Kubernetes API: the
 * owner of every runner Pod.
 *
 * @param namespace its namespace
 * @param name its name
 * @param uid its uid
 * @param pod the Pod as read from the API, or null if nothing needed reading
 */
record ParentPod(String namespace, String name, String uid, @Nullable Pod pod) {

  /**
   * Returns the owner reference that makes Kubernetes delete a runner Pod with this Pod: the
   * controlling owner, blocking the owner's foreground deletion until the runner is gone.
   */
  OwnerReference ownerReference() {
    return new OwnerReferenceBuilder()
        .withApiVersion("v1")
        .withKind("Pod")
        .withName(name)
        .withUid(uid)
        .withController(true)
        .withBlockOwnerDeletion(true)
        .build();
  }
}
