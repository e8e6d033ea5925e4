package dev.shepherd.pool.kubernetes;

import com.google.errorprone.annotations.concurrent.GuardedBy;
import dev.shepherd.core.internal.Durations;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * Watches the runner Pods of one backend (an informer on the backend's label) and tells each
 * subscriber how its Pod changes.
 *
 * <p>Thread-safe. Subscribers are called on the informer's single event thread, one event at a
 * time, in the order the API reported them; they must not block.
 */
final class RunnerPodWatcher implements AutoCloseable {

  /*
   * States: NEW -> STARTING (start(): informer created, first list in flight) -> STARTED (listed
   * and watching) -> CLOSED; STARTING -> FAILED if the first list fails (the owner then replaces
   * the watcher). start() returns at once so a backend can begin listing when it is built;
   * awaitStarted() is what a boot waits on. A subscriber registers before its Pod is created, so
   * the Pod's first event (an add from the watch, or from a relist after a reconnect) cannot be
   * missed. An informer replays a delete it missed while disconnected as onDelete(pod, true), so
   * Gone is always reported. Subscribers are keyed by Pod name: the backend label selects the
   * Pods, names identify them.
   *
   * A Pod added to the cache that no one subscribes to (and that is not being deleted) belongs to
   * no runner: every launch subscribes before it creates, and unsubscribes only when its runner
   * has ended (and its Pod is deleted) or its create failed. Such a Pod is a create that outlived
   * its launch (an API server that stored the Pod after the client gave up), and is handed to the
   * unowned callback, which deletes it.
   */

  private static final System.Logger LOG = System.getLogger(RunnerPodWatcher.class.getName());

  private final KubernetesClient client;
  private final String namespace;
  private final Map<String, String> selector;
  private final Consumer<Pod> unowned;
  private final Map<String, Subscriber> subscribers = new ConcurrentHashMap<>();
  @GuardedBy("this") private @Nullable SharedIndexInformer<Pod> informer;
  @GuardedBy("this") private @Nullable CompletableFuture<Void> started;
  @GuardedBy("this") private boolean closed;

  /**
   * Creates a watcher; nothing happens until {@link #start()}.
   *
   * @param client the client
   * @param namespace the runner Pods' namespace
   * @param selector the labels that select the runner Pods
   * @param unowned called on the informer's thread (it must not block) with each Pod added that
   *     no one subscribes to and that is not being deleted
   */
  RunnerPodWatcher(
      KubernetesClient client, String namespace, Map<String, String> selector, Consumer<Pod> unowned) {
    this.client = client;
    this.namespace = namespace;
    this.selector = Map.copyOf(selector);
    this.unowned = unowned;
  }

  /**
   * Starts the informer without waiting for its first list; does nothing if already started.
   *
   * @throws IllegalStateException if closed
   */
  synchronized void start() {
    if (closed) {
      throw new IllegalStateException("the runner Pod watcher is closed");
    }
    if (started != null) {
      return;
    }
    SharedIndexInformer<Pod> inf =
        client.pods().inNamespace(namespace).withLabels(selector).runnableInformer(0);
    inf.addEventHandler(new Handler());
    informer = inf;
    started = inf.start().toCompletableFuture();
  }

  /**
   * Starts the informer if needed and waits until it has listed the current Pods.
   *
   * @param timeout how long to wait
   * @throws InterruptedException if interrupted while waiting
   * @throws IllegalStateException if closed
   * @throws KubernetesApiException if the list failed (the watcher is then useless: replace it)
   *     or did not finish in time (it may still: wait again)
   */
  void awaitStarted(Duration timeout) throws InterruptedException {
    CompletableFuture<Void> f;
    synchronized (this) {
      start();
      f = Objects.requireNonNull(started);
    }
    try {
      f.get(Durations.toNanosSaturated(timeout), TimeUnit.NANOSECONDS);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      throw new KubernetesApiException(
          "cannot list and watch runner Pods in namespace "
              + namespace
              + " with labels "
              + selector
              + ": "
              + KubernetesApiException.describe(cause, "list and watch on pods"),
          cause);
    } catch (TimeoutException e) {
      throw new KubernetesApiException(
          "listing runner Pods in namespace " + namespace + " took longer than " + timeout, e);
    }
  }

  /** Whether the first list failed: the watcher will never report anything. */
  synchronized boolean hasFailed() {
    return started != null && started.isCompletedExceptionally();
  }

  /**
   * Subscribes to the changes of one Pod. If the Pod is already known, the subscriber first gets
   * its current state (on the calling thread).
   *
   * @param podName the Pod's name
   * @param containerName the runner container, whose state decides the Pod's
   * @param subscriber called with every new state of the Pod
   * @return a handle that unsubscribes when closed
   */
  AutoCloseable subscribe(String podName, String containerName, Consumer<PodState> subscriber) {
    Subscriber sub = new Subscriber(containerName, subscriber);
    subscribers.put(podName, sub);
    SharedIndexInformer<Pod> inf;
    synchronized (this) {
      inf = informer;
    }
    if (inf != null) {
      Pod known = inf.getStore().getByKey(namespace + "/" + podName);
      if (known != null) {
        subscriber.accept(PodState.of(known, containerName));
      }
    }
    return () -> subscribers.remove(podName, sub);
  }

  /** Whether the informer is watching (false before start, after close, and while reconnecting). */
  synchronized boolean isWatching() {
    return informer != null && informer.isWatching();
  }

  @Override
  public void close() {
    SharedIndexInformer<Pod> inf;
    synchronized (this) {
      closed = true;
      inf = informer;
      informer = null;
    }
    if (inf != null) {
      inf.stop();
    }
    subscribers.clear();
  }

  private void deliver(Pod pod, boolean gone) {
    String name = pod.getMetadata() == null ? null : pod.getMetadata().getName();
    Subscriber s = name == null ? null : subscribers.get(name);
    if (s == null) {
      return;
    }
    try {
      s.consumer.accept(gone ? new PodState.Gone() : PodState.of(pod, s.containerName));
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "runner Pod subscriber for " + name + " failed", e);
    }
  }

  private record Subscriber(String containerName, Consumer<PodState> consumer) {}

  private final class Handler implements ResourceEventHandler<Pod> {
    @Override
    public void onAdd(Pod pod) {
      String name = pod.getMetadata() == null ? null : pod.getMetadata().getName();
      if (name != null
          && !subscribers.containsKey(name)
          && pod.getMetadata().getDeletionTimestamp() == null) {
        try {
          unowned.accept(pod);
        } catch (RuntimeException e) {
          LOG.log(Level.WARNING, "handling the unowned runner Pod " + name + " failed", e);
        }
        return;
      }
      deliver(pod, false);
    }

    @Override
    public void onUpdate(Pod oldPod, Pod newPod) {
      deliver(newPod, false);
    }

    @Override
    public void onDelete(Pod pod, boolean deletedFinalStateUnknown) {
      deliver(pod, true);
    }
  }
}
