package dev.shepherd.cache;

/**
 * A snapshot of a {@link CoalescingCache}'s counters since it was built.
 *
 * <p>Each counter is read separately without a lock, so a snapshot taken while callers are active
 * may be off by the operations in progress; every counter only grows.
 *
 * @param hits fetches answered from storage with a fresh value ({@link Fetched.Source#HIT})
 * @param loads loader runs
 * @param joins fetches that waited on a load another caller had started
 * @param failures loader runs that failed (a thrown error, {@link Load#fail}, a null value, or a load
 *     timeout)
 * @param cachedFailures fetches answered by a failure kept by negative caching, without a load
 * @param timeouts waiting callers that gave up because their own timeout passed
 * @param abandonedLoads loads cancelled because every waiter left
 * @param staleAnswers answers with an expired value because a load failed
 *     ({@link Fetched.Source#STALE})
 */
public record CacheStats(
    long hits,
    long loads,
    long joins,
    long failures,
    long cachedFailures,
    long timeouts,
    long abandonedLoads,
    long staleAnswers) {}
