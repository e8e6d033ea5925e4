package dev.shepherd.watch;

import dev.shepherd.core.ShepherdException;
import org.jspecify.annotations.Nullable;

/**
 * A request of {@link ConsulClient} failed: the agent could not be reached, timed out, or answered
 * with an unexpected status or body. The message names the method, the path (never the ACL token)
 * and, for an HTTP error, the status and the start of the body.
 */
public final class ConsulException extends ShepherdException {

  private static final long serialVersionUID = 1L;

  private final int status;

  /**
   * Creates the exception.
   *
   * @param message what failed, naming the request
   * @param status the HTTP status, or 0 when no response arrived
   * @param cause the underlying failure, or null
   */
  public ConsulException(String message, int status, @Nullable Throwable cause) {
    super(message, cause);
    this.status = status;
  }

  /**
   * Returns the HTTP status of the failed response, or 0 when no response arrived.
   *
   * @return the status
   */
  public int status() {
    return status;
  }
}
