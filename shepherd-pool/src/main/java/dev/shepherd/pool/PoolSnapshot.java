package dev.shepherd.pool;

import java.util.List;

/**
 * A consistent picture of an {@link ElasticPool} at one moment, taken under the pool's lock.
 *
 * @param name the pool's name
 * @param min the current minimum number of runners
 * @param max the current maximum number of runners
 * @param maxConcurrency calls per runner at once
 * @param ready runners taking calls
 * @param draining runners finishing their calls before they shut down
 * @param booting runners being booted
 * @param busySlots calls and placed children running, on all runners
 * @param waiters callers waiting for a slot
 * @param boots runners booted successfully since the pool started
 * @param bootFailures boots that failed since the pool started
 * @param deaths runners that died without being retired by the pool since it started
 * @param runners every ready and draining runner
 * @param stuckCalls calls that ignored their cancel past the grace period on a backend that cannot
 *     stop them (the local backend): their slots were freed, their threads still run
 */
public record PoolSnapshot(
    String name,
    int min,
    int max,
    int maxConcurrency,
    int ready,
    int draining,
    int booting,
    int busySlots,
    int waiters,
    long boots,
    long bootFailures,
    long deaths,
    List<RunnerInfo> runners,
    int stuckCalls) {

  /**
   * Copies the runner list.
   *
   * @throws NullPointerException if {@code name} or {@code runners} is null
   */
  public PoolSnapshot {
    runners = List.copyOf(runners);
  }
}
