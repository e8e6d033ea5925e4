package dev.shepherd.pool.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class KubernetesBackendBuilderTest {

  @RegisterExtension final KubernetesApiServer api = new KubernetesApiServer();

  private static final Map<String, String> IN_POD =
      Map.of(
          "POD_NAME", KubernetesApiServer.PARENT_NAME,
          "POD_NAMESPACE", KubernetesApiServer.NAMESPACE,
          "POD_IP", "10.1.2.3");

  private KubernetesBackend.Builder builder() {
    return KubernetesBackend.builder().client(api.client()).environment(IN_POD);
  }

  private static Pod template() {
    return new PodBuilder()
        .withNewSpec()
        .addNewContainer()
        .withName("runner")
        .withImage("img:1")
        .endContainer()
        .addNewContainer()
        .withName("sidecar")
        .endContainer()
        .endSpec()
        .build();
  }

  @Test
  void theListenerBindsThePodIpWhenTheParentHostIsANameNeverEveryInterface() {
    KubernetesBackend b =
        builder()
            .environment(Map.of("POD_NAME", KubernetesApiServer.PARENT_NAME, "POD_NAMESPACE",
                KubernetesApiServer.NAMESPACE, "POD_IP", "127.0.0.1"))
            .parentHost("web.apps.svc.cluster.local")
            .functions(TestFunctions.class)
            .build();
    try (b) {
      assertThat(b.address().getAddress().getHostAddress()).isEqualTo("127.0.0.1");
      assertThat(b.advertisedAddress()).startsWith("web.apps.svc.cluster.local:");
    }
    assertThatThrownBy(() ->
            builder()
                .environment(Map.of("POD_NAME", KubernetesApiServer.PARENT_NAME))
                .parentHost("web.apps.svc.cluster.local")
                .functions(TestFunctions.class)
                .build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("POD_IP")
        .hasMessageContaining("bindAddress(..)");
    assertThatThrownBy(() ->
            builder()
                .bindAddress(new java.net.InetSocketAddress(0).getAddress())
                .functions(TestFunctions.class)
                .build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("every interface");
  }

  @Test
  void downwardApiVariablesNameTheParentNamespaceAndHost() {
    KubernetesSettings s =
        builder().environment(Map.of("POD_NAME", "web-1", "POD_NAMESPACE", "shop", "POD_UID", "u-1", "POD_IP", "10.0.0.9")).settings();

    assertThat(s.parentName()).isEqualTo("web-1");
    assertThat(s.parentUid()).isEqualTo("u-1");
    assertThat(s.namespace()).isEqualTo("shop");
    assertThat(s.parentHost()).isEqualTo("10.0.0.9");
  }

  @Test
  void downwardApiVariableNamesAreConfigurable() {
    KubernetesSettings s =
        builder()
            .environment(Map.of("MY_POD", "web-2", "MY_NS", "shop", "MY_UID", "u-2", "MY_IP", "10.0.0.8"))
            .downwardApiVariables("MY_POD", "MY_NS", "MY_UID")
            .podIpVariable("MY_IP")
            .settings();

    assertThat(s.parentName()).isEqualTo("web-2");
    assertThat(s.parentUid()).isEqualTo("u-2");
    assertThat(s.namespace()).isEqualTo("shop");
    assertThat(s.parentHost()).isEqualTo("10.0.0.8");
  }

  @Test
  void namespaceDefaultsToTheClientsOutsideAPod() {
    KubernetesSettings s = builder().environment(Map.of()).withoutOwner().image("img").parentHost("h").settings();

    assertThat(s.namespace()).isEqualTo(KubernetesApiServer.NAMESPACE);
    assertThat(s.parentName()).isNull();
  }

  @Test
  void missingClientIsNamed() {
    assertThatThrownBy(() -> KubernetesBackend.builder().environment(IN_POD).build())
        .isInstanceOf(NullPointerException.class)
        .hasMessage("client must not be null");
  }

  @Test
  void missingFunctionsClassIsNamed() {
    assertThatThrownBy(() -> builder().build())
        .isInstanceOf(NullPointerException.class)
        .hasMessage("functions must not be null");
  }

  @Test
  void portOutOfRangeIsNamed() {
    assertThatThrownBy(() -> builder().port(70_000))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("port")
        .hasMessageContaining("70000");
  }

  @Test
  void missingPodNameVariableIsNamedWithTheWaysOut() {
    assertThatThrownBy(() -> builder().environment(Map.of("POD_IP", "10.0.0.1")).build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("POD_NAME")
        .hasMessageContaining("parentPod(name, uid)")
        .hasMessageContaining("withoutOwner()");
  }

  @Test
  void missingPodIpVariableIsNamed() {
    assertThatThrownBy(() -> builder().environment(Map.of("POD_NAME", "web-1")).build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("POD_IP")
        .hasMessageContaining("parentHost(..)");
  }

  @Test
  void namespaceOtherThanTheParentsIsRejected() {
    assertThatThrownBy(() -> builder().namespace("batch").build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("\"batch\"")
        .hasMessageContaining("\"" + KubernetesApiServer.NAMESPACE + "\"");
  }

  @Test
  void namespaceThatIsNotADnsLabelIsNamed() {
    assertThatThrownBy(() -> builder().namespace("Team_A"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("\"Team_A\"");
  }

  @Test
  void containerNameMissingFromTheTemplateIsNamedWithTheContainers() {
    assertThatThrownBy(() -> builder().podTemplate(template()).containerName("worker").build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("\"worker\"")
        .hasMessageContaining("[\"runner\", \"sidecar\"]");
  }

  @Test
  void templateWithoutContainersIsRejected() {
    assertThatThrownBy(() -> builder().podTemplate(new PodBuilder().withNewSpec().endSpec().build()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("at least one container");
  }

  @Test
  void blankImageIsNamed() {
    assertThatThrownBy(() -> builder().image(" "))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("image");
  }

  @Test
  void emptyCommandIsRejected() {
    assertThatThrownBy(() -> builder().command(List.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("command");
  }

  @Test
  void reservedLabelKeyIsRejected() {
    assertThatThrownBy(() -> builder().label("shepherd.dev/pool", "x"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("\"shepherd.dev/pool\" is reserved");
  }

  @Test
  void invalidLabelValueIsNamed() {
    assertThatThrownBy(() -> builder().label("team", "reports team"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("\"reports team\"");
  }

  @Test
  void invalidLabelKeyIsNamed() {
    assertThatThrownBy(() -> builder().annotation("Bad Key", "x"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("\"Bad Key\"");
  }

  @Test
  void withoutOwnerNeedsAnImage() {
    assertThatThrownBy(() -> builder().withoutOwner().build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("image(..)");
  }

  @Test
  void emptyParentPodNameIsNamed() {
    assertThatThrownBy(() -> builder().parentPod("", null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("parentPod name");
  }

  @Test
  void parentPodIsReadForItsUidWhenTheDownwardApiGivesNone() {
    Pod parent = api.createParent();

    ParentPod resolved = builder().settings().resolveParent();

    assertThat(resolved.uid()).isEqualTo(parent.getMetadata().getUid());
    assertThat(resolved.pod()).isNotNull();
  }

  @Test
  void parentPodIsNotReadWhenNothingIsMissing() {
    ParentPod resolved = builder().parentPod("web-1", "u-1").podTemplate(template()).settings().resolveParent();

    assertThat(resolved).isEqualTo(new ParentPod(KubernetesApiServer.NAMESPACE, "web-1", "u-1", null));
  }

  @Test
  void missingParentPodIsReported() {
    assertThatThrownBy(() -> builder().settings().resolveParent())
        .isInstanceOf(KubernetesApiException.class)
        .hasMessageContaining(KubernetesApiServer.NAMESPACE + "/" + KubernetesApiServer.PARENT_NAME)
        .hasMessageContaining("does not exist");
  }

  @Test
  void parentPodReplacedByAnotherOfTheSameNameIsReported() {
    api.createParent();

    assertThatThrownBy(() -> builder().parentPod(KubernetesApiServer.PARENT_NAME, "old-uid").settings().resolveParent())
        .isInstanceOf(KubernetesApiException.class)
        .hasMessageContaining("not old-uid");
  }
}
