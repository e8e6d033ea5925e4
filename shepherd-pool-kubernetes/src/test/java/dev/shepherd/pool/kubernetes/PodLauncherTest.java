package dev.shepherd.pool.kubernetes;

import dev.shepherd.pool.RunnerMain;
import dev.shepherd.pool.spi.LaunchedRunner;
import dev.shepherd.pool.spi.RunnerSpec;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import dev.shepherd.testing.LogCapture;
import dev.shepherd.testing.MockKubernetes;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The Pod launcher alone (no runner connects): Pod ends, kills and their races. */
class PodLauncherTest {

  @RegisterExtension final KubernetesApiServer api = new KubernetesApiServer();

  private ExecutorService executor;
  private KubernetesSettings settings;
  private PodLauncher launcher;

  @BeforeEach
  void create() {
    api.createParent();
    executor = Executors.newVirtualThreadPerTaskExecutor();
    settings =
        KubernetesBackend.builder()
            .client(api.client())
            .environment(
                Map.of(
                    "POD_NAME", KubernetesApiServer.PARENT_NAME,
                    "POD_NAMESPACE", KubernetesApiServer.NAMESPACE,
                    "POD_IP", "127.0.0.1"))
            .executor(executor)
            .settings();
    launcher = new PodLauncher(settings);
  }

  @AfterEach
  void close() {
    launcher.close();
    executor.shutdownNow();
  }

  private static RunnerSpec spec(String id) {
    Duration d = Duration.ofSeconds(30);
    return new RunnerSpec("reports", id, d, d, d, 1);
  }

  private List<Pod> pods() {
    return api.client().pods().inNamespace(KubernetesApiServer.NAMESPACE)
        .withLabel(RunnerPodFactory.LABEL_BACKEND, launcher.backendId()).list().getItems();
  }

  private void setPhase(String podName, String phase) {
    Pod p = api.client().pods().inNamespace(KubernetesApiServer.NAMESPACE).withName(podName).get();
    if (p != null) {
      p.setStatus(new PodStatusBuilder().withPhase(phase).build());
      try {
        api.client().pods().inNamespace(KubernetesApiServer.NAMESPACE).resource(p).updateStatus();
      } catch (RuntimeException e) {
        // deleted meanwhile: the race this test is about
      }
    }
  }

  private static Throwable endOf(LaunchedRunner r) {
    assertThat(r.exited()).isCompletedExceptionally();
    try {
      r.exited().join();
      throw new AssertionError("completed normally");
    } catch (CompletionException e) {
      return e.getCause();
    }
  }

  @Test
  void killDeletesThePodAndEndsTheRunner() throws Exception {
    LaunchedRunner r = launcher.launch(spec("reports-1"), Map.of("SHEPHERD_POOL_SECRET", "s"));
    assertThat(pods()).hasSize(1);

    r.kill();
    r.kill();

    await().until(() -> r.exited().isDone() && pods().isEmpty());
    assertThat(endOf(r)).isInstanceOf(RunnerPodException.class).hasMessageContaining("deleted by the pool");
  }

  @Test
  void podThatSucceedsEndsTheRunnerAndIsDeleted() throws Exception {
    LaunchedRunner r = launcher.launch(spec("reports-1"), Map.of());
    String name = pods().get(0).getMetadata().getName();

    setPhase(name, "Succeeded");

    await().until(() -> r.exited().isDone() && pods().isEmpty());
    assertThat(endOf(r))
        .isInstanceOfSatisfying(RunnerPodException.class, e -> {
          assertThat(e.podName()).isEqualTo(name);
          assertThat(e.namespace()).isEqualTo(KubernetesApiServer.NAMESPACE);
          assertThat(e.runnerId()).isEqualTo("reports-1");
        })
        .hasMessageContaining("Pod succeeded");
  }

  @Test
  void podNamesAreDnsLabelsFromTheRunnerIdWithARandomSuffix() throws Exception {
    launcher.launch(spec("Reports_Pool/7"), Map.of());
    launcher.launch(spec("Reports_Pool/7"), Map.of());

    List<String> names = pods().stream().map(p -> p.getMetadata().getName()).toList();

    assertThat(names).hasSize(2).doesNotHaveDuplicates();
    assertThat(names).allSatisfy(n -> {
      assertThat(n).startsWith("reports-pool-7-");
      assertThat(KubernetesNames.isDnsLabel(n)).isTrue();
    });
  }

