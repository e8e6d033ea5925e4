package dev.shepherd.pool.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class RunnerPodWatcherTest {

  @RegisterExtension final KubernetesApiServer api = new KubernetesApiServer();

  private static final Map<String, String> SELECTOR = Map.of(RunnerPodFactory.LABEL_BACKEND, "b1");

  private RunnerPodWatcher watcher;
  private final List<PodState> states = new CopyOnWriteArrayList<>();

  @BeforeEach
  void start() throws InterruptedException {
    watcher = new RunnerPodWatcher(api.client(), KubernetesApiServer.NAMESPACE, SELECTOR, pod -> {});
    // Generous: the first informer of a JVM loads many classes, on a machine shared with builds.
    watcher.awaitStarted(Duration.ofSeconds(120));
  }

  @AfterEach
  void stop() {
    watcher.close();
  }

  private Pod create(String name, Map<String, String> labels) {
    KubernetesClient c = api.client();
    return c.pods()
        .resource(
            new PodBuilder()
                .withNewMetadata()
                .withName(name)
                .withLabels(labels)
                .endMetadata()
                .withNewSpec()
                .addNewContainer()
                .withName("runner")
                .withImage("img")
                .endContainer()
                .endSpec()
                .build())
        .create();
  }

  private void setStatus(Pod pod, String phase) {
    Pod p = api.client().pods().withName(pod.getMetadata().getName()).get();
    p.setStatus(new PodStatusBuilder().withPhase(phase).build());
    api.client().pods().resource(p).updateStatus();
  }

  @Test
  void failedPodIsReportedAsEnded() {
    watcher.subscribe("r1", "runner", states::add);
    Pod pod = create("r1", SELECTOR);

    setStatus(pod, "Failed");

    await().until(() -> states.stream().anyMatch(s -> s instanceof PodState.Ended));
    assertThat(states.get(0)).isInstanceOf(PodState.Pending.class);
  }

  @Test
  void podDeletedByOthersIsReportedAsGone() {
    watcher.subscribe("r1", "runner", states::add);
    create("r1", SELECTOR);
    await().until(() -> !states.isEmpty());

    api.client().pods().withName("r1").delete();

    await().until(() -> states.contains(new PodState.Gone()));
  }

  @Test
  void podsWithoutTheBackendLabelAreIgnored() {
    watcher.subscribe("other", "runner", states::add);
    watcher.subscribe("r1", "runner", states::add);
    Pod other = create("other", Map.of(RunnerPodFactory.LABEL_BACKEND, "b2"));
    setStatus(other, "Failed");
    create("r1", SELECTOR);

    await().until(() -> !states.isEmpty());

    assertThat(states).containsExactly(new PodState.Pending("Pod Pending"));
  }

  @Test
  void subscriberOfAKnownPodFirstGetsItsCurrentState() throws Exception {
    List<PodState> early = new CopyOnWriteArrayList<>();
    watcher.subscribe("r1", "runner", early::add);
    Pod pod = create("r1", SELECTOR);
    setStatus(pod, "Running");
    await().until(() -> early.contains(new PodState.Running()));

    List<PodState> late = new CopyOnWriteArrayList<>();
    watcher.subscribe("r1", "runner", late::add);

    assertThat(late).containsExactly(new PodState.Running());
  }

  @Test
  void unsubscribedSubscriberHearsNothingMore() throws Exception {
    AutoCloseable subscription = watcher.subscribe("r1", "runner", states::add);
    Pod pod = create("r1", SELECTOR);
    await().until(() -> !states.isEmpty());

    subscription.close();
    setStatus(pod, "Failed");
    List<PodState> later = new CopyOnWriteArrayList<>();
    watcher.subscribe("r2", "runner", later::add);
    create("r2", SELECTOR);
    await().until(() -> !later.isEmpty());

    assertThat(states).containsExactly(new PodState.Pending("Pod Pending"));
  }
}
