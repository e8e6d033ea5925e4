package dev.shepherd.cache;

import dev.shepherd.core.ShepherdException;

/**
 * Thrown to a caller of {@link CoalescingCache#fetch fetch} when the load it waited on failed, or
 * when a failure kept by {@link CoalescingCache.Builder#cacheFailuresFor negative caching} answers
 * it.
 *
 * <p>One load failure reaches every waiter, each as its own instance: the {@linkplain #getCause()
 * cause} is the loader's error (the same object for every waiter), and the stack trace is the
 * waiting caller's own, so a log shows where each caller was when the load it depended on failed
 * (Cachex's {@code ExecutionError} carries the caller's stack the same way). For
 * {@link CoalescingCache#fetchAsync fetchAsync} the stack is that of the thread that completed the
 * future.
 */
public final class LoadFailedException extends ShepherdException {

  private static final long serialVersionUID = 1L;

  LoadFailedException(Object key, Throwable cause) {
    super(message(key, cause), cause);
  }

  /**
   * One waiter's exception with a message built once for the whole load: every waiter of a failed
   * load gets the same text, so only the stack trace (the waiter's own) is made per waiter.
   */
  LoadFailedException(Throwable cause, String message) {
    super(message, cause);
  }

  /** The message of every exception for one failure of {@code key}'s load. */
  static String message(Object key, Throwable cause) {
    return "load of key " + key + " failed: " + cause;
  }
}
