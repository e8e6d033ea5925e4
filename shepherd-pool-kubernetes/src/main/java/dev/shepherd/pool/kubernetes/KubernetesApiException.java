package dev.shepherd.pool.kubernetes;

import dev.shepherd.core.ShepherdException;
import org.jspecify.annotations.Nullable;

/**
 * Reports that the Kubernetes API refused or failed a request the backend needs: reading the
 * parent Pod, watching or creating runner Pods. The cause is fabric8's exception (for a
 * {@code KubernetesClientException}, its HTTP code tells a missing permission (403) from a missing
 * object (404)).
 */
public class KubernetesApiException extends ShepherdException {

  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param message what the backend was doing, naming the namespace and object
   * @param cause the client's failure, or null
   */
  public KubernetesApiException(String message, @Nullable Throwable cause) {
    super(message, cause);
  }
}
