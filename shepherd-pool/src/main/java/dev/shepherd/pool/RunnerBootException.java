package dev.shepherd.pool;

import dev.shepherd.core.ShepherdException;
import org.jspecify.annotations.Nullable;

/**
 * Reports that a runner could not be booted: the backend failed, or the runner was not ready
 * within the boot timeout. Callers see it as the cause of a {@link CallTimeoutException}; hooks and
 * events see it directly.
 */
public class RunnerBootException extends ShepherdException {

  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param message what failed, naming the pool and runner
   * @param cause the backend's failure, or null
   */
  public RunnerBootException(String message, @Nullable Throwable cause) {
    super(message, cause);
  }
}
