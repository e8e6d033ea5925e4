package dev.shepherd.pool.spi;

/**
 * Where a {@link Backend} reports that a runner has ended: part of the backend service provider
 * interface.
 */
@FunctionalInterface
public interface RunnerListener {

  /**
   * Reports that the runner has ended, for whatever reason (crash, kill, lost connection, a
   * shutdown it was asked for). Backends call it at most once per runner, from any thread, and
   * never while holding a lock the pool could need.
   *
   * @param cause what ended it; for a requested shutdown, a plain exception saying so
   */
  void runnerDied(Throwable cause);
}
