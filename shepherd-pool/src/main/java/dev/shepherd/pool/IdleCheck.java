package dev.shepherd.pool;

/**
 * An extra condition for retiring a runner that has been idle past {@code idleShutdownAfter}: the
 * runner retires only if this also says it is idle (for example, while it holds no open files or
 * no placed child of its own).
 * Runs in the parent, outside the pool's lock, on a virtual thread the housekeeping sweep starts,
 * one round of checks at a time: a check that blocks delays only idle retirement, never a
 * deadline.
 */
@FunctionalInterface
public interface IdleCheck {

  /**
   * Returns whether the runner may retire.
   *
   * @param runnerId the runner's id
   * @return true to retire it now, false to check again later
   */
  boolean isIdle(String runnerId);
}
