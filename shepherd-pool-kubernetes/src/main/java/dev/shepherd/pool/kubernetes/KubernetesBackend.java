package dev.shepherd.pool.kubernetes;

import dev.shepherd.pool.spi.ForwardingBackend;
import dev.shepherd.core.internal.Require;
import dev.shepherd.pool.RemoteBackend;
import dev.shepherd.pool.RemoteBackendBuilder;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.PodTemplateSpecBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * A pool backend whose runners are Kubernetes Pods: each runner is a Pod built from a template
 * (by default a copy of the parent Pod's runner container, with the parent's image), whose
 * environment tells it where the parent listens and refers to its secret, and whose controlling
 * owner is the parent Pod, so that Kubernetes deletes the runners when the parent Pod goes.
 *
 * <pre>{@code
 * KubernetesBackend backend = KubernetesBackend.builder()
 *     .client(client)                      // in a Pod: new KubernetesClientBuilder().build()
 *     .functions(ReportFunctions.class)    // the same class in the parent and every runner
 *     .build();                            // parent Pod, namespace and IP: downward API
 * try (ElasticPool pool = ElasticPool.builder()
 *     .name("reports")
 *     .backend(backend)
 *     .min(0)
 *     .max(10)
 *     .maxConcurrency(4)
 *     .build()) {
 *   report = pool.call("render", "2026-Q3", Duration.ofMinutes(2));
 * }
 * }</pre>
 *
 * <p>The parent finds its own Pod through the downward API variables {@code POD_NAME}, {@code
 * POD_NAMESPACE}, {@code POD_UID} and {@code POD_IP} (names configurable), reads it once from the
 * API on the first boot (for its image and spec), and watches its runner Pods with one informer.
 * A runner Pod that fails, whose runner container exits, that is deleted by anyone, or whose image
 * cannot be pulled, ends its runner: a ready runner dies ({@code RunnerDiedException} with a
 * {@link RunnerPodException} cause), a booting one fails its boot. A boot creates the runner's
 * Pod and waits until the runner in it connects back; it fails if the Pod could not be created
 * ({@link KubernetesApiException}), ended or cannot start ({@link RunnerPodException}), or did not
 * connect back within the boot timeout, and the Pod is deleted in every case. Every runner Pod
 * that ends is deleted; {@link #close()} deletes any left.
 *
 * <p>Each runner's secret reaches its Pod through a Kubernetes {@code Secret} named like the Pod
 * (an environment variable from a {@code secretKeyRef}, never a literal value in the Pod spec,
 * which anyone allowed to read Pods could see). The Secret is created just before its Pod, owned
 * by the parent Pod (so that Kubernetes collects it with the parent), and deleted as soon as the
 * runner has connected and proved the secret, or has ended. The parent listens on the Pod's own
 * IP only, never on every interface. Runner Pods get no service account token unless the template
 * sets {@code automountServiceAccountToken}: a runner needs no API access, and the parent's
 * would let it read the runners' Secrets or delete the parent.
 *
 * <p>The service account needs {@code get, list, watch, create, delete, deletecollection} on
 * {@code pods} and {@code create, delete, deletecollection} on {@code secrets} in the namespace
 * (the README shows the Role, and a NetworkPolicy that admits only the pool's runners).
 *
 * <p>Thread-safe. One backend serves one pool.
 */
public final class KubernetesBackend extends ForwardingBackend {

  /*
   * Why a wrapper around RemoteBackend: everything after "start something that runs RunnerMain
   * with these variables" (the server, the secret handshake, calls, cancellation, idle exit, the
   * boot timeout that kills a runner which never connects) is the remote backend's. This class
   * adds the Kubernetes half: PodLauncher creates the Pod, and reports the Pod's end (failed,
   * container exited, deleted, image cannot be pulled) as the end of the runner, which the remote
   * backend turns into a failed boot or a runner death.
   */

  private final KubernetesSettings settings;
  private final PodLauncher launcher;
  private final RemoteBackend remote;
  private final @Nullable ExecutorService ownedExecutor;

  private KubernetesBackend(
      KubernetesSettings settings,
      @Nullable ExecutorService ownedExecutor,
      PodLauncher launcher,
      RemoteBackend remote) {
    super(remote);
    this.settings = settings;
    this.ownedExecutor = ownedExecutor;
    this.launcher = launcher;
    this.remote = remote;
    launcher.startWatching();
  }

  /**
   * Returns a new builder.
   *
   * @return a builder with the defaults described on each method
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Returns the namespace runner Pods are created in.
   *
   * @return the namespace
   */
  public String namespace() {
    return settings.namespace();
  }

  /**
   * Returns the {@code host:port} runner Pods connect back to.
   *
   * @return the advertised address of the parent's server
   */
  public String advertisedAddress() {
    return remote.advertisedAddress();
  }

  /**
   * Returns the address the parent's server listens on.
   *
   * @return the bound address and port
   */
  public InetSocketAddress address() {
    return remote.address();
  }

  /**
   * Returns the value of the {@value RunnerPodFactory#LABEL_BACKEND} label on every runner Pod
   * of this backend, to find them with {@code kubectl get pods -l shepherd.dev/backend=...}.
   *
   * @return the label value, random per backend
   */
  public String backendId() {
    return launcher.backendId();
  }

  /** Waits until runner Pods are listed and watched; a test seam (the first boot waits anyway). */
  void awaitWatching(Duration timeout) throws InterruptedException {
    launcher.awaitWatching(timeout);
  }

  /** Closes the server, stops watching, and deletes any runner Pod of this backend still there. */
  @Override
  public void close() {
    super.close();
    if (ownedExecutor != null) {
      ownedExecutor.shutdown();
    }
  }

  @Override
  public String toString() {
    return "KubernetesBackend[namespace=" + settings.namespace() + ", backend=" + backendId() + ", parent=" + remote.advertisedAddress() + "]";
  }

  /**
   * Builds a {@link KubernetesBackend}. Not thread-safe; {@link #build()} copies everything, so a
   * builder can be reused.
   */
  public static final class Builder extends RemoteBackendBuilder<Builder> {

    /** Default name of the variable holding the parent Pod's name (downward API metadata.name). */
    public static final String DEFAULT_POD_NAME_VARIABLE = "POD_NAME";

    /** Default name of the variable holding the parent Pod's namespace (metadata.namespace). */
    public static final String DEFAULT_POD_NAMESPACE_VARIABLE = "POD_NAMESPACE";

    /** Default name of the variable holding the parent Pod's uid (metadata.uid). */
    public static final String DEFAULT_POD_UID_VARIABLE = "POD_UID";

    /** Default name of the variable holding the parent Pod's IP address (status.podIP). */
    public static final String DEFAULT_POD_IP_VARIABLE = "POD_IP";

    private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");

    private @Nullable KubernetesClient client;
    private @Nullable String namespace;
    private @Nullable PodTemplateSpec template;
    private @Nullable String containerName;
    private @Nullable String image;
    private @Nullable List<String> command;
    private @Nullable List<String> args;
    private @Nullable String parentName;
    private @Nullable String parentUid;
    private boolean withoutOwner;
    private String podNameVariable = DEFAULT_POD_NAME_VARIABLE;
    private String podNamespaceVariable = DEFAULT_POD_NAMESPACE_VARIABLE;
    private String podUidVariable = DEFAULT_POD_UID_VARIABLE;
    private String podIpVariable = DEFAULT_POD_IP_VARIABLE;
    private final Map<String, String> labels = new LinkedHashMap<>();
    private final Map<String, String> annotations = new LinkedHashMap<>();
    private @Nullable Map<String, String> environment;
    private @Nullable Executor executor;

    private Builder() {}

    @Override
    protected Builder self() {
      return this;
    }

    /**
     * Sets the client that creates, watches and deletes runner Pods and their Secrets. Required.
     * The backend never closes it. Its service account needs {@code get, list, watch, create,
     * delete, deletecollection} on {@code pods} and {@code create, delete, deletecollection} on
     * {@code secrets} in the namespace.
     *
     * @param client the client
     * @return this builder
     * @throws NullPointerException if {@code client} is null
     */
    public Builder client(KubernetesClient client) {
      this.client = Require.nonNull(client, "client");
      return this;
    }

    /**
     * Sets the namespace of runner Pods. Defaults to the parent Pod's namespace (the {@code
     * POD_NAMESPACE} variable), else the client's namespace, else {@code default}. With an owner it
     * must be the parent's namespace: Kubernetes owner references do not cross namespaces.
     *
     * @param namespace a DNS-1123 label
     * @return this builder
     * @throws NullPointerException if {@code namespace} is null
     * @throws IllegalArgumentException if it is not a DNS-1123 label
     */
    public Builder namespace(String namespace) {
      this.namespace = dnsLabel(namespace, "namespace");
      return this;
    }

    /**
     * Sets the runner Pod's template: its spec, labels and annotations are copied into every
     * runner Pod (the name, namespace and owner are the backend's). Defaults to a copy of the
     * parent Pod's runner container and Pod-level settings (service account, volumes, security
     * context, node selection) without the parent's labels, init containers, other containers,
     * probes, ports and API token. A runner Pod gets a service account token only if the template
     * sets {@code automountServiceAccountToken: true} (best with a service account of its own);
     * when the template leaves it unset the backend sets it to false.
     *
     * @param template a Pod whose metadata and spec are the template; its status is ignored
     * @return this builder
     * @throws NullPointerException if {@code template} is null
     * @throws IllegalArgumentException if it has no spec or no container
     */
    public Builder podTemplate(Pod template) {
      Require.nonNull(template, "podTemplate");
      return podTemplate(
          new PodTemplateSpecBuilder()
              .withMetadata(template.getMetadata())
              .withSpec(template.getSpec())
              .build());
    }

    /**
     * Sets the runner Pod's template, as found in a Deployment or Job; see {@link
     * #podTemplate(Pod)}.
     *
     * @param template the template
     * @return this builder
     * @throws NullPointerException if {@code template} is null
     * @throws IllegalArgumentException if it has no spec or no container
     */
    public Builder podTemplate(PodTemplateSpec template) {
      Require.nonNull(template, "podTemplate");
      Require.argument(
          template.getSpec() != null
              && template.getSpec().getContainers() != null
              && !template.getSpec().getContainers().isEmpty(),
          "podTemplate must have a spec with at least one container, was " + template);
      this.template = new PodTemplateSpecBuilder(template).build();
      return this;
    }

    /**
     * Sets the name of the container that runs the runner. Defaults to the first container of the
     * template (or of the parent Pod).
     *
     * @param containerName the name
     * @return this builder
     * @throws NullPointerException if {@code containerName} is null
     * @throws IllegalArgumentException if it is not a DNS-1123 label
     */
    public Builder containerName(String containerName) {
      this.containerName = dnsLabel(containerName, "containerName");
      return this;
    }

    /**
     * Sets the runner container's image. Defaults to the template container's image, else the
     * parent Pod's container image as read from the API (the same image as the parent, as FLAME
     * does).
     *
     * @param image the image reference
     * @return this builder
     * @throws NullPointerException if {@code image} is null
     * @throws IllegalArgumentException if it is empty or blank
     */
    public Builder image(String image) {
      this.image = notBlank(image, "image");
      return this;
    }

    /**
     * Sets the runner container's command (its entrypoint). Defaults to the template's: with the
     * parent's own command, the application's {@code main} must hand over to the runner when it
     * sees it is one ({@code RunnerEnvironment.isRunner()}).
     *
     * @param command the command, for example {@code List.of("java", "-cp", "/app/lib/*",
     *     "dev.shepherd.pool.RunnerMain")}
     * @return this builder
     * @throws NullPointerException if {@code command} or an element is null
     * @throws IllegalArgumentException if it is empty
     */
    public Builder command(List<String> command) {
      Require.nonNull(command, "command");
      Require.argument(!command.isEmpty(), "command must not be empty");
      this.command = List.copyOf(command);
      return this;
    }

    /**
     * Sets the runner container's arguments. Defaults to the template's.
     *
     * @param args the arguments, possibly empty
     * @return this builder
     * @throws NullPointerException if {@code args} or an element is null
     */
    public Builder args(List<String> args) {
      this.args = List.copyOf(Require.nonNull(args, "args"));
      return this;
    }

    /**
     * Names the parent Pod explicitly instead of reading the downward API variables.
     *
     * @param name the parent Pod's name
     * @param uid its uid, or null to read it from the API
     * @return this builder
     * @throws NullPointerException if {@code name} is null
     * @throws IllegalArgumentException if {@code name} or {@code uid} is empty
     */
    public Builder parentPod(String name, @Nullable String uid) {
      this.parentName = Require.notEmpty(name, "parentPod name");
      this.parentUid = uid == null ? null : Require.notEmpty(uid, "parentPod uid");
      this.withoutOwner = false;
      return this;
    }

    /**
     * Sets the names of the environment variables through which the downward API tells this JVM
     * its Pod's name, namespace and uid. Defaults to {@code POD_NAME}, {@code POD_NAMESPACE} and
     * {@code POD_UID}; declare them in the parent's container:
     *
     * <pre>{@code
     * env:
     * - name: POD_NAME
     *   valueFrom: {fieldRef: {fieldPath: metadata.name}}
     * - name: POD_NAMESPACE
     *   valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
     * - name: POD_UID
     *   valueFrom: {fieldRef: {fieldPath: metadata.uid}}
     * - name: POD_IP
     *   valueFrom: {fieldRef: {fieldPath: status.podIP}}
     * }</pre>
     *
     * @param podName the variable holding the Pod's name
     * @param podNamespace the variable holding its namespace
     * @param podUid the variable holding its uid
     * @return this builder
     * @throws NullPointerException if an argument is null
     * @throws IllegalArgumentException if an argument is empty
     */
    public Builder downwardApiVariables(String podName, String podNamespace, String podUid) {
      this.podNameVariable = Require.notEmpty(podName, "podName variable");
      this.podNamespaceVariable = Require.notEmpty(podNamespace, "podNamespace variable");
      this.podUidVariable = Require.notEmpty(podUid, "podUid variable");
      return this;
    }

    /**
     * Sets the name of the variable holding the parent Pod's IP address (downward API {@code
     * status.podIP}), the default host runners connect back to. Defaults to {@code POD_IP}.
     *
     * @param variable the variable's name
     * @return this builder
     * @throws NullPointerException if {@code variable} is null
     * @throws IllegalArgumentException if it is empty
     */
    public Builder podIpVariable(String variable) {
      this.podIpVariable = Require.notEmpty(variable, "podIp variable");
      return this;
    }

    /**
     * Sets the host (IP address or DNS name) runner Pods connect back to; the port is the one the
     * parent listens on. Defaults to the {@code POD_IP} variable.
     *
     * @param host the host
     * @return this builder
     * @throws NullPointerException if {@code host} is null
     * @throws IllegalArgumentException if it is blank
     */
    public Builder parentHost(String host) {
      return advertisedHost(notBlank(host, "parentHost"));
    }

    /**
     * Creates runner Pods without an owner, for a parent that does not run in a Pod (a developer's
     * machine). Such runners are not deleted by Kubernetes when the parent goes; they exit by
     * themselves when their connection to the parent is lost. Requires {@link #image(String)} or a
     * template with an image, and {@link #parentHost(String)}.
     *
     * @return this builder
     */
    public Builder withoutOwner() {
      this.withoutOwner = true;
      this.parentName = null;
      this.parentUid = null;
      return this;
    }

    /**
     * Adds a label to every runner Pod. The backend's own labels ({@code shepherd.dev/...} and
     * {@code app.kubernetes.io/managed-by}) cannot be set.
     *
     * @param key a qualified label key
     * @param value a label value
     * @return this builder
     * @throws NullPointerException if an argument is null
     * @throws IllegalArgumentException if the key or value is not valid in Kubernetes, or the key
     *     is reserved
     */
    public Builder label(String key, String value) {
      checkKey(key, "label");
      Require.nonNull(value, "label value");
      Require.argument(
          KubernetesNames.isLabelValue(value),
          "label value for \""
              + key
              + "\" must be at most 63 of [-A-Za-z0-9_.] starting and ending alphanumeric, was \""
              + value
              + "\"");
      labels.put(key, value);
      return this;
    }

    /**
     * Adds an annotation to every runner Pod.
     *
     * @param key a qualified annotation key
     * @param value the value
     * @return this builder
     * @throws NullPointerException if an argument is null
     * @throws IllegalArgumentException if the key is not valid in Kubernetes, or is reserved
     */
    public Builder annotation(String key, String value) {
      checkKey(key, "annotation");
      annotations.put(key, Require.nonNull(value, "annotation value"));
      return this;
    }

    private static String dnsLabel(String value, String setting) {
      Require.nonNull(value, setting);
      Require.argument(
          KubernetesNames.isDnsLabel(value),
          setting
              + " must be a DNS-1123 label (lower case alphanumerics and '-', at most 63), was \""
              + value
              + "\"");
      return value;
    }

    private static String notBlank(String value, String setting) {
      Require.nonNull(value, setting);
      Require.argument(!value.isBlank(), setting + " must not be blank, was \"" + value + "\"");
      return value;
    }

    private static void checkKey(String key, String what) {
      Require.nonNull(key, what + " key");
      Require.argument(
          KubernetesNames.isQualifiedKey(key),
          what + " key must be [prefix/]name (name: at most 63 of [-A-Za-z0-9_.]), was \"" + key + "\"");
      Require.argument(
          !key.startsWith("shepherd.dev/") && !key.equals(RunnerPodFactory.LABEL_MANAGED_BY),
          what + " key \"" + key + "\" is reserved for the backend");
    }

    /**
     * Sets where the downward API variables are read. Defaults to {@link System#getenv()}; a test
     * seam.
     *
     * @param environment the variables
     * @return this builder
     * @throws NullPointerException if {@code environment} is null
     */
    public Builder environment(Map<String, String> environment) {
      this.environment = Map.copyOf(Require.nonNull(environment, "environment"));
      return this;
    }

    /**
     * Sets the executor that deletes ended runner Pods. Defaults to a virtual thread per task.
     *
     * @param executor the executor
     * @return this builder
     * @throws NullPointerException if {@code executor} is null
     */
    public Builder executor(Executor executor) {
      this.executor = Require.nonNull(executor, "executor");
      return this;
    }

    /**
     * Builds the backend: reads the downward API variables, starts the server runners connect
     * back to, and starts listing and watching runner Pods in the background (errors surface on
     * the first boot). The parent Pod is read on the first boot.
     *
     * @return the backend
     * @throws NullPointerException if no client or functions class was set
     * @throws java.io.UncheckedIOException if the parent's server cannot listen
     * @throws IllegalArgumentException if the container name is not in the template, or the
     *     namespace is not the parent's
     * @throws IllegalStateException if the parent Pod or the host runners connect to cannot be
     *     found in the environment, nothing names the image without an owner, or no IP address to
     *     listen on is known (see {@code bindAddress(..)})
     */
    public KubernetesBackend build() {
      settings(); // every check, before anything is started
      ExecutorService owned = executor == null ? Executors.newVirtualThreadPerTaskExecutor() : null;
      try {
        KubernetesSettings s = settings(owned != null ? owned : Objects.requireNonNull(executor));
        InetAddress bind = bindAddress() != null ? bindAddress() : defaultBindAddress(s.parentHost());
        Require.argument(
            !bind.isAnyLocalAddress(),
            "bindAddress " + bind.getHostAddress() + " is every interface; bind the Pod's IP");
        PodLauncher launcher = new PodLauncher(s);
        RemoteBackend remote = buildRemote(launcher, bind, s.parentHost());
        return new KubernetesBackend(s, owned, launcher, remote);
      } catch (RuntimeException e) {
        if (owned != null) {
          owned.shutdown();
        }
        throw e;
      }
    }

    /**
     * The Pod's own address: the parent host if it is an IP literal, else the Pod IP from the
     * downward API; never every interface, so that only the Pod network reaches the listener.
     */
    private InetAddress defaultBindAddress(String host) {
      Map<String, String> env = environment != null ? environment : System.getenv();
      String podIp = blankToNull(env.get(podIpVariable));
      String address = isIpLiteral(host) ? host : podIp;
      Require.state(
          address != null && isIpLiteral(address),
          "cannot choose the address to listen on: the parent host \""
              + host
              + "\" is not an IP address and the environment variable "
              + podIpVariable
              + " (downward API status.podIP) is "
              + (podIp == null ? "not set" : "not an IP address")
              + "; call bindAddress(..) with the Pod's address");
      try {
        return InetAddress.getByName(address); // a literal is parsed, not looked up
      } catch (UnknownHostException e) {
        throw new IllegalArgumentException("not an IP address: \"" + address + "\"", e);
      }
    }

    private static boolean isIpLiteral(String host) {
      return IPV4.matcher(host).matches() || host.indexOf(':') >= 0;
    }

    KubernetesSettings settings() {
      return settings(executor != null ? executor : Runnable::run);
    }

    private KubernetesSettings settings(Executor exec) {
      KubernetesClient c = Require.nonNull(client, "client");
      Map<String, String> env = environment != null ? environment : System.getenv();
      PodTemplateSpec t = template == null ? null : new PodTemplateSpecBuilder(template).build();
      if (t != null && containerName != null) {
        RunnerPodFactory.container(t.getSpec(), containerName, "the Pod template");
      }
      String name = null;
      String uid = null;
      String envNamespace = blankToNull(env.get(podNamespaceVariable));
      if (!withoutOwner) {
        name = parentName != null ? parentName : blankToNull(env.get(podNameVariable));
        uid = parentName != null ? parentUid : blankToNull(env.get(podUidVariable));
        Require.state(
            name != null,
            "cannot find the parent Pod: the environment variable "
                + podNameVariable
                + " is not set. Set it from the downward API (fieldRef metadata.name), call"
                + " parentPod(name, uid), or call withoutOwner() if this JVM does not run in a Pod");
      } else {
        Require.state(
            image != null || (t != null && hasImage(t)),
            "withoutOwner() needs image(..) or a podTemplate(..) with an image: there is no parent"
                + " Pod to take it from");
      }
      String ns = namespace;
      if (ns == null) {
        ns = envNamespace != null ? envNamespace : c.getNamespace() != null ? c.getNamespace() : "default";
      } else if (!withoutOwner && envNamespace != null && !envNamespace.equals(ns)) {
        throw new IllegalArgumentException(
            "namespace \""
                + ns
                + "\" is not the parent Pod's namespace \""
                + envNamespace
                + "\": an owner reference cannot cross namespaces (use withoutOwner() to give up the"
                + " owner)");
      }
      String host = advertisedHost() != null ? advertisedHost() : blankToNull(env.get(podIpVariable));
      Require.state(
          host != null,
          "cannot tell runner Pods where to connect back: the environment variable "
              + podIpVariable
              + " is not set. Set it from the downward API (fieldRef status.podIP) or call"
              + " parentHost(..)");
      host = Require.nonNull(host, "host");
      return new KubernetesSettings(
          c,
          ns,
          t,
          containerName,
          image,
          command,
          args,
          name,
          uid,
          host,
          labels,
          annotations,
          exec);
    }

    private boolean hasImage(PodTemplateSpec t) {
      List<Container> cs = t.getSpec().getContainers();
      String n = containerName != null ? containerName : cs.get(0).getName();
      return RunnerPodFactory.container(t.getSpec(), n, "the Pod template").getImage() != null;
    }

    private static @Nullable String blankToNull(@Nullable String s) {
      return s == null || s.isBlank() ? null : s;
    }
  }
}
