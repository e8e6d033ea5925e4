package dev.shepherd.pool.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.pool.ElasticPool;
import dev.shepherd.testing.FakeKubelet;
import dev.shepherd.testing.MockKubernetes;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What the parent's service account must be allowed: every request the backend sends during a
 * whole lifecycle (boots, a connected runner, a Pod that fails, a retired runner, close), recorded
 * by the mock API server, turned into RBAC verbs, against the Role the README asks for.
 */
class RbacTest {

  private static final String AGENT = "shepherd-backend-under-test";

  @RegisterExtension final KubernetesApiServer api = new KubernetesApiServer();

  @Test
  void theBackendUsesExactlyTheVerbsOfTheReadmesRole() throws Exception {
    Pod parent = api.createParent();
    Map<String, Set<String>> used;
    try (FakeKubelet kubelet =
        new FakeKubelet(api.client(), KubernetesApiServer.NAMESPACE,
            RunnerPodFactory.LABEL_MANAGED_BY, RunnerPodFactory.MANAGED_BY, "dev.shepherd.pool.RunnerMain")) {
      KubernetesBackend backend =
          KubernetesBackend.builder()
              .client(api.client(AGENT))
              .environment(Map.of(
                  "POD_NAME", KubernetesApiServer.PARENT_NAME,
                  "POD_NAMESPACE", KubernetesApiServer.NAMESPACE,
                  "POD_UID", parent.getMetadata().getUid(),
                  "POD_IP", "127.0.0.1"))
              .containerName("web")
              .functions(TestFunctions.class)
              .build();
      try (ElasticPool pool = ElasticPool.builder().name("reports").backend(backend)
          .min(0).max(2).maxConcurrency(1).bootTimeout(Duration.ofSeconds(60)).build()) {
        // Two runners: one ends with its Pod, the other with close().
        CompletableFuture<Object> a = pool.callAsync("sleep", 600_000L, Duration.ofSeconds(600));
        CompletableFuture<Object> b = pool.callAsync("sleep", 600_000L, Duration.ofSeconds(600));
        await().atMost(Duration.ofSeconds(60)).until(() -> pool.snapshot().busySlots() == 2);
        String failing = kubelet.seen().get(0).getMetadata().getName();
        kubelet.setStatus(failing, new PodStatusBuilder().withPhase("Failed").withReason("Evicted").build());
        await().atMost(Duration.ofSeconds(60)).until(() -> pool.snapshot().deaths() == 1);
        a.cancel(true);
        b.cancel(true);
      }
      used = verbs(api.requests().stream().filter(r -> AGENT.equals(r.userAgent())).toList());
    }

    Map<String, Set<String>> documented = readmeRole();
    // The mock API server enforces no owner references, so it cannot show pods/finalizers in use.
    assertThat(documented.remove("pods/finalizers")).containsExactly("update");
    assertThat(used).isEqualTo(documented);
    assertThat(used.get("secrets")).doesNotContain("get", "list", "watch", "patch", "update");
  }

  /** Resource (with subresource) to the RBAC verbs the requests need. */
  static Map<String, Set<String>> verbs(List<MockKubernetes.Request> requests) {
    Pattern path = Pattern.compile("/api/v1/namespaces/[^/]+/([^/]+)(/([^/]+)(/([^/]+))?)?");
    Map<String, Set<String>> out = new TreeMap<>();
    for (MockKubernetes.Request r : requests) {
      Matcher m = path.matcher(r.pathWithoutQuery());
      assertThat(m.matches()).as("a namespaced core API request: %s", r).isTrue();
      String resource = m.group(5) == null ? m.group(1) : m.group(1) + "/" + m.group(5);
      boolean named = m.group(3) != null;
      String verb =
          switch (r.method()) {
            case "GET" -> named ? "get" : r.query().contains("watch=true") ? "watch" : "list";
            case "POST" -> "create";
            case "PUT" -> "update";
            case "PATCH" -> "patch";
            case "DELETE" -> named ? "delete" : "deletecollection";
            default -> throw new AssertionError("unexpected method in " + r);
          };
      out.computeIfAbsent(resource, k -> new TreeSet<>()).add(verb);
    }
    return out;
  }

  /** The rules of the Role in the README: resource to verbs. */
  static Map<String, Set<String>> readmeRole() throws IOException {
    String readme = Files.readString(Path.of("README.md"));
    int start = readme.indexOf("kind: Role");
    assertThat(start).as("the README shows a Role").isNotNegative();
    String role = readme.substring(start, readme.indexOf("```", start));
    Matcher m =
        Pattern.compile("resources: \\[([^\\]]+)\\][^\\n]*\\n\\s*verbs: \\[([^\\]]+)\\]").matcher(role);
    Map<String, Set<String>> out = new TreeMap<>();
    while (m.find()) {
      Set<String> verbs = new TreeSet<>(List.of(m.group(2).split(",\\s*")));
      for (String resource : m.group(1).split(",\\s*")) {
        out.computeIfAbsent(resource, k -> new TreeSet<>()).addAll(verbs);
      }
    }
    return out;
  }
}
