package dev.shepherd.pool.kubernetes;

import io.fabric8.kubernetes.api.model.ContainerStateTerminated;
import io.fabric8.kubernetes.api.model.ContainerStateWaiting;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.PodStatus;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * What the Kubernetes API says about a runner Pod, reduced to what the backend acts on: waiting to
 * start, running, unable to start, ended, or removed.
 */
sealed interface PodState {

  /** Whether the runner in this Pod is over for good. */
  default boolean isFinal() {
    return this instanceof Ended || this instanceof Terminating || this instanceof Gone;
  }

  /** Scheduled or not, containers not running yet; {@code detail} says why, for boot errors. */
  record Pending(String detail) implements PodState {}

  /** The runner container is running. */
  record Running() implements PodState {}

  /**
   * The runner container, or an init container before it, cannot start without outside help (bad
   * image, missing secret).
   */
  record CannotStart(String reason) implements PodState {}

  /** The Pod failed or succeeded, or the runner container terminated. */
  record Ended(String reason) implements PodState {}

  /** The Pod is being deleted (it has a deletion timestamp): its runner is as good as gone. */
  record Terminating() implements PodState {}

  /** The Pod is no longer in the API (deleted). */
  record Gone() implements PodState {}

  /** Waiting reasons after which the kubelet will not start the container by itself soon. */
  Set<String> CANNOT_START =
      Set.of(
          "ErrImagePull",
          "ImagePullBackOff",
          "InvalidImageName",
          "ErrImageNeverPull",
          "CreateContainerConfigError",
          "CreateContainerError",
          "RunContainerError");

  /**
   * Classifies a Pod.
   *
   * @param pod the Pod as the API returned it
   * @param containerName the runner container
   * @return its state
   */
  static PodState of(Pod pod, String containerName) {
    if (pod.getMetadata() != null && pod.getMetadata().getDeletionTimestamp() != null) {
      return new Terminating();
    }
    PodStatus status = pod.getStatus();
    String phase = status == null || status.getPhase() == null ? "Pending" : status.getPhase();
    ContainerStatus cs = null;
    if (status != null && status.getContainerStatuses() != null) {
      for (ContainerStatus s : status.getContainerStatuses()) {
        if (containerName.equals(s.getName())) {
          cs = s;
        }
      }
    }
    if (status != null && (phase.equals("Failed") || phase.equals("Succeeded"))) {
      StringBuilder why = new StringBuilder("Pod ").append(phase.toLowerCase(Locale.ROOT));
      append(why, status.getReason(), status.getMessage());
      if (cs != null && cs.getState() != null && cs.getState().getTerminated() != null) {
        why.append("; ").append(terminated(cs.getState().getTerminated()));
      }
      return new Ended(why.toString());
    }
    // An init container that cannot start keeps the runner container from ever starting.
    if (status != null && status.getInitContainerStatuses() != null) {
      for (ContainerStatus init : status.getInitContainerStatuses()) {
        ContainerStateWaiting w = init.getState() == null ? null : init.getState().getWaiting();
        if (w != null && w.getReason() != null && CANNOT_START.contains(w.getReason())) {
          StringBuilder why = new StringBuilder("init container \"").append(init.getName()).append("\" cannot start");
          append(why, w.getReason(), w.getMessage());
          return new CannotStart(why.toString());
        }
      }
    }
    if (cs != null && cs.getState() != null) {
      if (cs.getState().getTerminated() != null) {
        return new Ended(terminated(cs.getState().getTerminated()));
      }
      ContainerStateWaiting waiting = cs.getState().getWaiting();
      if (waiting != null && waiting.getReason() != null && CANNOT_START.contains(waiting.getReason())) {
        StringBuilder why = new StringBuilder("container \"").append(containerName).append("\" cannot start");
        append(why, waiting.getReason(), waiting.getMessage());
        return new CannotStart(why.toString());
      }
      if (cs.getState().getRunning() != null) {
        return new Running();
      }
    }
    if (phase.equals("Running") && cs == null) {
      return new Running();
    }
    StringBuilder why = new StringBuilder("Pod ").append(phase);
    List<PodCondition> conditions = status == null ? null : status.getConditions();
    if (conditions != null) {
      for (PodCondition c : conditions) {
        if ("False".equals(c.getStatus()) && c.getReason() != null) {
          why.append("; ").append(c.getType()).append(" False");
          append(why, c.getReason(), c.getMessage());
        }
      }
    }
    if (cs != null && cs.getState() != null && cs.getState().getWaiting() != null) {
      why.append("; container waiting");
      append(why, cs.getState().getWaiting().getReason(), cs.getState().getWaiting().getMessage());
    }
    return new Pending(why.toString());
  }

  private static String terminated(ContainerStateTerminated t) {
    StringBuilder why = new StringBuilder("container exited with code ").append(t.getExitCode());
    append(why, t.getReason(), t.getMessage());
    return why.toString();
  }

  private static void append(StringBuilder why, @Nullable String reason, @Nullable String message) {
    if (reason != null && !reason.isEmpty()) {
      why.append(": ").append(reason);
    }
    if (message != null && !message.isEmpty()) {
      why.append(" (").append(message).append(')');
    }
  }
}
