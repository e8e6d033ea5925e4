package dev.shepherd.pool.kubernetes;

import dev.shepherd.pool.RunnerEnvironment;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.PodSpecBuilder;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.VolumeProjection;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.jspecify.annotations.Nullable;

/**
 * Builds the Pod of one runner from a template: the runner container gets the image, the extra
 * environment (the parent's address; the runner's secret only as a reference to a Kubernetes
 * {@code Secret}, never as a value), the Pod gets the pool's labels, the parent Pod as
 * controlling owner, and restart policy {@code Never}.
 *
 * <p>Immutable and thread-safe: {@link #create} copies the template every time.
 */
final class RunnerPodFactory {

  /*
   * Why restartPolicy is forced to Never: a runner that exits (idle, or parent gone) must stay
   * gone, and a runner that crashes must be reported as a death, not silently restarted by the
   * kubelet with a secret that has already been used.
   *
   * Why the secret is a secretKeyRef: a literal value in the Pod spec is readable by anyone who
   * may read Pods (the built-in "view" role) and stays in the API server's storage and audit logs;
   * whoever reads it could connect before the runner does. A Secret needs the secrets permission,
   * and the launcher deletes it as soon as the runner has connected or died.
   *
   * Why runners get no API token unless the template asks for one: the parent's service account
   * may create and delete Pods and create Secrets, and a runner runs whatever functions and
   * arguments reach it; with the parent's token a runner (or anyone who took one over) could
   * delete the parent or start Pods of its own. So automountServiceAccountToken is false unless
   * the template sets it, and a template derived from the parent Pod drops the token volume the
   * API server injected into the parent's stored spec (a projected serviceAccountToken volume, or
   * whatever is mounted at the well-known token path): copied into a new Pod, that volume would
   * mount a token whatever automountServiceAccountToken says.
   *
   * Why the template is copied rather than the parent Pod: the parent's labels would put the
   * runner behind the parent's Services and selectors, its init containers may run migrations, its
   * probes do not apply to a runner, and host ports would collide (see fromParent).
   */

  static final String LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";
  static final String MANAGED_BY = "shepherd";
  static final String LABEL_POOL = "shepherd.dev/pool";
  static final String LABEL_BACKEND = "shepherd.dev/backend";
  static final String LABEL_RUNNER = "shepherd.dev/runner";
  /** The uid of the parent Pod (only with an owner). */
  static final String LABEL_PARENT_UID = "shepherd.dev/parent-uid";
  /** A random id of the parent JVM, shared by every backend in it. */
  static final String LABEL_PROCESS = "shepherd.dev/process";
  static final String ANNOTATION_RUNNER_ID = "shepherd.dev/runner-id";
  static final String ANNOTATION_PARENT = "shepherd.dev/parent";
  /** The key of the runner's secret in its Kubernetes Secret. */
  static final String SECRET_KEY = "secret";

  private final PodTemplateSpec template;
  private final String containerName;
  private final String image;
  private final String namespace;
  private final @Nullable OwnerReference owner;
  private final Map<String, String> labels;
  private final Map<String, String> annotations;
  private final @Nullable List<String> command;
  private final @Nullable List<String> args;

  RunnerPodFactory(
      PodTemplateSpec template,
      String containerName,
      String image,
      String namespace,
      @Nullable OwnerReference owner,
      Map<String, String> labels,
      Map<String, String> annotations,
      @Nullable List<String> command,
      @Nullable List<String> args) {
    this.template = template;
    this.containerName = containerName;
    this.image = image;
    this.namespace = namespace;
    this.owner = owner;
    this.labels = Map.copyOf(labels);
    this.annotations = Map.copyOf(annotations);
    this.command = command == null ? null : List.copyOf(command);
    this.args = args == null ? null : List.copyOf(args);
  }

  /** The namespace the runner Pods are created in. */
  String namespace() {
    return namespace;
  }

  /**
   * Builds the Pod of one runner.
   *
   * @param podName the Pod's name (a DNS-1123 label)
   * @param runnerId the pool's id of the runner, kept exactly in an annotation and sanitised in a
   *     label
   * @param env environment variables set on the runner container, replacing any of the same name
   *     in the template; {@code SHEPHERD_POOL_SECRET} becomes a reference to key {@value
   *     #SECRET_KEY} of the Secret named {@code podName}, its value is dropped
   * @return a new Pod, ready to create
   */
  Pod create(String podName, String runnerId, Map<String, String> env) {
    ObjectMeta tm = template.getMetadata() == null ? new ObjectMeta() : template.getMetadata();
    Map<String, String> podLabels = new LinkedHashMap<>();
    if (tm.getLabels() != null) {
      podLabels.putAll(tm.getLabels());
    }
    podLabels.putAll(labels);
    podLabels.put(LABEL_RUNNER, KubernetesNames.toLabelValue(runnerId));
    Map<String, String> podAnnotations = new LinkedHashMap<>();
    if (tm.getAnnotations() != null) {
      podAnnotations.putAll(tm.getAnnotations());
    }
    podAnnotations.putAll(annotations);
    podAnnotations.put(ANNOTATION_RUNNER_ID, runnerId);

    ObjectMetaBuilder meta =
        new ObjectMetaBuilder()
            .withName(podName)
            .withNamespace(namespace)
            .withLabels(podLabels)
            .withAnnotations(podAnnotations);
    if (owner != null) {
      meta.withOwnerReferences(owner);
    }

    PodSpec spec = new PodSpecBuilder(template.getSpec()).build();
    List<Container> containers = new ArrayList<>();
    for (Container c : spec.getContainers()) {
      containers.add(containerName.equals(c.getName()) ? runnerContainer(c, env, podName) : c);
    }
    PodSpecBuilder b = new PodSpecBuilder(spec).withContainers(containers).withRestartPolicy("Never");
    if (spec.getAutomountServiceAccountToken() == null) {
      b.withAutomountServiceAccountToken(false);
    }
    spec = b.build();
    return new PodBuilder().withMetadata(meta.build()).withSpec(spec).build();
  }