  @Test
  void createFailureNamesThePodAndRunner() throws Exception {
    launcher.launch(spec("reports-1"), Map.of()); // resolves the parent and starts the watch
    api.stopServer();

    assertThatThrownBy(() -> launcher.launch(spec("reports-2"), Map.of()))
        .isInstanceOf(KubernetesApiException.class)
        .hasMessageContaining("cannot create Pod " + KubernetesApiServer.NAMESPACE + "/reports-2-")
        .hasMessageContaining("runner reports-2 of pool reports");
  }

  @Test
  void templateContainerWithoutImageGetsTheParentContainersImage() throws Exception {
    KubernetesSettings settings =
        KubernetesBackend.builder()
            .client(api.client())
            .parentPod(KubernetesApiServer.PARENT_NAME, null)
            .parentHost("127.0.0.1")
            .podTemplate(
                new io.fabric8.kubernetes.api.model.PodBuilder()
                    .withNewSpec()
                    .addNewContainer()
                    .withName("web")
                    .withCommand("java", "-cp", "/app/lib/*", "dev.shepherd.pool.RunnerMain")
                    .endContainer()
                    .endSpec()
                    .build())
            .executor(executor)
            .settings();
    PodLauncher own = new PodLauncher(settings);
    try {
      own.launch(spec("reports-1"), Map.of());

      Pod pod = api.client().pods().inNamespace(KubernetesApiServer.NAMESPACE)
          .withLabel(RunnerPodFactory.LABEL_BACKEND, own.backendId()).list().getItems().get(0);
      assertThat(pod.getSpec().getContainers().get(0).getImage()).isEqualTo(KubernetesApiServer.PARENT_IMAGE);
      assertThat(pod.getSpec().getContainers().get(0).getCommand()).contains("dev.shepherd.pool.RunnerMain");
    } finally {
      own.close();
    }
  }

  private List<io.fabric8.kubernetes.api.model.Secret> secrets() {
    return api.client().secrets().inNamespace(KubernetesApiServer.NAMESPACE)
        .withLabel(RunnerPodFactory.LABEL_BACKEND, launcher.backendId()).list().getItems();
  }

  /**
   * The boot timer interrupts a launch whose Pod create is held by the API server (a slow
   * admission webhook); the launch's delete by name finds nothing, and the Pod is stored after
   * it. Without close(), that Pod and its Secret are deleted anyway.
   */
  @Test
  void podStoredAfterItsInterruptedCreateGaveUpIsDeleted() throws Exception {
    launcher.awaitWatching(Duration.ofSeconds(60));
    MockKubernetes.HeldCreate hold = api.holdNextCreate("pods");
    CompletableFuture<Throwable> failure = new CompletableFuture<>();
    Thread boot = Thread.ofVirtual().start(() -> {
      try {
        launcher.launch(spec("reports-1"), Map.of("SHEPHERD_POOL_SECRET", "s"));
        failure.complete(null);
      } catch (Throwable t) {
        failure.complete(t);
      }
    });
    assertThat(hold.awaitHeld(Duration.ofSeconds(60))).isTrue();

    boot.interrupt(); // what the pool's boot timer does
    assertThat(failure.get(60, TimeUnit.SECONDS)).isInstanceOf(KubernetesApiException.class);
    String podPath = "/api/v1/namespaces/" + KubernetesApiServer.NAMESPACE + "/pods/reports-1-";
    await().atMost(Duration.ofSeconds(60)).until(() -> api.requests().stream()
        .anyMatch(r -> r.method().equals("DELETE") && r.pathWithoutQuery().startsWith(podPath)));
    hold.release();

    await().atMost(Duration.ofSeconds(60)).until(() -> pods().isEmpty() && secrets().isEmpty());
  }

  /** How many sweeps of earlier runs have finished (their last request, the Secrets', was sent). */
  private long sweeps() {
    return api.requests().stream()
        .filter(r -> r.method().equals("DELETE")
            && r.pathWithoutQuery().endsWith("/secrets")
            && r.query().contains("parent-uid"))
        .count();
  }

  private List<Pod> podsOf(PodLauncher l) {
    return api.client().pods().inNamespace(KubernetesApiServer.NAMESPACE)
        .withLabel(RunnerPodFactory.LABEL_BACKEND, l.backendId()).list().getItems();
  }

