package dev.shepherd.pool.spi;

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

  /**
   * Gives up on a call that was cancelled and has not stopped within the pool's grace period
   * (it ignores interrupts). Returns true if the backend writes the call off: its slot may be
   * reused while the work still runs, and {@link #result()} completes whenever it ends; the pool
   * then counts it as stuck. Returns false (the default) if only stopping the whole runner ends
   * the work; the pool then kills the runner and replaces it.
   *
   * @return whether the call was written off
   */
  default boolean abandon() {
    return false;
  }
}
