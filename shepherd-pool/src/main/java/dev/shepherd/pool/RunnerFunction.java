package dev.shepherd.pool;

import org.jspecify.annotations.Nullable;

/**
 * A function that runs on a runner, registered by name in a {@link FunctionRegistry}.
 *
 * <p>On a remote runner the argument and the result pass through the pool's codec, so they are
 * limited to its types (null, Boolean, Integer, Long, Double, String, byte[], List, Map). The
 * function runs on a virtual thread of its own; when the caller's deadline passes or the caller
 * cancels, that thread is interrupted, so a long function should let {@link InterruptedException}
 * propagate (or check {@link Thread#isInterrupted()}). Whatever it throws reaches the caller as the
 * cause of a {@link CallFailedException}.
 */
@FunctionalInterface
public interface RunnerFunction {

  /**
   * Runs the function.
   *
   * @param argument the argument, possibly null
   * @return the result, possibly null
   * @throws Exception any failure; it is reported to the caller
   */
  @Nullable Object apply(@Nullable Object argument) throws Exception;
}
