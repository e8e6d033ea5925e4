package dev.shepherd.pool.kubernetes;

import dev.shepherd.testing.FakeKubelet;
import dev.shepherd.pool.RunnerMain;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.shepherd.pool.CallTimeoutException;
import dev.shepherd.pool.ElasticPool;
import dev.shepherd.pool.ElasticPoolBuilder;
import dev.shepherd.pool.PoolEvent;
import dev.shepherd.pool.RunnerBootException;
import dev.shepherd.pool.RunnerDiedException;
import dev.shepherd.pool.RunnerEnvironment;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The Kubernetes backend end to end: the pool boots a runner by creating a Pod on the mock API
 * server; {@link FakeKubelet} starts the runner JVM the Pod describes, which connects back to the
 * parent with the address and secret from the Pod's environment; calls go through it.
 */
class KubernetesBackendTest {

  private static final String RUNNER_MAIN = "dev.shepherd.pool.RunnerMain";

  @RegisterExtension final KubernetesApiServer api = new KubernetesApiServer();

  private Pod parent;
  private FakeKubelet kubelet;
  private KubernetesBackend backend;
  private ElasticPool pool;

  @BeforeEach
  void startKubelet() {
    parent = api.createParent();
    kubelet = new FakeKubelet(api.client(), KubernetesApiServer.NAMESPACE,
        RunnerPodFactory.LABEL_MANAGED_BY, RunnerPodFactory.MANAGED_BY, RUNNER_MAIN);
  }

  @AfterEach
  void stop() {
    if (pool != null) {
      pool.close();
    }
    kubelet.close();
  }

  private Map<String, String> downwardApi() {
    return Map.of(
        "POD_NAME", KubernetesApiServer.PARENT_NAME,
        "POD_NAMESPACE", KubernetesApiServer.NAMESPACE,
        "POD_UID", parent.getMetadata().getUid(),
        "POD_IP", "127.0.0.1");
  }

  private KubernetesBackend.Builder backendBuilder() {
    return KubernetesBackend.builder()
        .client(api.client())
        .environment(downwardApi())
        .containerName("web")
        .functions(TestFunctions.class);
  }

  private ElasticPoolBuilder poolBuilder(KubernetesBackend b) {
    this.backend = b;
    return ElasticPool.builder()
        .name("reports")
        .backend(b)
        .min(0)
        .max(2)
        .maxConcurrency(4)
        .bootTimeout(Duration.ofSeconds(60));
  }

  private List<Pod> runnerPods() {
    return api.client().pods().inNamespace(KubernetesApiServer.NAMESPACE)
        .withLabel(RunnerPodFactory.LABEL_BACKEND, backend.backendId()).list().getItems();
  }

  private static Map<String, String> env(Container c) {
    return c.getEnv().stream()
        .filter(v -> v.getValue() != null)
        .collect(Collectors.toMap(EnvVar::getName, EnvVar::getValue));
  }

  @Test
  void callRunsInARunnerPodThatConnectsBackWithTheAddressAndSecretFromItsSpec() throws Exception {
    pool = poolBuilder(backendBuilder().build()).build();

    Object result = pool.call("echo", "hello", Duration.ofSeconds(60));

    assertThat(result).isEqualTo("hello");
    assertThat(kubelet.seen()).hasSize(1);
    Container c = kubelet.seen().get(0).getSpec().getContainers().get(0);
    assertThat(env(c))
        .containsEntry(RunnerEnvironment.PARENT, backend.advertisedAddress())
        .containsKey(RunnerEnvironment.RUNNER_ID);
    assertThat(c.getEnv())
        .filteredOn(v -> v.getName().equals(RunnerEnvironment.SECRET))
        .singleElement()
        .satisfies(v -> assertThat(v.getValueFrom().getSecretKeyRef().getName())
            .isEqualTo(kubelet.seen().get(0).getMetadata().getName()));
    assertThat(backend.advertisedAddress()).startsWith("127.0.0.1:");
    assertThat(backend.address().getAddress().isLoopbackAddress()).isTrue();
  }

