package dev.shepherd.pool;

/** The life-cycle state of one runner of an {@link ElasticPool}; see the pool's class comment. */
public enum RunnerState {
  /** The backend is booting it; it takes no calls yet. */
  BOOTING,
  /** It takes calls up to the pool's maxConcurrency. */
  READY,
  /** It takes no new calls; it is shut down when its running calls (and placed children) end. */
  DRAINING,
  /** It has ended; it is no longer listed. */
  DEAD
}
