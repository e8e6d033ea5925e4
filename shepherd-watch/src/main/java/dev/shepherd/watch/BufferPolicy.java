package dev.shepherd.watch;

import dev.shepherd.core.internal.Require;

/**
 * How many undelivered updates a subscription keeps while its sink is busy: the newest
 * {@link #capacity()} ones; older ones are replaced, and the update that replaces them says how
 * many in {@link WatchEvent.Update#replaced()}.
 *
 * <p>Because of this bound, a slow sink never slows the key's loop or other subscriptions, and a
 * subscription's memory never grows with the backlog. The default, {@link #latestOnly()}, keeps one
 * update: a watcher of configuration or service lists only needs the current state. Immutable.
 */
public final class BufferPolicy {

  private static final BufferPolicy LATEST_ONLY = new BufferPolicy(1);

  private final int capacity;

  private BufferPolicy(int capacity) {
    this.capacity = capacity;
  }

  /**
   * Returns the default policy: keep only the newest undelivered update.
   *
   * @return the latest-only policy
   */
  public static BufferPolicy latestOnly() {
    return LATEST_ONLY;
  }

  /**
   * Returns a policy that keeps the newest {@code capacity} undelivered updates.
   *
   * @param capacity between 1 and 65,536
   * @return the policy
   * @throws IllegalArgumentException if {@code capacity} is outside {@code [1, 65536]}
   */
  public static BufferPolicy newest(int capacity) {
    Require.inRange(capacity, 1, 65_536, "capacity");
    return capacity == 1 ? LATEST_ONLY : new BufferPolicy(capacity);
  }

  /**
   * Returns how many undelivered updates are kept.
   *
   * @return the capacity, at least 1
   */
  public int capacity() {
    return capacity;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof BufferPolicy other && other.capacity == capacity;
  }

  @Override
  public int hashCode() {
    return capacity;
  }

  @Override
  public String toString() {
    return capacity == 1 ? "BufferPolicy.latestOnly()" : "BufferPolicy.newest(" + capacity + ")";
  }
}
