package dev.shepherd.pool.kubernetes;

import com.google.errorprone.annotations.concurrent.GuardedBy;
import dev.shepherd.core.internal.Require;
import dev.shepherd.pool.RunnerEnvironment;
import dev.shepherd.pool.spi.LaunchedRunner;
import dev.shepherd.pool.spi.RunnerLauncher;
import dev.shepherd.pool.spi.RunnerSpec;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * Launches runners as Pods: the part of the Kubernetes backend that the shared remote backend
 * plugs in. Creating the Pod is the launch; the runner in it connects back by itself.
 *
 * <p>Thread-safe: runners are launched concurrently.
 */
final class PodLauncher implements RunnerLauncher {

  /*
   * Lifecycle of the launcher: NEW -> WATCHING (startWatching(), from the backend's build: the
   * informer lists in the background) -> RESOLVED (first launch: parent Pod read, runner template
   * fixed, informer listed) -> CLOSED. Resolution happens under the lock, bounded by that runner's
   * boot timeout; if it fails, the launch fails and the next launch (the pool retries a failed
   * boot after 1 s) tries again, with a new informer if the old one's first list failed, so a slow
   * or briefly unavailable API server at start-up is not fatal.
   *
   * Lifecycle of one launched Pod: SUBSCRIBED (before the create, so no event is missed) ->
   * CREATED -> (Pending -> Running)* -> ENDED. ENDED is reached once, by whichever comes first:
   * the Pod cannot start, its runner container ended, it is being deleted or is gone, or kill().
   * On ENDED the exited() future completes (exceptionally, with the reason) and the Pod is deleted
   * on the executor: never on the informer's event thread, which must not block.
   * SUBSCRIBED --create failed, or its answer lost (timeout, interrupt)--> ABANDONED: unsubscribed,
   * Pod and Secret deleted by name on the executor (never from the launching thread, which the
   * boot timer may have interrupted). A Pod the API server stores after that delete has no
   * subscriber when the informer adds it, and is deleted as unowned.
   */

  private static final System.Logger LOG = System.getLogger(PodLauncher.class.getName());
  private static final SecureRandom RANDOM = new SecureRandom();
  private static final char[] ALPHABET = "bcdfghjklmnpqrstvwxz2456789".toCharArray();
  private static final int SUFFIX = 6;
  /** This JVM's id ({@value RunnerPodFactory#LABEL_PROCESS}): a restarted parent has another. */
  static final String PROCESS_ID = randomSuffix(10);

  private final KubernetesSettings settings;
  private final KubernetesClient client;
  private final String backendId;
  private final String processId;
  private final ReentrantLock lock = new ReentrantLock();
  @GuardedBy("lock") private @Nullable Resolved resolved;
  // replaced if its first list failed
  @GuardedBy("lock") private @Nullable RunnerPodWatcher watcher;
  @GuardedBy("lock") private boolean closed;

  PodLauncher(KubernetesSettings settings) {
    this(settings, PROCESS_ID);
  }

  /** A launcher that labels its Pods as those of the JVM {@code processId} (a test seam). */
  PodLauncher(KubernetesSettings settings, String processId) {
    this.settings = settings;
    this.client = settings.client();
    this.backendId = randomSuffix(10);
    this.processId = processId;
  }

  /** The id that labels every Pod of this launcher ({@value RunnerPodFactory#LABEL_BACKEND}). */
  String backendId() {
    return backendId;
  }

  @Override
  public LaunchedRunner launch(RunnerSpec spec, Map<String, String> environment) throws Exception {
    Resolved r = resolve(spec);
    String podName = podName(spec.runnerId());
    String secret = environment.get(RunnerEnvironment.SECRET);
    LaunchedPod launched = new LaunchedPod(r, podName, spec.runnerId(), secret != null);
    AutoCloseable subscription = r.watcher.subscribe(podName, r.containerName, launched::onState);
    launched.subscription = subscription;
    Pod pod = r.factory.create(podName, spec.runnerId(), environment);
    String ns = r.factory.namespace();
    try {
      if (secret != null) {
        // First the Secret (owned by the parent Pod, so that Kubernetes collects it with the
        // parent whatever happens to this JVM), then the Pod that refers to it. The Secret is
        // never handed to the runner Pod: that would need get and patch on every Secret of the
        // namespace; it is deleted by name when the runner connected or ended instead.
        client.secrets().inNamespace(ns).resource(secretFor(r, podName, spec, secret)).create();
      }
      client.pods().inNamespace(ns).resource(pod).create();
    } catch (KubernetesClientException e) {
      subscription.close();
      // The request may have reached the server: delete by name, which is harmless if it did not.
      // On the executor: this thread may have been interrupted (the boot timed out), and a delete
      // sent from an interrupted thread is not waited for. If the Pod is stored only after the
      // delete (a slow admission webhook), the watcher finds it unowned and deletes it then.
      launched.abandon();
      throw new KubernetesApiException(
          "cannot create Pod "
              + ns
              + "/"
              + podName
              + " for runner "
              + spec.runnerId()
              + " of pool "
              + spec.poolName()
              + ": HTTP "
              + e.getCode()
              + " "
              + e.getMessage(),
          e);
    }
    LOG.log(Level.DEBUG, () -> "created runner Pod " + ns + "/" + podName);
    return launched;
  }

