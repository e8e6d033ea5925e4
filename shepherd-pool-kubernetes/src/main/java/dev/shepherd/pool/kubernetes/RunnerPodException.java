package dev.shepherd.pool.kubernetes;

import dev.shepherd.core.ShepherdException;

/**
 * Reports that a runner's Pod ended or cannot start: it failed, its runner container exited, its
 * image cannot be pulled, or it was deleted. The pool sees it as the cause of a runner's death
 * ({@code RunnerDiedException}) or of a failed boot ({@code RunnerBootException}).
 */
public class RunnerPodException extends ShepherdException {

  private static final long serialVersionUID = 1L;

  private final String runnerId;
  private final String namespace;
  private final String podName;

  /**
   * Creates the exception.
   *
   * @param runnerId the runner's id in its pool
   * @param namespace the Pod's namespace
   * @param podName the Pod's name
   * @param message what happened, naming the Pod and the reason Kubernetes gave
   */
  public RunnerPodException(String runnerId, String namespace, String podName, String message) {
    super(message);
    this.runnerId = runnerId;
    this.namespace = namespace;
    this.podName = podName;
  }

  /**
   * Returns the runner's id.
   *
   * @return the id given by the pool
   */
  public String runnerId() {
    return runnerId;
  }

  /**
   * Returns the Pod's namespace.
   *
   * @return the namespace
   */
  public String namespace() {
    return namespace;
  }

  /**
   * Returns the Pod's name.
   *
   * @return the name
   */
  public String podName() {
    return podName;
  }
}