  @Test
  void runnerPodIsTheParentsImageOwnedByTheParentWithPoolLabelsAndRestartNever() throws Exception {
    pool = poolBuilder(backendBuilder().build()).build();
    pool.call("echo", 1L, Duration.ofSeconds(60));

    Pod pod = kubelet.seen().get(0);

    assertThat(pod.getMetadata().getNamespace()).isEqualTo(KubernetesApiServer.NAMESPACE);
    assertThat(pod.getMetadata().getLabels())
        .containsEntry("app.kubernetes.io/managed-by", "shepherd")
        .containsEntry("shepherd.dev/pool", "reports")
        .containsEntry("shepherd.dev/backend", backend.backendId())
        .containsKey("shepherd.dev/runner")
        .doesNotContainKey("app")
        .doesNotContainKey("pod-template-hash");
    OwnerReference owner = pod.getMetadata().getOwnerReferences().get(0);
    assertThat(owner.getKind()).isEqualTo("Pod");
    assertThat(owner.getName()).isEqualTo(KubernetesApiServer.PARENT_NAME);
    assertThat(owner.getUid()).isEqualTo(parent.getMetadata().getUid());
    assertThat(owner.getController()).isTrue();
    assertThat(owner.getBlockOwnerDeletion()).isTrue();
    assertThat(pod.getSpec().getRestartPolicy()).isEqualTo("Never");
    assertThat(pod.getSpec().getContainers()).singleElement().satisfies(c -> {
      assertThat(c.getName()).isEqualTo("web");
      assertThat(c.getImage()).isEqualTo(KubernetesApiServer.PARENT_IMAGE);
      assertThat(c.getResources().getRequests()).containsEntry("cpu", new Quantity("500m"));
      assertThat(c.getReadinessProbe()).isNull();
    });
    assertThat(pod.getSpec().getInitContainers()).isEmpty();
  }

  /**
   * A runner gets no API token: the parent's would let it read every runner's Secret and delete
   * the parent. Neither the automatic one nor the token volume the API server put into the
   * parent's stored spec, which a copy of that spec would otherwise mount.
   */
  @Test
  void runnerPodOfTheParentsTemplateHasNoServiceAccountToken() throws Exception {
    pool = poolBuilder(backendBuilder().build()).build();
    pool.call("echo", 1L, Duration.ofSeconds(60));

    Pod pod = kubelet.seen().get(0);

    assertThat(pod.getSpec().getAutomountServiceAccountToken()).isFalse();
    assertThat(pod.getSpec().getVolumes()).extracting(v -> v.getName()).containsExactly("config");
    assertThat(pod.getSpec().getContainers().get(0).getVolumeMounts())
        .extracting(m -> m.getMountPath())
        .containsExactly("/config");
    assertThat(Serialization.asJson(pod)).doesNotContain("serviceAccountToken");
  }

  @Test
  void runnerPodFollowsTheTemplateWithItsResourcesLabelsAndImage() throws Exception {
    Pod template =
        new PodBuilder()
            .withNewMetadata()
            .addToLabels("team", "reports")
            .endMetadata()
            .withNewSpec()
            .withServiceAccountName("runner")
            .addNewContainer()
            .withName("runner")
            .withImage("registry.example.com/reports-runner:7")
            .withNewResources()
            .addToLimits("memory", new Quantity("1Gi"))
            .addToRequests("cpu", new Quantity("2"))
            .endResources()
            .endContainer()
            .endSpec()
            .build();
    pool = poolBuilder(backendBuilder().podTemplate(template).containerName("runner").label("tier", "batch").build()).build();
    pool.call("echo", 1L, Duration.ofSeconds(60));

    Pod pod = kubelet.seen().get(0);

    assertThat(pod.getMetadata().getLabels()).containsEntry("team", "reports").containsEntry("tier", "batch");
    assertThat(pod.getSpec().getServiceAccountName()).isEqualTo("runner");
    assertThat(pod.getSpec().getAutomountServiceAccountToken()).isFalse();
    Container c = pod.getSpec().getContainers().get(0);
    assertThat(c.getImage()).isEqualTo("registry.example.com/reports-runner:7");
    assertThat(c.getResources().getLimits()).containsEntry("memory", new Quantity("1Gi"));
    assertThat(c.getResources().getRequests()).containsEntry("cpu", new Quantity("2"));
  }

  @Test
  void imageSetOnTheBuilderWinsOverTheParents() throws Exception {
    pool = poolBuilder(backendBuilder().image("registry.example.com/web:1.5.0").build()).build();
    pool.call("echo", 1L, Duration.ofSeconds(60));

    assertThat(kubelet.seen().get(0).getSpec().getContainers().get(0).getImage())
        .isEqualTo("registry.example.com/web:1.5.0");
  }

  private List<Secret> runnerSecrets() {
    return api.client().secrets().inNamespace(KubernetesApiServer.NAMESPACE)
        .withLabel(RunnerPodFactory.LABEL_BACKEND, backend.backendId()).list().getItems();
  }