  /** The Secret that carries a runner's secret to its container, named like its Pod. */
  private static Secret secretFor(Resolved r, String podName, RunnerSpec spec, String secret) {
    SecretBuilder b =
        new SecretBuilder()
            .withNewMetadata()
            .withName(podName)
            .withNamespace(r.factory.namespace())
            .addToLabels(r.labels)
            .addToLabels(RunnerPodFactory.LABEL_RUNNER, KubernetesNames.toLabelValue(spec.runnerId()))
            .endMetadata()
            .withType("Opaque")
            .withImmutable(true)
            .addToData(
                RunnerPodFactory.SECRET_KEY,
                Base64.getEncoder().encodeToString(secret.getBytes(StandardCharsets.US_ASCII)));
    if (r.parentOwner != null) {
      OwnerReference parent =
          new OwnerReferenceBuilder(r.parentOwner).withController(false).withBlockOwnerDeletion(false).build();
      b.editMetadata().withOwnerReferences(parent).endMetadata();
    }
    return b.build();
  }

  /**
   * Starts listing and watching this launcher's Pods in the background, so that the first boot
   * need not wait for it. Errors surface on the first boot.
   */
  void startWatching() {
    lock.lock();
    try {
      if (!closed) {
        watcher();
      }
    } catch (RuntimeException e) {
      LOG.log(Level.DEBUG, "watching runner Pods failed to start; the first boot retries", e);
    } finally {
      lock.unlock();
    }
  }

  /** Waits until runner Pods are listed and watched (a test seam: boots wait for it anyway). */
  void awaitWatching(Duration timeout) throws InterruptedException {
    RunnerPodWatcher w;
    lock.lockInterruptibly();
    try {
      w = watcher();
    } finally {
      lock.unlock();
    }
    w.awaitStarted(timeout);
  }

  /** The watcher, started; a new one if the last one's first list failed. Needs the lock. */
  @GuardedBy("lock")
  private RunnerPodWatcher watcher() {
    RunnerPodWatcher w = watcher;
    if (w == null || w.hasFailed()) {
      if (w != null) {
        w.close();
      }
      w = new RunnerPodWatcher(
          client, settings.namespace(), Map.of(RunnerPodFactory.LABEL_BACKEND, backendId), this::deleteUnowned);
      watcher = w;
    }
    w.start();
    return w;
  }

  private Resolved resolve(RunnerSpec spec) throws InterruptedException {
    lock.lockInterruptibly();
    try {
      return resolveLocked(spec);
    } finally {
      lock.unlock();
    }
  }

