package dev.shepherd.pool;

import dev.shepherd.core.ShepherdException;
import org.jspecify.annotations.Nullable;

/**
 * Thrown to every caller whose call was on a runner when the runner died (crashed, was killed,
 * lost its connection, or was killed by {@link ElasticPool#close()} after the shutdown timeout).
 * The call may or may not have had effects on the runner.
 */
public class RunnerDiedException extends ShepherdException {

  private static final long serialVersionUID = 1L;

  private final String runnerId;

  /**
   * Creates the exception.
   *
   * @param runnerId the runner that died
   * @param message what happened, naming the runner
   * @param cause why it died, as reported by the backend, or null
   */
  public RunnerDiedException(String runnerId, String message, @Nullable Throwable cause) {
    super(message, cause);
    this.runnerId = runnerId;
  }

  /**
   * Returns the id of the runner that died.
   *
   * @return the runner id
   */
  public String runnerId() {
    return runnerId;
  }
}
