package dev.shepherd.pool;

/**
 * One runner in a {@link PoolSnapshot}.
 *
 * @param id the runner's id
 * @param state its state (never {@link RunnerState#DEAD}: dead runners are not listed)
 * @param busySlots calls and placed children running on it
 */
public record RunnerInfo(String id, RunnerState state, int busySlots) {}