  @GuardedBy("lock")
  private Resolved resolveLocked(RunnerSpec spec) throws InterruptedException {
    if (closed) {
      throw new IllegalStateException("the Kubernetes launcher is closed");
    }
    if (resolved != null) {
      return resolved;
    }
    Duration timeout = spec.bootTimeout();
    ParentPod parent = settings.resolveParent();
    PodTemplateSpec template = settings.template();
    Pod parentPod = parent == null ? null : parent.pod();
    String container = settings.containerName();
    if (template == null) {
      // The builder allows no template only with an owner, and then the parent Pod is read.
      Pod p = Objects.requireNonNull(parentPod, "parent Pod");
      if (container == null) {
        container = p.getSpec().getContainers().get(0).getName();
      }
      template = RunnerPodFactory.fromParent(p, container);
    } else if (container == null) {
      container = template.getSpec().getContainers().get(0).getName();
    }
    String image = settings.image();
    if (image == null) {
      image = RunnerPodFactory.container(template.getSpec(), container, "the Pod template").getImage();
    }
    if (image == null && parentPod != null) {
      image = RunnerPodFactory.container(parentPod.getSpec(), container, "the parent Pod " + Require.nonNull(parent, "parent").name()).getImage();
    }
    if (image == null) {
      throw new IllegalStateException("no image for container \"" + container + "\": set image(..)");
    }
    Map<String, String> labels = new LinkedHashMap<>(settings.labels());
    labels.put(RunnerPodFactory.LABEL_MANAGED_BY, RunnerPodFactory.MANAGED_BY);
    labels.put(RunnerPodFactory.LABEL_POOL, KubernetesNames.toLabelValue(spec.poolName()));
    labels.put(RunnerPodFactory.LABEL_BACKEND, backendId);
    labels.put(RunnerPodFactory.LABEL_PROCESS, processId);
    if (parent != null) {
      labels.put(RunnerPodFactory.LABEL_PARENT_UID, parent.uid());
    }
    Map<String, String> annotations = new LinkedHashMap<>(settings.annotations());
    if (parent != null) {
      annotations.put(RunnerPodFactory.ANNOTATION_PARENT, parent.namespace() + "/" + parent.name());
    }
    RunnerPodFactory factory =
        new RunnerPodFactory(
            template,
            container,
            image,
            settings.namespace(),
            parent == null ? null : parent.ownerReference(),
            labels,
            annotations,
            settings.command(),
            settings.args());
    RunnerPodWatcher w = watcher();
    w.awaitStarted(timeout);
    Map<String, String> own = new LinkedHashMap<>(labels);
    own.keySet().removeAll(settings.labels().keySet());
    resolved = new Resolved(factory, w, container, parent == null ? null : parent.ownerReference(), Map.copyOf(own));
    if (parent != null) {
      String pool = Require.nonNull(labels.get(RunnerPodFactory.LABEL_POOL), "pool label");
      runOnExecutor(() -> deleteEarlierRuns(parent.uid(), pool));
    }
    return resolved;
  }

