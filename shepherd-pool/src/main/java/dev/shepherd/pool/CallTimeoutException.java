package dev.shepherd.pool;

import dev.shepherd.core.ShepherdException;
import org.jspecify.annotations.Nullable;

/**
 * Thrown when a call's deadline passes, either while it waited for a runner slot (then the cause,
 * if any, is the last boot failure of the pool) or while it ran on a runner (then the work on the
 * runner has been cancelled).
 */
public class CallTimeoutException extends ShepherdException {

  private static final long serialVersionUID = 1L;

  private final boolean started;

  /**
   * Creates the exception.
   *
   * @param message what timed out, naming the pool, the function and the timeout
   * @param started whether the call had started on a runner
   * @param cause the last boot failure if the call never started, or null
   */
  public CallTimeoutException(String message, boolean started, @Nullable Throwable cause) {
    super(message, cause);
    this.started = started;
  }

  /**
   * Returns whether the call had reached a runner before its deadline passed. If false, the
   * function never ran.
   *
   * @return true if it timed out while running, false if while waiting for a slot
   */
  public boolean started() {
    return started;
  }
}
