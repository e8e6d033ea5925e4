package dev.shepherd.pool.kubernetes;

import dev.shepherd.core.ShepherdException;
import io.fabric8.kubernetes.client.KubernetesClientException;
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

  /**
   * Says what went wrong with a request: for a refusal (HTTP 401 or 403) the permission the
   * service account needs, for anything else (the API server unreachable, a timeout, a server
   * error) the failure itself, without blaming permissions.
   *
   * @param failure the client's failure, or null
   * @param permission the verbs and resource the request needs, such as {@code "get on pods"}
   */
  static String describe(@Nullable Throwable failure, String permission) {
    int code = failure instanceof KubernetesClientException k ? k.getCode() : 0;
    String what = failure == null ? "unknown failure" : String.valueOf(failure.getMessage());
    if (code == 401 || code == 403) {
      return "HTTP " + code + ", the service account needs " + permission + " (" + what + ")";
    }
    if (code > 0) {
      return "HTTP " + code + " " + what;
    }
    return "the API server did not answer: " + (failure == null ? what : failure.toString());
  }
}