  @Override
  public void close() {
    RunnerPodWatcher w;
    lock.lock();
    try {
      closed = true;
      w = watcher;
    } finally {
      lock.unlock();
    }
    if (w == null) {
      return;
    }
    // Bounded: against an unreachable API server the client's own retries (ten by default, with
    // backoff) would hold close() for minutes. Past the bound the deletions go on in the
    // background and the Pods go with their owner anyway.
    Duration bound = closeBound();
    CompletableFuture<Void> deletions = new CompletableFuture<>();
    runOnExecutor(
        () -> {
          try {
            deleteRemaining();
          } finally {
            deletions.complete(null);
          }
        });
    try {
      deletions.get(bound.toNanos(), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      LOG.log(
          Level.WARNING,
          "the API server has not answered the deletion of the remaining runner Pods labelled "
              + RunnerPodFactory.LABEL_BACKEND
              + "="
              + backendId
              + " within "
              + bound
              + " (twice the client's request timeout); closing without waiting, they go with their owner");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException e) {
      throw new AssertionError("completed only normally", e);
    }
    w.close();
  }

  /** How long close() waits for its deletions: twice the client's request timeout, else 20 s. */
  private Duration closeBound() {
    int ms = client.getConfiguration() == null ? 0 : client.getConfiguration().getRequestTimeout();
    return Duration.ofMillis(ms > 0 ? 2L * ms : 20_000L);
  }

  /**
   * Pods whose create answer was lost, or whose delete failed: one call by label, retried once.
   * Deleted while the watch still runs, so their runners end as "deleted".
   */
  private void deleteRemaining() {
    for (int attempt = 1; attempt <= 2; attempt++) {
      try {
        client
            .pods()
            .inNamespace(settings.namespace())
            .withLabel(RunnerPodFactory.LABEL_BACKEND, backendId)
            .withGracePeriod(0)
            .delete();
        client
            .secrets()
            .inNamespace(settings.namespace())
            .withLabel(RunnerPodFactory.LABEL_BACKEND, backendId)
            .delete();
        return;
      } catch (KubernetesClientException e) {
        LOG.log(
            attempt == 1 ? Level.DEBUG : Level.WARNING,
            "cannot delete the remaining runner Pods labelled "
                + RunnerPodFactory.LABEL_BACKEND
                + "="
                + backendId
                + " (attempt "
                + attempt
                + " of 2); they go with their owner",
            e);
      }
    }
  }

  /**
   * Deletes the runner Pods and Secrets of this pool that an earlier JVM of the same parent Pod
   * left behind: a parent container that restarted (killed for memory, a failed liveness probe)
   * keeps its Pod, so the owner reference never deletes them, and the old JVM's close() never ran.
   * Runs once, on the executor, after the first boot found the parent.
   */
  private void deleteEarlierRuns(String parentUid, String pool) {
    String ns = settings.namespace();
    String selector = RunnerPodFactory.LABEL_PARENT_UID + "=" + parentUid + ", " + RunnerPodFactory.LABEL_POOL
        + "=" + pool + ", " + RunnerPodFactory.LABEL_PROCESS + "!=" + processId;
    try {
      int pods =
          client.pods().inNamespace(ns)
              .withLabel(RunnerPodFactory.LABEL_MANAGED_BY, RunnerPodFactory.MANAGED_BY)
              .withLabel(RunnerPodFactory.LABEL_PARENT_UID, parentUid)
              .withLabel(RunnerPodFactory.LABEL_POOL, pool)
              .withoutLabel(RunnerPodFactory.LABEL_PROCESS, processId)
              .withGracePeriod(0)
              .delete()
              .size();
      int secrets =
          client.secrets().inNamespace(ns)
              .withLabel(RunnerPodFactory.LABEL_MANAGED_BY, RunnerPodFactory.MANAGED_BY)
              .withLabel(RunnerPodFactory.LABEL_PARENT_UID, parentUid)
              .withLabel(RunnerPodFactory.LABEL_POOL, pool)
              .withoutLabel(RunnerPodFactory.LABEL_PROCESS, processId)
              .delete()
              .size();
      if (pods + secrets > 0) {
        LOG.log(Level.INFO, "deleted " + pods + " runner Pods and " + secrets + " Secrets in " + ns
            + " left by an earlier run of this parent (" + selector + ")");
      }
    } catch (KubernetesClientException e) {
      LOG.log(Level.WARNING, "cannot delete the runner Pods left by an earlier run of this parent ("
          + selector + "); they stay until the parent Pod goes", e);
    }
  }

  /**
   * Deletes a runner Pod (and its Secret) that belongs to no runner: one whose create the API
   * server completed after its launch had given up. Called on the informer's thread; deletes on
   * the executor.
   */
  private void deleteUnowned(Pod pod) {
    String name = pod.getMetadata().getName();
    String ns = settings.namespace();
    LOG.log(Level.INFO, () -> "deleting runner Pod " + ns + "/" + name + ": no runner owns it (a create that outlived its"
        + " boot, or the Pod of a runner that ended before the Pod was seen)");
    runOnExecutor(
        () -> {
          try {
            client.pods().inNamespace(ns).withName(name).withGracePeriod(0).delete();
            client.secrets().inNamespace(ns).withName(name).delete();
          } catch (KubernetesClientException e) {
            LOG.log(Level.WARNING, "cannot delete the unowned runner Pod " + ns + "/" + name + "; close() deletes it", e);
          }
        });
  }

  /** Runs a deletion on the executor, or here if the executor refuses it (it was shut down). */
  private void runOnExecutor(Runnable task) {
    try {
      settings.executor().execute(task);
    } catch (RejectedExecutionException e) {
      boolean interrupted = Thread.interrupted();
      try {
        task.run();
      } finally {
        if (interrupted) {
          Thread.currentThread().interrupt();
        }
      }
    }
  }

  private static String podName(String runnerId) {
    String base = KubernetesNames.toDnsLabel(runnerId, KubernetesNames.MAX_POD_NAME - SUFFIX - 1);
    return base + "-" + randomSuffix(SUFFIX);
  }

  private static String randomSuffix(int length) {
    char[] out = new char[length];
    for (int i = 0; i < length; i++) {
      out[i] = ALPHABET[RANDOM.nextInt(ALPHABET.length)];
    }
    return new String(out);
  }

  /**
   * @param labels the backend's own labels of every runner Pod and Secret (managed-by, pool,
   *     backend, process, parent uid), without the user's
   */
  private record Resolved(
      RunnerPodFactory factory,
      RunnerPodWatcher watcher,
      String containerName,
      @Nullable OwnerReference parentOwner,
      Map<String, String> labels) {}

  /** One runner Pod. */
  private final class LaunchedPod implements LaunchedRunner {

    private final Resolved resolved;
    private final String podName;
    private final String runnerId;
    private final CompletableFuture<Void> exited = new CompletableFuture<>();
    private final AtomicBoolean ended = new AtomicBoolean();
    private final AtomicBoolean deleted = new AtomicBoolean();
    private final AtomicBoolean secretDeleted;
    private volatile @Nullable AutoCloseable subscription;
    private volatile String lastState = "not created yet";
    private volatile boolean hasConnected;

    LaunchedPod(Resolved resolved, String podName, String runnerId, boolean hasSecret) {
      this.resolved = resolved;
      this.podName = podName;
      this.runnerId = runnerId;
      this.secretDeleted = new AtomicBoolean(!hasSecret);
    }

    /**
     * The create failed or its answer was lost: ends this runner and deletes its Pod and Secret by
     * name on the executor.
     */
    void abandon() {
      if (ended.compareAndSet(false, true)) {
        runOnExecutor(
            () -> {
              deleteQuietly();
              deleteSecretQuietly();
            });
      }
    }

    /**
     * The runner proved its secret: nothing needs the Secret any more. Deleted on the executor:
     * this is the boot's thread, and a slow API server must not hold the boot until its timer
     * fires and kills a runner that did connect (or interrupts the delete).
     */
    @Override
    public void connected() {
      hasConnected = true;
      runOnExecutor(this::deleteSecretQuietly);
    }

    /** What the API last said of the Pod: for a boot that timed out, why it is not running. */
    @Override
    public String describe() {
      return "runner Pod " + where() + ": " + lastState;
    }

    void deleteSecretQuietly() {
      if (!secretDeleted.compareAndSet(false, true)) {
        return;
      }
      try {
        client.secrets().inNamespace(resolved.factory.namespace()).withName(podName).delete();
      } catch (KubernetesClientException e) {
        LOG.log(Level.WARNING, "cannot delete the Secret of runner Pod " + where() + "; it goes with the Pod", e);
      }
    }

    @Override
    public CompletableFuture<Void> exited() {
      return exited;
    }

    @Override
    public void kill() {
      if (!hasConnected && !ended.get()) {
        // A boot that gave up (its timer, or the pool closing): the pool's own message cannot say
        // why the Pod never connected, so say it here.
        LOG.log(Level.INFO, () -> "deleting runner Pod " + where() + ": its runner did not connect back (last seen: " + lastState + ")");
      }
      end("runner Pod " + where() + " was deleted by the pool", true);
    }

    void onState(PodState state) {
      switch (state) {
        case PodState.Pending p -> lastState = p.detail();
        case PodState.Running r -> lastState = "Pod Running";
        case PodState.CannotStart c -> end("runner Pod " + where() + ": " + c.reason(), true);
        case PodState.Ended e -> end("runner Pod " + where() + " ended: " + e.reason(), true);
        // Someone else is deleting it, with their grace period: let it run out.
        case PodState.Terminating t -> end("runner Pod " + where() + " is being deleted", false);
        case PodState.Gone g -> end("runner Pod " + where() + " was deleted", false);
      }
    }

    /**
     * Ends the runner once: stops listening, then, on the executor (this may be the informer's
     * thread, which must not block or run the pool's death handling), completes exited() and
     * deletes the Pod if asked.
     */
    private void end(String reason, boolean delete) {
      if (!ended.compareAndSet(false, true)) {
        return;
      }
      AutoCloseable s = subscription;
      if (s != null) {
        try {
          s.close();
        } catch (Exception e) {
          // unsubscribing only removes a map entry
        }
      }
      RunnerPodException cause =
          new RunnerPodException(
              runnerId,
              resolved.factory.namespace(),
              podName,
              reason + " (last seen: " + lastState + ")");
      runOnExecutor(
          () -> {
            exited.completeExceptionally(cause);
            deleteSecretQuietly();
            if (delete) {
              deleteQuietly();
            }
          });
    }

    void deleteQuietly() {
      if (!deleted.compareAndSet(false, true)) {
        return;
      }
      try {
        client.pods().inNamespace(resolved.factory.namespace()).withName(podName).withGracePeriod(0).delete();
      } catch (KubernetesClientException e) {
        LOG.log(Level.WARNING, "cannot delete runner Pod " + where() + "; it goes with its owner", e);
      }
    }

    private String where() {
      return resolved.factory.namespace() + "/" + podName;
    }
  }
}
