package dev.shepherd.pool;

import java.util.concurrent.CompletableFuture;
import org.jspecify.annotations.Nullable;

/**
 * One call in flight on a runner: part of the {@link Backend} service provider interface.
 *
 * <p>Implementations must be thread-safe.
 */
public interface RunningCall {

  /**
   * Returns the future of the call's outcome; see {@link RunnerHandle#start} for how it completes.
   * Callers of the pool never see this future: the pool completes its own.
   *
   * @return the outcome, completed only when the work has ended on the runner
   */
  CompletableFuture<@Nullable Object> result();

  /**
   * Asks the runner to stop the work (on a JVM: interrupt its thread). Idempotent; returns without
   * waiting. {@link #result()} completes when the work has actually stopped.
   */
  void cancel();
}