  private List<io.fabric8.kubernetes.api.model.Secret> secretsOf(PodLauncher l) {
    return api.client().secrets().inNamespace(KubernetesApiServer.NAMESPACE)
        .withLabel(RunnerPodFactory.LABEL_BACKEND, l.backendId()).list().getItems();
  }

  /**
   * The parent's container restarted (killed for memory, a failed liveness probe): same Pod, so
   * the owner reference deletes nothing, and the old JVM never closed its backend. The new JVM's
   * first boot deletes the old JVM's runner Pods and Secrets of the same pool, and nothing of
   * another pool or of another backend in this JVM.
   */
  @Test
  void podsLeftByAnEarlierJvmOfTheSameParentAreDeletedOnTheFirstBoot() throws Exception {
    Duration d = Duration.ofSeconds(30);
    PodLauncher earlier = new PodLauncher(settings, "earlierjvm");
    PodLauncher earlierOtherPool = new PodLauncher(settings, "earlierjvm");
    PodLauncher sameJvm = new PodLauncher(settings, PodLauncher.PROCESS_ID);
    try {
      earlier.launch(spec("reports-1"), Map.of("SHEPHERD_POOL_SECRET", "s"));
      earlier.launch(spec("reports-2"), Map.of("SHEPHERD_POOL_SECRET", "s"));
      earlierOtherPool.launch(new RunnerSpec("exports", "exports-1", d, d, d, 1), Map.of("SHEPHERD_POOL_SECRET", "s"));
      // Each launcher sweeps once, after its first boot found the parent: Pods, then Secrets.
      await().atMost(Duration.ofSeconds(60)).until(() -> sweeps() == 2);
      assertThat(podsOf(earlier)).hasSize(2);
      assertThat(secretsOf(earlier)).hasSize(2);
      // The earlier JVM is gone: its launchers are never used or closed again. This JVM has two
      // backends of the pool.
      sameJvm.launch(spec("reports-7"), Map.of("SHEPHERD_POOL_SECRET", "s"));
      launcher.launch(spec("reports-3"), Map.of("SHEPHERD_POOL_SECRET", "s"));

      await().atMost(Duration.ofSeconds(60)).until(() -> sweeps() == 4);
      assertThat(podsOf(earlier)).isEmpty();
      assertThat(secretsOf(earlier)).isEmpty();
      assertThat(podsOf(earlierOtherPool)).hasSize(1);
      assertThat(podsOf(sameJvm)).hasSize(1);
      assertThat(podsOf(launcher)).hasSize(1);
      assertThat(podsOf(launcher).get(0).getMetadata().getLabels())
          .containsEntry(RunnerPodFactory.LABEL_PROCESS, PodLauncher.PROCESS_ID)
          .containsKey(RunnerPodFactory.LABEL_PARENT_UID);
    } finally {
      earlier.close();
      earlierOtherPool.close();
      sameJvm.close();
    }
  }

  /**
   * connected() runs on the boot's thread: it leaves the Secret's deletion to the executor, so a
   * slow API server cannot hold the boot past its timer (which would kill a runner that did
   * connect). The executor here is a queue the test drains.
   */
  @Test
  void connectedLeavesTheSecretsDeletionToTheExecutor() throws Exception {
    java.util.Queue<Runnable> queued = new java.util.concurrent.ConcurrentLinkedQueue<>();
    PodLauncher own =
        new PodLauncher(
            KubernetesBackend.builder()
                .client(api.client())
                .environment(Map.of(
                    "POD_NAME", KubernetesApiServer.PARENT_NAME,
                    "POD_NAMESPACE", KubernetesApiServer.NAMESPACE,
                    "POD_IP", "127.0.0.1"))
                .executor(queued::add)
                .settings());
    try {
      LaunchedRunner r = own.launch(spec("reports-1"), Map.of("SHEPHERD_POOL_SECRET", "s"));
      String name = podsOf(own).get(0).getMetadata().getName();
      String secretPath = "/api/v1/namespaces/" + KubernetesApiServer.NAMESPACE + "/secrets/" + name;

      r.connected();

      assertThat(api.requests()).noneMatch(q -> q.method().equals("DELETE") && q.pathWithoutQuery().equals(secretPath));
      assertThat(secretsOf(own)).hasSize(1);
      for (Runnable task; (task = queued.poll()) != null; ) {
        task.run();
      }
      assertThat(secretsOf(own)).isEmpty();
      assertThat(podsOf(own)).hasSize(1);
    } finally {
      own.close();
    }
  }

