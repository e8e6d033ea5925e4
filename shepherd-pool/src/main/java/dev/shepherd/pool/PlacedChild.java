package dev.shepherd.pool;

import java.util.concurrent.CompletableFuture;
import org.jspecify.annotations.Nullable;

/**
 * A long-lived task placed on a runner with {@link ElasticPool#placeChild}: it holds one slot of
 * its runner, and keeps the runner from idling out, until it ends or is cancelled.
 *
 * <p>Thread-safe.
 */
public interface PlacedChild {

  /**
   * Returns the id of the runner the task runs on.
   *
   * @return the runner id
   */
  String runnerId();

  /**
   * Returns the future of the task's end: its result, a {@link CallFailedException}, a {@link
   * RunnerDiedException}, or a {@link java.util.concurrent.CancellationException} after {@link
   * #cancel()}.
   *
   * @return the task's outcome
   */
  CompletableFuture<@Nullable Object> completion();

  /** Cancels the task on its runner (interrupts it). Idempotent; returns without waiting. */
  void cancel();
}
