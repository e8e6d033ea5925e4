package dev.shepherd.pool;

import dev.shepherd.core.ShepherdException;

/**
 * Thrown when the function threw on the runner. The cause is the runner-side exception: the
 * original {@link Throwable} for an in-process backend, a {@link RemoteException} carrying the
 * original's class name, message and stack trace for a remote one.
 */
public class CallFailedException extends ShepherdException {

  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param message what failed, naming the function and the runner
   * @param cause the runner-side exception
   */
  public CallFailedException(String message, Throwable cause) {
    super(message, cause);
  }
}