  /** What the pool's boot-timeout message and the kill's log line report: why the Pod is pending. */
  @Test
  void launchedPodDescribesWhyItIsPending() throws Exception {
    LaunchedRunner r = launcher.launch(spec("reports-1"), Map.of());
    String name = pods().get(0).getMetadata().getName();
    Pod p = api.client().pods().inNamespace(KubernetesApiServer.NAMESPACE).withName(name).get();
    p.setStatus(new PodStatusBuilder().withPhase("Pending").addNewCondition().withType("PodScheduled")
        .withStatus("False").withReason("Unschedulable")
        .withMessage("0/3 nodes are available: 3 Insufficient memory.").endCondition().build());
    api.client().pods().inNamespace(KubernetesApiServer.NAMESPACE).resource(p).updateStatus();

    await().atMost(Duration.ofSeconds(60)).until(() -> r.describe().contains("Insufficient memory"));
    assertThat(r.describe()).isEqualTo("runner Pod " + KubernetesApiServer.NAMESPACE + "/" + name
        + ": Pod Pending; PodScheduled False: Unschedulable (0/3 nodes are available: 3 Insufficient memory.)");
    try (LogCapture log = LogCapture.of(PodLauncher.class)) {
      r.kill();
      assertThat(log.messages()).anySatisfy(m -> assertThat(m)
          .contains("did not connect back").contains("Insufficient memory"));
    }
  }

  /**
   * Two pools whose names are not label values get distinct pool labels: a NetworkPolicy that
   * admits one pool's runners must not admit the other's (both were "" before).
   */
  @Test
  void poolsWhoseNamesAreNotLabelValuesGetDistinctPoolLabels() throws Exception {
    Duration d = Duration.ofSeconds(30);
    List<String> pools = new ArrayList<>();
    for (String pool : List.of("отчёты", "отчеты", "reports")) {
      PodLauncher own = new PodLauncher(settings); // one launcher (backend) per pool
      try {
        own.launch(new RunnerSpec(pool, pool + "-1", d, d, d, 1), Map.of());
        pools.add(podsOf(own).get(0).getMetadata().getLabels().get(RunnerPodFactory.LABEL_POOL));
      } finally {
        own.close();
      }
    }

    assertThat(pools).hasSize(3).doesNotHaveDuplicates().contains("reports")
        .allSatisfy(v -> assertThat(v).isNotEmpty().satisfies(x -> assertThat(KubernetesNames.isLabelValue(x)).isTrue()));
  }

  /** A refusal names the permission; an API server that does not answer is not blamed on RBAC. */
  @Test
  void aRefusedFirstListNamesThePermission() throws Exception {
    String uid = api.client().pods().inNamespace(KubernetesApiServer.NAMESPACE)
        .withName(KubernetesApiServer.PARENT_NAME).get().getMetadata().getUid();
    PodLauncher own =
        new PodLauncher(
            KubernetesBackend.builder()
                .client(api.client())
                .parentPod(KubernetesApiServer.PARENT_NAME, uid) // nothing to read: the list comes first
                .parentHost("127.0.0.1")
                .image("registry.example.com/web:1.4.2")
                .podTemplate(new io.fabric8.kubernetes.api.model.PodBuilder().withNewSpec()
                    .addNewContainer().withName("web").endContainer().endSpec().build())
                .executor(executor)
                .settings());
    api.refuse(403, "GET", "pods");
    try {
      assertThatThrownBy(() -> own.launch(spec("reports-1"), Map.of()))
          .isInstanceOf(KubernetesApiException.class)
          .hasMessageContaining("cannot list and watch runner Pods")
          .hasMessageContaining("HTTP 403, the service account needs list and watch on pods");
    } finally {
      own.close();
    }
  }

  @Test
  void anApiServerThatDoesNotAnswerIsNotBlamedOnPermissions() {
    api.stopServer();

    assertThatThrownBy(() -> launcher.launch(spec("reports-1"), Map.of()))
        .isInstanceOf(KubernetesApiException.class)
        .hasMessageContaining("cannot read the parent Pod")
        .hasMessageContaining("the API server did not answer")
        .hasMessageNotContaining("service account");
  }

