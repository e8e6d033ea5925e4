package dev.shepherd.pool.kubernetes;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.Map;
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
   * States: NEW -> STARTED (informer listed and is watching) -> CLOSED. start() is idempotent and
   * synchronized; a subscriber registers before its Pod is created, so the Pod's first event (an
   * add from the watch or from a relist after a reconnect) cannot be missed. An informer replays a
   * delete it missed while disconnected as onDelete(pod, true), so Gone is always reported.
   * Subscribers are keyed by Pod name: the backend label selects the Pods, names identify them.
   */

  private static final System.Logger LOG = System.getLogger(RunnerPodWatcher.class.getName());

  private final KubernetesClient client;
  private final String namespace;
  private final Map<String, String> selector;
  private final String containerName;
  private final Map<String, Consumer<PodState>> subscribers = new ConcurrentHashMap<>();
  private @Nullable SharedIndexInformer<Pod> informer;
  private boolean closed;

  RunnerPodWatcher(
      KubernetesClient client, String namespace, Map<String, String> selector, String containerName) {
    this.client = client;
    this.namespace = namespace;
    this.selector = Map.copyOf(selector);
    this.containerName = containerName;
  }

  /**
   * Starts the informer and waits until it has listed the current Pods; does nothing if started.
   *
   * @param timeout how long to wait for the first list
   * @throws InterruptedException if interrupted while waiting
   * @throws IllegalStateException if closed
   * @throws KubernetesApiException if the list failed or did not finish in time
   */
  synchronized void start(Duration timeout) throws InterruptedException {
    if (closed) {
      throw new IllegalStateException("the runner Pod watcher is closed");
    }
    if (informer != null) {
      return;
    }
    SharedIndexInformer<Pod> inf =
        client.pods().inNamespace(namespace).withLabels(selector).runnableInformer(0);
    inf.addEventHandler(new Handler());
    try {
      inf.start().toCompletableFuture().get(timeout.toNanos(), TimeUnit.NANOSECONDS);
    } catch (ExecutionException e) {
      inf.stop();
      throw new KubernetesApiException(
          "cannot watch runner Pods in namespace " + namespace + " with labels " + selector,
          e.getCause());
    } catch (TimeoutException e) {
      inf.stop();
      throw new KubernetesApiException(
          "listing runner Pods in namespace " + namespace + " took longer than " + timeout, e);
    } catch (InterruptedException e) {
      inf.stop();
      throw e;
    }
    informer = inf;
  }

  /**
   * Subscribes to the changes of one Pod. If the Pod is already known, the subscriber first gets
   * its current state (on the calling thread).
   *
   * @param podName the Pod's name
   * @param subscriber called with every new state of the Pod
   * @return a handle that unsubscribes when closed
   */
  AutoCloseable subscribe(String podName, Consumer<PodState> subscriber) {
    subscribers.put(podName, subscriber);
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
    return () -> subscribers.remove(podName, subscriber);
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

  private void deliver(Pod pod, PodState state) {
    String name = pod.getMetadata() == null ? null : pod.getMetadata().getName();
    Consumer<PodState> s = name == null ? null : subscribers.get(name);
    if (s == null) {
      return;
    }
    try {
      s.accept(state);
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "runner Pod subscriber for " + name + " failed", e);
    }
  }

  private final class Handler implements ResourceEventHandler<Pod> {
    @Override
    public void onAdd(Pod pod) {
      deliver(pod, PodState.of(pod, containerName));
    }

    @Override
    public void onUpdate(Pod oldPod, Pod newPod) {
      deliver(newPod, PodState.of(newPod, containerName));
    }

    @Override
    public void onDelete(Pod pod, boolean deletedFinalStateUnknown) {
      deliver(pod, new PodState.Gone());
    }
  }
}