  @Test
  void noPodSpecHoldsTheSecretAndItsSecretIsDeletedOnceTheRunnerConnected() throws Exception {
    pool = poolBuilder(backendBuilder().build()).build();

    assertThat(pool.call("echo", "hi", Duration.ofSeconds(60))).isEqualTo("hi");

    // The kubelet read the runner's secret from its Secret; no Pod, as created or as stored, has it.
    assertThat(kubelet.secretValues()).singleElement().asString().hasSizeGreaterThan(40);
    String secret = kubelet.secretValues().get(0);
    List<Pod> pods = new java.util.ArrayList<>(kubelet.seen());
    pods.addAll(runnerPods());
    assertThat(pods).hasSizeGreaterThanOrEqualTo(2).allSatisfy(p ->
        assertThat(Serialization.asJson(p)).doesNotContain(secret));
    // Connected: the Secret is gone at once (not only when the Pod goes).
    await().atMost(Duration.ofSeconds(60)).until(() -> runnerSecrets().isEmpty());
    assertThat(runnerPods()).hasSize(1);
  }

  @Test
  void theSecretIsOwnedByTheParentAndDeletedWhenTheRunnerDiesBeforeConnecting() throws Exception {
    kubelet.startOnly(p -> false);
    pool = poolBuilder(backendBuilder().build()).build();
    CompletableFuture<Object> call = pool.callAsync("echo", 1L, Duration.ofSeconds(60));
    await().atMost(Duration.ofSeconds(60)).until(() -> !kubelet.seen().isEmpty());
    Pod pod = kubelet.seen().get(0);
    String podName = pod.getMetadata().getName();
    await().atMost(Duration.ofSeconds(60)).untilAsserted(() ->
        assertThat(runnerSecrets()).singleElement().satisfies(s -> {
          assertThat(s.getMetadata().getName()).isEqualTo(podName);
          assertThat(s.getMetadata().getOwnerReferences()).singleElement().satisfies(o -> {
            assertThat(o.getKind()).isEqualTo("Pod");
            assertThat(o.getName()).isEqualTo(KubernetesApiServer.PARENT_NAME);
            assertThat(o.getUid()).isEqualTo(parent.getMetadata().getUid());
          });
        }));

    kubelet.setStatus(podName, new PodStatusBuilder().withPhase("Failed").withReason("Evicted").build());

    await().atMost(Duration.ofSeconds(60)).until(() -> runnerSecrets().isEmpty());
    call.cancel(true);
  }

  @Test
  void failedPodIsARunnerDeathForTheCallsOnIt() throws Exception {
    pool = poolBuilder(backendBuilder().build()).build();
    pool.call("echo", 1L, Duration.ofSeconds(60));
    String podName = kubelet.seen().get(0).getMetadata().getName();
    CompletableFuture<Object> call = pool.callAsync("sleep", 600_000L, Duration.ofSeconds(600));
    await().until(() -> pool.snapshot().busySlots() == 1);

    // The runner JVM keeps running: only the Pod's status says it failed.
    kubelet.setStatus(podName, new PodStatusBuilder().withPhase("Failed").withReason("Evicted")
        .withMessage("The node was low on resource: memory.").build());

    assertThatThrownBy(() -> call.get())
        .isInstanceOf(ExecutionException.class)
        .cause()
        .isInstanceOf(RunnerDiedException.class)
        .hasRootCauseInstanceOf(RunnerPodException.class)
        .rootCause()
        .hasMessageContaining("Evicted");
    assertThat(pool.snapshot().deaths()).isEqualTo(1);
    await().until(() -> runnerPods().stream().noneMatch(p -> p.getMetadata().getName().equals(podName)));
  }

  @Test
  void podDeletedByOthersIsARunnerDeathAndThePoolBootsAnother() throws Exception {
    pool = poolBuilder(backendBuilder().build()).build();
    pool.call("echo", 1L, Duration.ofSeconds(60));
    String podName = kubelet.seen().get(0).getMetadata().getName();
    CompletableFuture<Object> call = pool.callAsync("sleep", 600_000L, Duration.ofSeconds(600));

    api.client().pods().inNamespace(KubernetesApiServer.NAMESPACE).withName(podName).delete();

    assertThatThrownBy(() -> call.get())
        .isInstanceOf(ExecutionException.class)
        .cause()
        .isInstanceOf(RunnerDiedException.class);
    assertThat(pool.call("echo", "again", Duration.ofSeconds(60))).isEqualTo("again");
    assertThat(kubelet.seen()).hasSize(2);
  }

  @Test
  void idleRunnerIsRetiredAndItsPodDeleted() throws Exception {
    pool = poolBuilder(backendBuilder().build()).idleShutdownAfter(Duration.ofMillis(200)).build();
    pool.call("echo", 1L, Duration.ofSeconds(60));
    assertThat(runnerPods()).hasSize(1);

    await().atMost(Duration.ofSeconds(60)).until(() -> runnerPods().isEmpty());
  }

  @Test
  void closeDeletesEveryRunnerPod() throws Exception {
    pool = poolBuilder(backendBuilder().build()).min(2).build();
    await().atMost(Duration.ofSeconds(60)).until(() -> pool.snapshot().ready() == 2);
    pool.call("echo", 1L, Duration.ofSeconds(60));

    pool.close();

    await().atMost(Duration.ofSeconds(60)).until(() -> runnerPods().isEmpty());
    await().atMost(Duration.ofSeconds(60)).until(kubelet::allExited);
  }

