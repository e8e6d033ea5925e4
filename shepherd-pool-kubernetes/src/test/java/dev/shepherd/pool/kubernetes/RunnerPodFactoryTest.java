package dev.shepherd.pool.kubernetes;

import dev.shepherd.pool.RunnerMain;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.PodTemplateSpecBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class RunnerPodFactoryTest {

  @RegisterExtension final KubernetesApiServer api = new KubernetesApiServer();

  private static PodTemplateSpec template() {
    return new PodTemplateSpecBuilder()
        .withNewMetadata()
        .addToLabels("team", "reports")
        .addToAnnotations("note", "kept")
        .endMetadata()
        .withNewSpec()
        .withRestartPolicy("Always")
        .addNewContainer()
        .withName("runner")
        .addNewEnv()
        .withName("SHEPHERD_POOL_SECRET")
        .withValue("stale")
        .endEnv()
        .addNewEnv()
        .withName("JAVA_OPTS")
        .withValue("-Xmx256m")
        .endEnv()
        .withNewResources()
        .addToLimits("memory", new Quantity("512Mi"))
        .endResources()
        .endContainer()
        .endSpec()
        .build();
  }

  private static RunnerPodFactory factory(PodTemplateSpec template, String container) {
    return new RunnerPodFactory(
        template,
        container,
        "img:2",
        "apps",
        new ParentPod("apps", "web-1", "uid-1", null).ownerReference(),
        Map.of(RunnerPodFactory.LABEL_POOL, "reports"),
        Map.of(),
        null,
        null);
  }

  private static Container container(Pod pod, String name) {
    return pod.getSpec().getContainers().stream()
        .filter(c -> c.getName().equals(name))
        .findFirst()
        .orElseThrow();
  }

  @Test
  void runnerGetsNoServiceAccountTokenUnlessTheTemplateSetsIt() {
    Pod unset = factory(template(), "runner").create("reports-1-abc", "reports-1", Map.of());
    PodTemplateSpec asks = new PodTemplateSpecBuilder(template()).editSpec()
        .withServiceAccountName("reports-runner").withAutomountServiceAccountToken(true).endSpec().build();
    Pod wanted = factory(asks, "runner").create("reports-1-abc", "reports-1", Map.of());

    assertThat(unset.getSpec().getAutomountServiceAccountToken()).isFalse();
    assertThat(wanted.getSpec().getAutomountServiceAccountToken()).isTrue();
    assertThat(wanted.getSpec().getServiceAccountName()).isEqualTo("reports-runner");
  }

  @Test
  void podHasNameNamespaceLabelsAndTheParentAsControllingOwner() {
    Pod pod = factory(template(), "runner").create("reports-1-abc", "reports/1", Map.of());

    assertThat(pod.getMetadata().getName()).isEqualTo("reports-1-abc");
    assertThat(pod.getMetadata().getNamespace()).isEqualTo("apps");
    assertThat(pod.getMetadata().getLabels())
        .containsEntry("team", "reports")
        .containsEntry(RunnerPodFactory.LABEL_POOL, "reports")
        .containsEntry(RunnerPodFactory.LABEL_RUNNER, KubernetesNames.toLabelValue("reports/1"));
    assertThat(pod.getMetadata().getLabels().get(RunnerPodFactory.LABEL_RUNNER)).matches("reports_1-[0-9a-f]{8}");
    assertThat(pod.getMetadata().getAnnotations())
        .containsEntry("note", "kept")
        .containsEntry(RunnerPodFactory.ANNOTATION_RUNNER_ID, "reports/1");
    assertThat(pod.getMetadata().getOwnerReferences())
        .singleElement()
        .satisfies(
            o -> {
              assertThat(o.getApiVersion()).isEqualTo("v1");
              assertThat(o.getKind()).isEqualTo("Pod");
              assertThat(o.getName()).isEqualTo("web-1");
              assertThat(o.getUid()).isEqualTo("uid-1");
              assertThat(o.getController()).isTrue();
              assertThat(o.getBlockOwnerDeletion()).isTrue();
            });
  }

  @Test
  void runnerContainerGetsImageEnvironmentAndKeepsTemplateResources() {
    Pod pod =
        factory(template(), "runner")
            .create("p", "r1", Map.of("SHEPHERD_POOL_SECRET", "s3cret", "SHEPHERD_POOL_PARENT", "10.0.0.7:4100"));

    Container c = container(pod, "runner");
    assertThat(c.getImage()).isEqualTo("img:2");
    assertThat(c.getEnv())
        .extracting(EnvVar::getName, EnvVar::getValue)
        .containsExactlyInAnyOrder(
            org.assertj.core.groups.Tuple.tuple("JAVA_OPTS", "-Xmx256m"),
            org.assertj.core.groups.Tuple.tuple("SHEPHERD_POOL_SECRET", null),
            org.assertj.core.groups.Tuple.tuple("SHEPHERD_POOL_PARENT", "10.0.0.7:4100"));
    // The secret is a reference to the Secret named like the Pod, never its value.
    EnvVar secret = c.getEnv().stream().filter(v -> v.getName().equals("SHEPHERD_POOL_SECRET")).findFirst().orElseThrow();
    assertThat(secret.getValueFrom().getSecretKeyRef().getName()).isEqualTo("p");
    assertThat(secret.getValueFrom().getSecretKeyRef().getKey()).isEqualTo("secret");
    assertThat(io.fabric8.kubernetes.client.utils.Serialization.asJson(pod)).doesNotContain("s3cret");
    assertThat(c.getResources().getLimits()).containsEntry("memory", new Quantity("512Mi"));
  }

  @Test
  void restartPolicyIsAlwaysNever() {
    Pod pod = factory(template(), "runner").create("p", "r1", Map.of());

    assertThat(pod.getSpec().getRestartPolicy()).isEqualTo("Never");
  }

  @Test
  void creatingAPodLeavesTheTemplateUntouched() {
    PodTemplateSpec template = template();
    PodTemplateSpec before = new PodTemplateSpecBuilder(template).build();

    factory(template, "runner").create("p", "r1", Map.of("SHEPHERD_POOL_SECRET", "s3cret"));

    assertThat(template).isEqualTo(before);
  }

  @Test
  void commandAndArgsOverrideTheTemplate() {
    RunnerPodFactory f =
        new RunnerPodFactory(
            template(),
            "runner",
            "img",
            "apps",
            null,
            Map.of(),
            Map.of(),
            List.of("java"),
            List.of("-cp", "/app/lib/*", "dev.shepherd.pool.RunnerMain"));

    Container c = container(f.create("p", "r1", Map.of()), "runner");

    assertThat(c.getCommand()).containsExactly("java");
    assertThat(c.getArgs()).containsExactly("-cp", "/app/lib/*", "dev.shepherd.pool.RunnerMain");
  }

  @Test
  void templateFromParentKeepsOnlyTheRunnerContainerWithoutProbesPortsOrLabels() {
    Pod parent = api.createParent();

    PodTemplateSpec t = RunnerPodFactory.fromParent(parent, "web");

    assertThat(t.getMetadata().getLabels()).isNullOrEmpty();
    assertThat(t.getSpec().getInitContainers()).isEmpty();
    assertThat(t.getSpec().getNodeName()).isNull();
    assertThat(t.getSpec().getServiceAccountName()).isEqualTo("web");
    assertThat(t.getSpec().getContainers()).singleElement().satisfies(c -> {
      assertThat(c.getName()).isEqualTo("web");
      assertThat(c.getImage()).isEqualTo(KubernetesApiServer.PARENT_IMAGE);
      assertThat(c.getCommand()).containsExactly("java", "-jar", "/app/web.jar");
      assertThat(c.getReadinessProbe()).isNull();
      assertThat(c.getPorts()).isEmpty();
      assertThat(c.getResources().getRequests()).containsEntry("cpu", new Quantity("500m"));
    });
  }

  @Test
  void unknownContainerIsNamedWithTheContainersThereAre() {
    Pod parent = api.createParent();

    assertThatThrownBy(() -> RunnerPodFactory.fromParent(parent, "app"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("\"app\"")
        .hasMessageContaining("[\"web\", \"envoy\"]");
  }
}
