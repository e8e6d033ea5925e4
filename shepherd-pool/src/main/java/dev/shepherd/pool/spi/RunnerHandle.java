package dev.shepherd.pool.spi;

import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * One booted runner as seen by the pool: part of the {@link Backend} service provider interface.
 *
 * <p>Implementations must be thread-safe: calls are started from many threads at once.
 */
public interface RunnerHandle {

  /**
   * Returns the runner's id, as given in {@link RunnerSpec#runnerId()}.
   *
   * @return the id
   */
  String id();

  /**
   * Starts one call on the runner.
   *
   * <p>The returned call's {@link RunningCall#result()} must complete only once the work has ended
   * on the runner: with the function's result, with a {@link dev.shepherd.pool.CallFailedException
   * CallFailedException} whose cause describes the runner-side exception, with a {@link
   * java.util.concurrent.CancellationException} once a cancelled call has stopped, or with a {@link
   * dev.shepherd.pool.RunnerDiedException RunnerDiedException}. The pool holds the call's slot
   * until then.
   *
   * @param function the registered name of the function
   * @param preparedArgument what {@link Backend#prepare(String, Object)} returned
   * @param timeout how long the call may run on the runner before the runner gives up by itself
   *     (a backstop: the pool cancels it at the caller's deadline anyway); {@code
   *     Duration.ofNanos(Long.MAX_VALUE)} or more for no limit
   * @return the running call
   */
  RunningCall start(String function, @Nullable Object preparedArgument, Duration timeout);

  /**
   * Retires the runner gracefully: it takes no new calls, lets running ones finish for at most
   * {@code timeout}, then ends. Returns without waiting. The backend reports the end through
   * {@link RunnerListener#runnerDied(Throwable)} like any other end.
   *
   * @param timeout how long running calls may still take
   */
  void shutdown(Duration timeout);

  /** Ends the runner at once (for a process: {@code destroyForcibly}). Returns without waiting. */
  void kill();
}