  @Test
  void podThatNeverConnectsIsDeletedAndTheBootFails() throws Exception {
    kubelet.startOnly(p -> false);
    KubernetesBackend b = backendBuilder().build();
    b.awaitWatching(Duration.ofSeconds(120)); // so that the short boot timeout is all Pod
    pool = poolBuilder(b).bootTimeout(Duration.ofSeconds(2)).build();

    assertThatThrownBy(() -> pool.call("echo", 1L, Duration.ofSeconds(5)))
        .isInstanceOf(CallTimeoutException.class)
        .cause()
        .isInstanceOf(RunnerBootException.class)
        .hasMessageContaining("bootTimeout");

    // Without close(): every Pod that timed out was deleted by its boot.
    await().atMost(Duration.ofSeconds(60)).until(() -> pool.snapshot().booting() == 0 && runnerPods().isEmpty());
    assertThat(kubelet.seen()).isNotEmpty();
  }

  @Test
  void resizeDownRetiresARunnerAndDeletesItsPod() throws Exception {
    pool = poolBuilder(backendBuilder().build()).min(2).build();
    await().atMost(Duration.ofSeconds(60)).until(() -> pool.snapshot().ready() == 2);

    pool.resize(0, 1);

    await().atMost(Duration.ofSeconds(60)).until(() -> runnerPods().size() == 1);
    assertThat(pool.call("echo", "still", Duration.ofSeconds(60))).isEqualTo("still");
  }

  /** Before, only the runner container's status counted: the boot waited out its whole timeout. */
  @Test
  void initContainerThatCannotBePulledFailsTheBootWithTheReason() {
    kubelet.startOnly(p -> false);
    List<Throwable> bootFailures = new java.util.concurrent.CopyOnWriteArrayList<>();
    pool =
        poolBuilder(backendBuilder().build())
            .bootTimeout(Duration.ofSeconds(600))
            .onGrowEnd(r -> {
              if (r instanceof PoolEvent.BootFailed f) {
                bootFailures.add(f.cause());
              }
            })
            .build();
    CompletableFuture<Object> call = pool.callAsync("echo", 1L, Duration.ofSeconds(600));
    await().atMost(Duration.ofSeconds(60)).until(() -> !kubelet.seen().isEmpty());
    String podName = kubelet.seen().get(0).getMetadata().getName();

    kubelet.setStatus(podName, new PodStatusBuilder().withPhase("Pending")
        .addNewInitContainerStatus().withName("fetch-model").withNewState().withNewWaiting()
        .withReason("ImagePullBackOff").withMessage("Back-off pulling image").endWaiting().endState()
        .endInitContainerStatus()
        .addNewContainerStatus().withName("web").withNewState().withNewWaiting()
        .withReason("PodInitializing").endWaiting().endState().endContainerStatus().build());

    // Well before the 600 s boot timeout: the boot fails on the status itself.
    await().atMost(Duration.ofSeconds(120)).until(() -> !bootFailures.isEmpty());
    assertThat(bootFailures.get(0)).hasStackTraceContaining("init container \"fetch-model\" cannot start: ImagePullBackOff");
    await().until(() -> runnerPods().stream().noneMatch(p -> p.getMetadata().getName().equals(podName)));
    call.cancel(true);
  }

  @Test
  void imageThatCannotBePulledFailsTheBootWithTheReason() {
    kubelet.startOnly(p -> false);
    List<Throwable> bootFailures = new java.util.concurrent.CopyOnWriteArrayList<>();
    pool =
        poolBuilder(backendBuilder().build())
            .onGrowEnd(r -> {
              if (r instanceof PoolEvent.BootFailed f) {
                bootFailures.add(f.cause());
              }
            })
            .build();
    CompletableFuture<Object> call = pool.callAsync("echo", 1L, Duration.ofSeconds(60));
    await().until(() -> !kubelet.seen().isEmpty());
    String podName = kubelet.seen().get(0).getMetadata().getName();

    kubelet.setStatus(podName, new PodStatusBuilder().withPhase("Pending").addNewContainerStatus()
        .withName("web").withNewState().withNewWaiting().withReason("ImagePullBackOff")
        .withMessage("Back-off pulling image").endWaiting().endState().endContainerStatus().build());

    await().until(() -> !bootFailures.isEmpty());
    assertThat(bootFailures.get(0)).hasStackTraceContaining("ImagePullBackOff");
    await().until(() -> runnerPods().stream().noneMatch(p -> p.getMetadata().getName().equals(podName)));
    call.cancel(true);
  }
}