  /**
   * With the client's retries on (ten, as a client built from the environment has; here with a
   * long backoff), close() against an API server that is gone returns after its bound instead of
   * retrying its bulk deletions for minutes.
   */
  @Test
  void closeAgainstAnApiServerThatIsGoneReturnsAfterItsBound() throws Exception {
    io.fabric8.kubernetes.client.Config config =
        new io.fabric8.kubernetes.client.ConfigBuilder(io.fabric8.kubernetes.client.Config.empty())
            .withMasterUrl(api.client().getMasterUrl().toString())
            .withNamespace(KubernetesApiServer.NAMESPACE)
            .withRequestTimeout(2_000)
            .withConnectionTimeout(2_000)
            .withRequestRetryBackoffLimit(10)
            .withRequestRetryBackoffInterval(5_000) // 5, 10, 20, ... s between attempts
            .build();
    try (io.fabric8.kubernetes.client.KubernetesClient retrying =
        new io.fabric8.kubernetes.client.KubernetesClientBuilder().withConfig(config).build()) {
      PodLauncher own =
          new PodLauncher(
              KubernetesBackend.builder()
                  .client(retrying)
                  .environment(Map.of(
                      "POD_NAME", KubernetesApiServer.PARENT_NAME,
                      "POD_NAMESPACE", KubernetesApiServer.NAMESPACE,
                      "POD_IP", "127.0.0.1"))
                  .executor(executor)
                  .settings());
      own.launch(spec("reports-1"), Map.of());
      api.stopServer();

      CompletableFuture<Void> closed = CompletableFuture.runAsync(own::close, executor);

      // The bound is 4 s here (twice the request timeout); the retries alone would take minutes.
      await().atMost(Duration.ofSeconds(60)).until(closed::isDone);
    }
  }

  @Test
  void launchAfterCloseIsRejected() {
    launcher.close();

    assertThatThrownBy(() -> launcher.launch(spec("reports-1"), Map.of()))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("closed");
  }

  @Test
  void closeDeletesPodsLeftBehind() throws Exception {
    launcher.launch(spec("reports-1"), Map.of());
    launcher.launch(spec("reports-2"), Map.of());

    launcher.close();

    assertThat(pods()).isEmpty();
  }

  /**
   * Many runners launched at once, each ended by a race of the pool's kill, the Pod failing and
   * the Pod being deleted by someone else: each runner ends exactly once, and no Pod is left.
   */
  @Test
  void concurrentLaunchesAndRacingEndsEndEachRunnerOnceAndLeaveNoPod() throws Exception {
    int runners = 24;
    List<Future<LaunchedRunner>> launches = new ArrayList<>();
    CountDownLatch go = new CountDownLatch(1);
    for (int i = 0; i < runners; i++) {
      String id = "reports-" + i;
      launches.add(executor.submit(() -> {
        go.await();
        return launcher.launch(spec(id), Map.of());
      }));
    }
    go.countDown();
    List<LaunchedRunner> launched = new ArrayList<>();
    for (Future<LaunchedRunner> f : launches) {
      launched.add(f.get());
    }
    assertThat(pods()).hasSize(runners);
    Map<LaunchedRunner, AtomicInteger> ends = new ConcurrentHashMap<>();
    for (LaunchedRunner r : launched) {
      AtomicInteger count = new AtomicInteger();
      ends.put(r, count);
      r.exited().whenComplete((v, t) -> count.incrementAndGet());
    }
    List<String> names = pods().stream().map(p -> p.getMetadata().getName()).sorted().toList();

    CountDownLatch race = new CountDownLatch(1);
    List<Future<?>> racers = new ArrayList<>();
    for (int i = 0; i < runners; i++) {
      LaunchedRunner r = launched.get(i);
      String name = names.get(i);
      racers.add(executor.submit(() -> { race.await(); r.kill(); return null; }));
      racers.add(executor.submit(() -> { race.await(); setPhase(name, "Failed"); return null; }));
      racers.add(executor.submit(() -> {
        race.await();
        api.client().pods().inNamespace(KubernetesApiServer.NAMESPACE).withName(name).delete();
        return null;
      }));
    }
    race.countDown();
    for (Future<?> f : racers) {
      f.get();
    }

    await().atMost(Duration.ofSeconds(60)).until(() -> launched.stream().allMatch(r -> r.exited().isDone()));
    await().atMost(Duration.ofSeconds(60)).until(() -> pods().isEmpty());
    assertThat(launched).allSatisfy(r -> assertThat(endOf(r)).isInstanceOf(RunnerPodException.class));
    assertThat(ends.values()).allSatisfy(c -> assertThat(c.get()).isEqualTo(1));
  }
}