  private Container runnerContainer(Container base, Map<String, String> env, String secretName) {
    List<EnvVar> vars = new ArrayList<>();
    if (base.getEnv() != null) {
      for (EnvVar v : base.getEnv()) {
        if (!env.containsKey(v.getName())) {
          vars.add(v);
        }
      }
    }
    env.forEach(
        (k, v) ->
            vars.add(
                RunnerEnvironment.SECRET.equals(k)
                    ? new EnvVarBuilder()
                        .withName(k)
                        .withNewValueFrom()
                        .withNewSecretKeyRef()
                        .withName(secretName)
                        .withKey(SECRET_KEY)
                        .withOptional(false)
                        .endSecretKeyRef()
                        .endValueFrom()
                        .build()
                    : new EnvVarBuilder().withName(k).withValue(v).build()));
    ContainerBuilder b = new ContainerBuilder(base).withImage(image).withEnv(vars);
    if (command != null) {
      b.withCommand(command);
    }
    if (args != null) {
      b.withArgs(args);
    }
    return b.build();
  }

  /**
   * Derives a runner template from the parent Pod: only the runner container, without probes,
   * ports, init or ephemeral containers, node binding, hostname or resolved priority, and without
   * an API token (no automatic one, and not the token volume the API server added to the parent);
   * none of the parent's labels or annotations.
   *
   * @throws IllegalArgumentException if the parent has no container named {@code containerName}
   */
  static PodTemplateSpec fromParent(Pod parent, String containerName) {
    PodSpec ps = parent.getSpec();
    Container c = container(ps, containerName, "parent Pod " + parent.getMetadata().getName());
    Set<String> tokenVolumes = new HashSet<>();
    List<Volume> volumes = new ArrayList<>();
    for (Volume v : ps.getVolumes() == null ? List.<Volume>of() : ps.getVolumes()) {
      if (isTokenVolume(v)) {
        tokenVolumes.add(v.getName());
      } else {
        volumes.add(v);
      }
    }
    List<VolumeMount> mounts = new ArrayList<>();
    for (VolumeMount m : c.getVolumeMounts() == null ? List.<VolumeMount>of() : c.getVolumeMounts()) {
      if (TOKEN_PATH.equals(trimSlash(m.getMountPath()))) {
        tokenVolumes.add(m.getName());
      }
    }
    for (VolumeMount m : c.getVolumeMounts() == null ? List.<VolumeMount>of() : c.getVolumeMounts()) {
      if (!tokenVolumes.contains(m.getName())) {
        mounts.add(m);
      }
    }
    volumes.removeIf(v -> tokenVolumes.contains(v.getName()));
    Container runner =
        new ContainerBuilder(c)
            .withLivenessProbe(null)
            .withReadinessProbe(null)
            .withStartupProbe(null)
            .withPorts(List.of())
            .withVolumeMounts(mounts)
            .build();
    PodSpec spec =
        new PodSpecBuilder(ps)
            .withContainers(runner)
            .withVolumes(volumes)
            .withAutomountServiceAccountToken(false)
            .withInitContainers(List.of())
            .withEphemeralContainers(List.of())
            .withNodeName(null)
            .withHostname(null)
            .withSubdomain(null)
            .withPriority(null)
            .build();
    PodTemplateSpec t = new PodTemplateSpec();
    t.setMetadata(new ObjectMeta());
    t.setSpec(spec);
    return t;
  }

  /** Where Kubernetes mounts a Pod's service account token. */
  static final String TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount";

  private static boolean isTokenVolume(Volume v) {
    if (v.getProjected() == null || v.getProjected().getSources() == null) {
      return false;
    }
    for (VolumeProjection p : v.getProjected().getSources()) {
      if (p.getServiceAccountToken() != null) {
        return true;
      }
    }
    return false;
  }

  private static @Nullable String trimSlash(@Nullable String path) {
    return path != null && path.length() > 1 && path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
  }

  /**
   * Finds a container by name.
   *
   * @throws IllegalArgumentException naming the container and listing those there are
   */
  static Container container(@Nullable PodSpec spec, String name, String where) {
    List<Container> cs = spec == null || spec.getContainers() == null ? List.of() : spec.getContainers();
    for (Container c : cs) {
      if (name.equals(c.getName())) {
        return c;
      }
    }
    throw new IllegalArgumentException(
        "container \""
            + name
            + "\" not found in "
            + where
            + "; its containers are "
            + cs.stream().map(c -> "\"" + c.getName() + "\"").collect(Collectors.toList()));
  }
}
