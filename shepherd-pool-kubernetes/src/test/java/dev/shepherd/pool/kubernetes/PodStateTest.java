package dev.shepherd.pool.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import org.junit.jupiter.api.Test;

class PodStateTest {

  private static PodBuilder pod(String phase) {
    return new PodBuilder().withNewMetadata().withName("p").endMetadata().withNewStatus().withPhase(phase).endStatus();
  }

  @Test
  void podWithoutStatusIsPending() {
    assertThat(PodState.of(new PodBuilder().withNewMetadata().withName("p").endMetadata().build(), "runner"))
        .isInstanceOf(PodState.Pending.class);
  }

  /** The runner container never starts while an init container cannot: no need to wait it out. */
  @Test
  void initContainerThatCannotBePulledMeansThePodCannotStart() {
    Pod pod =
        pod("Pending")
            .editStatus()
            .addNewInitContainerStatus()
            .withName("fetch-model")
            .withNewState()
            .withNewWaiting()
            .withReason("ImagePullBackOff")
            .withMessage("Back-off pulling image \"models:7\"")
            .endWaiting()
            .endState()
            .endInitContainerStatus()
            .addNewContainerStatus()
            .withName("runner")
            .withNewState()
            .withNewWaiting()
            .withReason("PodInitializing")
            .endWaiting()
            .endState()
            .endContainerStatus()
            .endStatus()
            .build();

    assertThat(PodState.of(pod, "runner"))
        .isEqualTo(
            new PodState.CannotStart(
                "init container \"fetch-model\" cannot start: ImagePullBackOff (Back-off pulling image \"models:7\")"));
  }

  @Test
  void unschedulablePodIsPendingWithTheSchedulersMessage() {
    Pod pod =
        pod("Pending")
            .editStatus()
            .addNewCondition()
            .withType("PodScheduled")
            .withStatus("False")
            .withReason("Unschedulable")
            .withMessage("0/3 nodes are available: 3 Insufficient cpu.")
            .endCondition()
            .endStatus()
            .build();

    assertThat(PodState.of(pod, "runner"))
        .isEqualTo(
            new PodState.Pending(
                "Pod Pending; PodScheduled False: Unschedulable (0/3 nodes are available: 3 Insufficient cpu.)"));
  }

  @Test
  void failedPhaseIsEndedWithTheExitCode() {
    Pod pod =
        pod("Failed")
            .editStatus()
            .addNewContainerStatus()
            .withName("runner")
            .withNewState()
            .withNewTerminated()
            .withExitCode(137)
            .withReason("OOMKilled")
            .endTerminated()
            .endState()
            .endContainerStatus()
            .endStatus()
            .build();

    PodState state = PodState.of(pod, "runner");

    assertThat(state.isFinal()).isTrue();
    assertThat(state)
        .isEqualTo(new PodState.Ended("Pod failed; container exited with code 137: OOMKilled"));
  }

  @Test
  void succeededPhaseIsEnded() {
    assertThat(PodState.of(pod("Succeeded").build(), "runner")).isInstanceOf(PodState.Ended.class);
  }

  @Test
  void terminatedRunnerContainerIsEndedEvenWhileASidecarKeepsThePodRunning() {
    Pod pod =
        pod("Running")
            .editStatus()
            .addNewContainerStatus()
            .withName("runner")
            .withNewState()
            .withNewTerminated()
            .withExitCode(1)
            .endTerminated()
            .endState()
            .endContainerStatus()
            .addNewContainerStatus()
            .withName("istio-proxy")
            .withNewState()
            .withNewRunning()
            .endRunning()
            .endState()
            .endContainerStatus()
            .endStatus()
            .build();

    assertThat(PodState.of(pod, "runner"))
        .isEqualTo(new PodState.Ended("container exited with code 1"));
  }

  @Test
  void imagePullBackOffCannotStart() {
    Pod pod =
        pod("Pending")
            .editStatus()
            .addNewContainerStatus()
            .withName("runner")
            .withNewState()
            .withNewWaiting()
            .withReason("ImagePullBackOff")
            .withMessage("Back-off pulling image \"nope:1\"")
            .endWaiting()
            .endState()
            .endContainerStatus()
            .endStatus()
            .build();

    assertThat(PodState.of(pod, "runner"))
        .isEqualTo(
            new PodState.CannotStart(
                "container \"runner\" cannot start: ImagePullBackOff (Back-off pulling image \"nope:1\")"));
  }

  @Test
  void containerCreatingIsPending() {
    Pod pod =
        pod("Pending")
            .editStatus()
            .addNewContainerStatus()
            .withName("runner")
            .withNewState()
            .withNewWaiting()
            .withReason("ContainerCreating")
            .endWaiting()
            .endState()
            .endContainerStatus()
            .endStatus()
            .build();

    assertThat(PodState.of(pod, "runner")).isInstanceOf(PodState.Pending.class);
  }

  @Test
  void runningContainerIsRunning() {
    Pod pod =
        pod("Running")
            .editStatus()
            .addNewContainerStatus()
            .withName("runner")
            .withNewState()
            .withNewRunning()
            .endRunning()
            .endState()
            .endContainerStatus()
            .endStatus()
            .build();

    assertThat(PodState.of(pod, "runner")).isEqualTo(new PodState.Running());
  }

  @Test
  void podBeingDeletedIsTerminating() {
    Pod pod = pod("Running").editMetadata().withDeletionTimestamp("2026-11-24T01:00:00Z").endMetadata().build();

    assertThat(PodState.of(pod, "runner")).isEqualTo(new PodState.Terminating());
  }
}
