package dev.shepherd.pool.kubernetes;

import dev.shepherd.testing.FakeKubelet;
import dev.shepherd.pool.RunnerMain;
import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.pool.ElasticPool;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Runs the README's sample verbatim. Surefire sets POD_NAME, POD_NAMESPACE and POD_IP as the
 * downward API would (see the pom), the mock API server holds the parent Pod, and {@link
 * FakeKubelet} runs the runner Pods.
 */
class ReadmeSampleTest {

  @RegisterExtension final KubernetesApiServer api = new KubernetesApiServer();

  @Test
  void readmeSampleRendersAReportInARunnerPod() throws Exception {
    api.createParent();
    Object report;
    try (FakeKubelet kubelet =
        new FakeKubelet(api.client(), KubernetesApiServer.NAMESPACE,
            RunnerPodFactory.LABEL_MANAGED_BY, RunnerPodFactory.MANAGED_BY, "dev.shepherd.pool.RunnerMain")) {
      KubernetesClient client = api.client();
      // --- README sample, verbatim ---
      KubernetesBackend backend = KubernetesBackend.builder()
          .client(client)                      // in a Pod: new KubernetesClientBuilder().build()
          .functions(ReportFunctions.class)    // the same class in the parent and every runner
          .build();                            // parent Pod, namespace and IP: downward API
      try (ElasticPool pool = ElasticPool.builder()
          .name("reports")
          .backend(backend)
          .min(0)
          .max(10)
          .maxConcurrency(4)
          .build()) {
        report = pool.call("render", "2026-Q3", Duration.ofMinutes(2));
      }
      // --- end of sample ---
      assertThat(kubelet.seen()).hasSize(1);
    }
    assertThat(report).isEqualTo("report for 2026-Q3");
  }
}
