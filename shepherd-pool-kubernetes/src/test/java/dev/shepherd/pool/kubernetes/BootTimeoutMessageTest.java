package dev.shepherd.pool.kubernetes;

import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.shepherd.pool.RemoteBackend;
import dev.shepherd.pool.RunnerBootException;
import dev.shepherd.pool.spi.LaunchedRunner;
import dev.shepherd.pool.spi.RunnerLauncher;
import dev.shepherd.pool.spi.RunnerSpec;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A runner Pod that never connects back because the scheduler cannot place it: the boot's
 * timeout message says so, instead of only "did not connect back".
 */
class BootTimeoutMessageTest {

  @RegisterExtension final KubernetesApiServer api = new KubernetesApiServer();

  @Test
  void bootTimeoutSaysWhyThePodIsStillPending() throws Exception {
    api.createParent();
    ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    PodLauncher pods =
        new PodLauncher(
            KubernetesBackend.builder()
                .client(api.client())
                .environment(Map.of(
                    "POD_NAME", KubernetesApiServer.PARENT_NAME,
                    "POD_NAMESPACE", KubernetesApiServer.NAMESPACE,
                    "POD_IP", "127.0.0.1"))
                .executor(executor)
                .settings());
    // No kubelet runs the Pod; the scheduler's verdict is known before the boot's timer starts
    // (it starts when launch returns), so the test does not race the timer.
    RunnerLauncher unschedulable =
        new RunnerLauncher() {
          @Override
          public LaunchedRunner launch(RunnerSpec spec, Map<String, String> environment) throws Exception {
            LaunchedRunner r = pods.launch(spec, environment);
            String name = api.client().pods().inNamespace(KubernetesApiServer.NAMESPACE)
                .withLabel(RunnerPodFactory.LABEL_BACKEND, pods.backendId()).list().getItems()
                .get(0).getMetadata().getName();
            Pod p = api.client().pods().inNamespace(KubernetesApiServer.NAMESPACE).withName(name).get();
            p.setStatus(new PodStatusBuilder().withPhase("Pending").addNewCondition()
                .withType("PodScheduled").withStatus("False").withReason("Unschedulable")
                .withMessage("0/3 nodes are available: 3 Insufficient memory.").endCondition().build());
            api.client().pods().inNamespace(KubernetesApiServer.NAMESPACE).resource(p).updateStatus();
            await().atMost(Duration.ofSeconds(60)).until(() -> r.describe().contains("Insufficient memory"));
            return r;
          }

          @Override
          public void close() {
            pods.close();
          }
        };
    try (RemoteBackend backend =
        RemoteBackend.builder().launcher(unschedulable).functions(TestFunctions.class).build()) {
      Duration d = Duration.ofSeconds(30);
      RunnerSpec spec = new RunnerSpec("reports", "reports-1", Duration.ofSeconds(1), d, d, 1);

      assertThatThrownBy(() -> backend.boot(spec, cause -> {}))
          .isInstanceOf(RunnerBootException.class)
          .hasMessageContaining("did not connect back within bootTimeout")
          .hasMessageContaining("last seen: runner Pod " + KubernetesApiServer.NAMESPACE + "/reports-1-")
          .hasMessageContaining("PodScheduled False: Unschedulable (0/3 nodes are available: 3 Insufficient memory.)");
    } finally {
      executor.shutdownNow();
    }
  }
}
