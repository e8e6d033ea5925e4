package dev.shepherd.core;

import org.jspecify.annotations.Nullable;

/**
 * The root of every failure that Shepherd itself reports: a load that failed, a timeout, a store
 * that cannot be reached, a runner that died. Catch it to handle any of them.
 *
 * <p>Programming errors are not under this root: a null argument is a {@link NullPointerException},
 * a bad argument an {@link IllegalArgumentException}, a call in the wrong state an
 * {@link IllegalStateException}, as in the JDK. Every subclass is named after the condition it
 * reports (for example {@code LoadFailedException}) and its message names the key or resource.
 */
public class ShepherdException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  /**
   * Creates an exception with a message.
   *
   * @param message what went wrong, naming the key or resource involved
   */
  public ShepherdException(String message) {
    super(message);
  }

  /**
   * Creates an exception with a message and a cause.
   *
   * @param message what went wrong, naming the key or resource involved
   * @param cause the underlying failure, or null
   */
  public ShepherdException(String message, @Nullable Throwable cause) {
    super(message, cause);
  }

  /**
   * Creates an exception for subclasses that share one failure with many callers and fill in each
   * caller's own stack trace (see {@code LoadFailedException}).
   *
   * @param message what went wrong
   * @param cause the underlying failure, or null
   * @param writableStackTrace whether the stack trace is filled in
   */
  protected ShepherdException(String message, @Nullable Throwable cause, boolean writableStackTrace) {
    super(message, cause, true, writableStackTrace);
  }
}
