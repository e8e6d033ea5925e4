package dev.shepherd.idempotency;

import java.time.Duration;

/**
 * The storage behind an {@link IdempotencyTracker}: one record per key, changed only by atomic
 * operations, so that trackers in many JVMs sharing one store agree on who owns a key.
 *
 * <p>Shepherd ships {@link InMemoryIdempotencyStore} (one JVM), {@link JdbcIdempotencyStore}
 * (PostgreSQL) and {@code RedisIdempotencyStore} (module shepherd-idempotency-redis). Each passes
 * the same contract tests, {@code IdempotencyStoreContract} in module
 * shepherd-idempotency-testkit: extend it to check a store of your own.
 *
 * <h2>Contract</h2>
 *
 * A record is absent, in progress (owned by a fencing token, with a lease), completed (a response)
 * or halted (a reason). Every operation is atomic per key. Time for leases and retention is the
 * store's own clock (the database server's, Redis's), so trackers on machines with skewed clocks
 * agree.
 *
 * <ul>
 *   <li>{@link #claim}: if the record is absent or its retention ran out, create it in progress
 *       with a new fencing token (larger than every token this store handed out before) and return
 *       {@link Tracked.Claimed}. If it is in progress with a live lease: {@link Tracked.InProgress}.
 *       If its lease ran out: with {@link OrphanPolicy#TAKE_OVER} claim it with a new token
 *       ({@code tookOver = true}); with {@link OrphanPolicy#HALT} turn it into halted ("owner
 *       vanished") and return {@link Tracked.Halted}. Completed: {@link Tracked.Completed};
 *       halted: {@link Tracked.Halted}. Whenever a live record holds another fingerprint:
 *       {@link Tracked.Mismatch} (before any other answer).
 *   <li>{@link #renew}, {@link #complete}, {@link #halt}, {@link #release}: act only if the
 *       record is in progress with exactly that token (even if its lease ran out, as long as no
 *       one took it over), and return whether they did. {@link #complete} and {@link #halt} on a
 *       record already completed (halted) with that same token change nothing and return true,
 *       so that a caller may retry one whose reply was lost.
 *   <li>A claim made with a claim id ({@link #claim(String, String, Duration, Duration,
 *       OrphanPolicy, String)}) can be released by that id ({@link #releaseClaim}) while it is
 *       in progress and nobody took it over, without knowing its token.
 *   <li>Every answer about a record reports the same {@code expiresAt}: the expiry is fixed when
 *       the record is written, not computed afresh per answer.
 *   <li>{@link #prune}: delete records whose retention ran out, at most {@code limit} of them.
 * </ul>
 *
 * Every failure to reach or use the store is an {@link IdempotencyStoreException}; an
 * implementation never turns a failure into an answer.
 *
 * <p>Implementations must be thread-safe.
 */
public interface IdempotencyStore extends AutoCloseable {

  /**
   * Claims a key, or reports its state (see the contract above).
   *
   * @param key the key, already validated by the tracker
   * @param fingerprint the request's fingerprint
   * @param lease how long the claim holds without renewal
   * @param retention how long a completed or halted record is kept (and, for a record in progress,
   *     how long after its lease ran out)
   * @param orphanPolicy what to do with a record whose lease ran out
   * @return the outcome
   * @throws IdempotencyStoreException if the store fails
   */
  Tracked claim(
      String key, String fingerprint, Duration lease, Duration retention, OrphanPolicy orphanPolicy);

  /**
   * Claims a key like {@link #claim(String, String, Duration, Duration, OrphanPolicy)}, and if it
   * creates or takes over the record, tags it with {@code claimId}, an id the caller made up for
   * this one claim attempt: if the reply is lost (a timeout after the store did write), the caller
   * can still free the key with {@link #releaseClaim(String, String)} instead of leaving an orphan
   * that blocks it for a whole lease (or, under {@link OrphanPolicy#HALT}, halts it). The default
   * ignores the id, for stores written before it; such stores leave that orphan.
   *
   * @param key the key, already validated by the tracker
   * @param fingerprint the request's fingerprint
   * @param lease how long the claim holds without renewal
   * @param retention as for the other {@code claim}
   * @param orphanPolicy what to do with a record whose lease ran out
   * @param claimId the attempt's id, unique (a random UUID)
   * @return the outcome
   * @throws IdempotencyStoreException if the store fails
   */
  default Tracked claim(String key, String fingerprint, Duration lease, Duration retention,
      OrphanPolicy orphanPolicy, String claimId) {
    return claim(key, fingerprint, lease, retention, orphanPolicy);
  }

  /**
   * Releases the record of a key, as {@link #release} does, if it is in progress under the claim
   * that was tagged {@code claimId} (not taken over since): what a caller does after a claim whose
   * reply it never got. The default, for stores that do not keep claim ids, releases nothing.
   *
   * @param key the key
   * @param claimId the id the claim was made with
   * @return true if that claim was in progress and is now released
   * @throws IdempotencyStoreException if the store fails
   */
  default boolean releaseClaim(String key, String claimId) {
    return false;
  }

  /**
   * Extends the lease of a claim to {@code lease} from now.
   *
   * @param key the key
   * @param fencingToken the claim's token
   * @param lease the new lease, from now
   * @param retention retention after the lease, for pruning
   * @return true if the claim was current and renewed
   * @throws IdempotencyStoreException if the store fails
   */
  boolean renew(String key, long fencingToken, Duration lease, Duration retention);

  /**
   * Stores the response of a claim and makes the record completed.
   *
   * @param key the key
   * @param fencingToken the claim's token
   * @param response the response
   * @param retention how long the record is kept from now
   * @return true if the claim was current and the response stored; false if nothing was written
   * @throws IdempotencyStoreException if the store fails
   */
  boolean complete(String key, long fencingToken, StoredResponse response, Duration retention);

  /**
   * Marks a claim halted.
   *
   * @param key the key
   * @param fencingToken the claim's token
   * @param reason why
   * @param retention how long the record is kept from now
   * @return true if the claim was current and is now halted
   * @throws IdempotencyStoreException if the store fails
   */
  boolean halt(String key, long fencingToken, String reason, Duration retention);

  /**
   * Deletes a claim's record so that the key can be claimed again at once.
   *
   * @param key the key
   * @param fencingToken the claim's token
   * @return true if the claim was current and is now deleted
   * @throws IdempotencyStoreException if the store fails
   */
  boolean release(String key, long fencingToken);

  /**
   * Deletes up to {@code limit} records whose retention ran out. A store that expires records by
   * itself (Redis) returns 0.
   *
   * @param limit the most records to delete in this call, positive
   * @return how many were deleted
   * @throws IdempotencyStoreException if the store fails
   */
  int prune(int limit);

  /**
   * Releases the store's own resources (not a {@code DataSource} or connection it was given).
   * The default does nothing.
   */
  @Override
  default void close() {}
}
