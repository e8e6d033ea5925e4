package dev.shepherd.pool;

import java.time.Duration;

/**
 * Something that happened to an {@link ElasticPool}'s runners, delivered to the listener given to
 * {@link ElasticPoolBuilder#eventListener} (and, for growth and shrinking, to the hooks
 * {@code onGrowStart}, {@code onGrowEnd} and {@code onShrink}). Switch over it:
 *
 * <pre>{@code
 * switch (event) {
 *   case PoolEvent.BootStarted e -> log("booting " + e.runnerId());
 *   case PoolEvent.BootSucceeded e -> log("up in " + e.took());
 *   case PoolEvent.BootFailed e -> log("boot failed: " + e.cause());
 *   case PoolEvent.RunnerDied e -> log("died: " + e.cause());
 *   case PoolEvent.RunnerRetired e -> log("retired: " + e.reason());
 * }
 * }</pre>
 *
 * <p>Events are delivered on the thread that caused them (a boot thread, a caller, a housekeeping
 * thread), never under the pool's lock; a listener that throws is logged and ignored.
 */
public sealed interface PoolEvent {

  /**
   * Returns the pool's name.
   *
   * @return the name
   */
  String pool();

  /**
   * Returns the number of runners (ready, draining and booting) right after the event.
   *
   * @return the runner count
   */
  int count();

  /** The outcome of one boot, given to {@code onGrowEnd}. */
  sealed interface GrowResult extends PoolEvent {}

  /** A runner left the pool, given to {@code onShrink}. */
  sealed interface Shrink extends PoolEvent {
    /**
     * Returns the id of the runner that left.
     *
     * @return the runner id
     */
    String runnerId();
  }

  /**
   * A runner started booting ({@code onGrowStart}).
   *
   * @param pool the pool's name
   * @param runnerId the new runner's id
   * @param count runners after the event, counting this one
   */
  record BootStarted(String pool, String runnerId, int count) implements PoolEvent {}

  /**
   * A runner booted and takes calls.
   *
   * @param pool the pool's name
   * @param runnerId the runner's id
   * @param count runners after the event
   * @param took how long the boot took
   */
  record BootSucceeded(String pool, String runnerId, int count, Duration took)
      implements GrowResult {}

  /**
   * A boot failed; the pool retries after 1 s while callers still wait.
   *
   * @param pool the pool's name
   * @param runnerId the id the runner would have had
   * @param count runners after the event
   * @param cause why it failed
   */
  record BootFailed(String pool, String runnerId, int count, Throwable cause)
      implements GrowResult {}

  /**
   * A runner ended without the pool asking ({@code onShrink}); calls on it failed with {@link
   * RunnerDiedException}.
   *
   * @param pool the pool's name
   * @param runnerId the runner's id
   * @param count runners after the event
   * @param cause why it died, as reported by the backend
   */
  record RunnerDied(String pool, String runnerId, int count, Throwable cause)
      implements Shrink {}

  /**
   * The pool retired a runner ({@code onShrink}): it stops taking calls and shuts down once its
   * calls end.
   *
   * @param pool the pool's name
   * @param runnerId the runner's id
   * @param count runners after the event, not counting this one
   * @param reason why
   */
  record RunnerRetired(String pool, String runnerId, int count, RetireReason reason)
      implements Shrink {}

  /** Why the pool retired a runner. */
  enum RetireReason {
    /** It was idle past {@code idleShutdownAfter} (or {@code minIdleShutdownAfter}). */
    IDLE,
    /** {@link ElasticPool#resize(int, int)} lowered the maximum. */
    RESIZE,
    /** The pool is single-use and the runner's one call ended. */
    SINGLE_USE,
    /** {@link ElasticPool#close()}. */
    CLOSE
  }
}
