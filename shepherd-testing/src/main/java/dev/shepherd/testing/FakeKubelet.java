package dev.shepherd.testing;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretKeySelector;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;

/**
 * Plays the kubelet for the mock API server ({@link MockKubernetes}), which stores Pods but runs
 * nothing: when a Pod with the given label appears, it starts the runner container's entrypoint as a real child JVM with the environment
 * from the Pod's spec (literal values, and {@code secretKeyRef}s read from the Secret as a kubelet
 * does; a missing Secret fails the Pod) and marks the Pod Running; when the JVM exits it marks
 * the Pod Succeeded or Failed with the exit code; when the Pod is deleted it kills the JVM.
 *
 * <p>Every Pod's first container is started as {@code java -cp <this JVM's class path> <mainClass>}
 * whatever its image and command: the test decides what "the image" runs. Thread-safe.
 */
public final class FakeKubelet implements AutoCloseable {

  private final KubernetesClient client;
  private final String namespace;
  private final String mainClass;
  private final Map<String, Process> processes = new ConcurrentHashMap<>();
  private final List<Pod> seen = new CopyOnWriteArrayList<>();
  private final List<Process> all = new CopyOnWriteArrayList<>();
  private final List<String> secretValues = new CopyOnWriteArrayList<>();
  private volatile Predicate<Pod> start = pod -> true;
  private final SharedIndexInformer<Pod> informer;

  /**
   * Starts watching for Pods.
   *
   * @param client a client of the mock API server
   * @param namespace where the Pods are
   * @param labelKey the label that marks the Pods to run
   * @param labelValue its value
   * @param mainClass the main class every such Pod's container runs
   */
  public FakeKubelet(
      KubernetesClient client, String namespace, String labelKey, String labelValue, String mainClass) {
    this.client = client;
    this.namespace = namespace;
    this.mainClass = mainClass;
    this.informer =
        client
            .pods()
            .inNamespace(namespace)
            .withLabel(labelKey, labelValue)
            .inform(
                new ResourceEventHandler<>() {
                  @Override
                  public void onAdd(Pod pod) {
                    seen.add(pod);
                    if (start.test(pod)) {
                      Thread.ofVirtual().start(() -> run(pod));
                    }
                  }

                  @Override
                  public void onUpdate(Pod oldPod, Pod newPod) {}

                  @Override
                  public void onDelete(Pod pod, boolean unknown) {
                    Process p = processes.remove(pod.getMetadata().getName());
                    if (p != null) {
                      p.destroyForcibly();
                    }
                  }
                });
  }

  /**
   * Starts only Pods matching a filter; the others stay Pending, as if never scheduled.
   *
   * @param filter the filter
   */
  public void startOnly(Predicate<Pod> filter) {
    this.start = filter;
  }

  /**
   * Returns every Pod the kubelet saw created, in order.
   *
   * @return the Pods, as first seen
   */
  public List<Pod> seen() {
    return seen;
  }

  /**
   * Returns every value the kubelet read from a Secret for a container, in order.
   *
   * @return the values
   */
  public List<String> secretValues() {
    return secretValues;
  }

  /**
   * Returns the JVM of a Pod, if running.
   *
   * @param podName the Pod's name
   * @return the process, or null
   */
  public @Nullable Process process(String podName) {
    return processes.get(podName);
  }

  private void run(Pod pod) {
    String name = pod.getMetadata().getName();
    Container c = pod.getSpec().getContainers().get(0);
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(mainClass);
    ProcessBuilder pb = new ProcessBuilder(command).inheritIO();
    Map<String, String> env = pb.environment();
    for (EnvVar v : c.getEnv()) {
      if (v.getValue() != null) {
        env.put(v.getName(), v.getValue());
      } else if (v.getValueFrom() != null && v.getValueFrom().getSecretKeyRef() != null) {
        SecretKeySelector ref = v.getValueFrom().getSecretKeyRef();
        Secret secret = client.secrets().inNamespace(namespace).withName(ref.getName()).get();
        String encoded = secret == null || secret.getData() == null ? null : secret.getData().get(ref.getKey());
        if (encoded == null) {
          setStatus(name, new PodStatusBuilder().withPhase("Failed")
              .withMessage("CreateContainerConfigError: secret \"" + ref.getName() + "\" not found").build());
          return;
        }
        String value = new String(Base64.getDecoder().decode(encoded), StandardCharsets.UTF_8);
        secretValues.add(value);
        env.put(v.getName(), value);
      }
    }
    Process process;
    try {
      process = pb.start();
    } catch (IOException e) {
      setStatus(name, new PodStatusBuilder().withPhase("Failed").withMessage(e.toString()).build());
      return;
    }
    all.add(process);
    processes.put(name, process);
    setStatus(
        name,
        new PodStatusBuilder()
            .withPhase("Running")
            .withPodIP("127.0.0.1")
            .addNewContainerStatus()
            .withName(c.getName())
            .withNewState()
            .withNewRunning()
            .endRunning()
            .endState()
            .endContainerStatus()
            .build());
    int code;
    try {
      code = process.waitFor();
    } catch (InterruptedException e) {
      process.destroyForcibly();
      return;
    }
    if (processes.remove(name, process)) {
      setStatus(
          name,
          new PodStatusBuilder()
              .withPhase(code == 0 ? "Succeeded" : "Failed")
              .addNewContainerStatus()
              .withName(c.getName())
              .withNewState()
              .withNewTerminated()
              .withExitCode(code)
              .withReason(code == 0 ? "Completed" : "Error")
              .endTerminated()
              .endState()
              .endContainerStatus()
              .build());
    }
  }

  /**
   * Sets a Pod's status as the kubelet would; ignores a Pod deleted meanwhile.
   *
   * @param podName the Pod's name
   * @param status the status
   */
  public void setStatus(String podName, PodStatus status) {
    try {
      Pod current = client.pods().inNamespace(namespace).withName(podName).get();
      if (current == null) {
        return;
      }
      current.setStatus(status);
      client.pods().inNamespace(namespace).resource(current).updateStatus();
    } catch (KubernetesClientException e) {
      if (e.getCode() != 404 && e.getCode() != 409) {
        throw e;
      }
    }
  }

  /**
   * Returns whether every JVM it started has exited.
   *
   * @return true if none is alive
   */
  public boolean allExited() {
    return all.stream().noneMatch(Process::isAlive);
  }

  @Override
  public void close() {
    informer.close();
    for (Process p : all) {
      p.destroyForcibly();
    }
  }
}
