package dev.shepherd.idempotency;

import dev.shepherd.core.internal.Require;
import java.time.Duration;
import java.time.Instant;

/**
 * The state of an idempotency key as seen by one call to {@link IdempotencyTracker#track}: the
 * caller either owns the key now ({@link Claimed}) or learns what became of the request that owns
 * it ({@link InProgress}, {@link Completed}, {@link Halted}) or that the key belongs to another
 * payload ({@link Mismatch}).
 *
 * <p>Callers switch over it (see the sample in {@link IdempotencyTracker}): on {@link Claimed}
 * run the request and complete the claim; on {@link InProgress} answer 409 or wait; on
 * {@link Completed} replay the response; on {@link Halted} answer that the first attempt failed;
 * on {@link Mismatch} answer 422.
 *
 * <p>All implementations are immutable records.
 */
public sealed interface Tracked
    permits Tracked.Claimed,
        Tracked.InProgress,
        Tracked.Completed,
        Tracked.Halted,
        Tracked.Mismatch {

  /**
   * The caller owns the key and must run the request, then call
   * {@link IdempotencyTracker#complete}, {@link IdempotencyTracker#release} or
   * {@link IdempotencyTracker#fail} with this claim.
   *
   * <p>The fencing token identifies this ownership: it is unique among all claims ever made in
   * one store and larger than the token of any earlier claim of the same key, so a former owner
   * whose lease ran out can never complete, halt or release the key over its new owner.
   *
   * <p><b>Fencing the request's own writes.</b> A lease can lapse while its owner still runs (a long pause, a store that stopped answering),
   * and then a successor runs the same request. The store refuses the former owner's outcome, and
   * the same token can guard the request's writes elsewhere: store it with the data it protects and
   * make every write conditional on no larger token having written before, for example
   *
   * <pre>{@code
   * UPDATE accounts SET balance = ?, fence = ?   -- fence = claim.fencingToken()
   *  WHERE id = ? AND fence <= ?                 -- 0 rows: a newer owner wrote; stop
   * }</pre>
   *
   * or a compare-and-set on the token in any store that has one. Writes to the same PostgreSQL
   * database as a {@link JdbcIdempotencyStore} need no fence of their own: commit them with the
   * response through {@link JdbcClaimTransaction}. {@link IdempotencyTracker#isHeld} tells the
   * owner, without a store call, whether its lease is still confirmed.
   *
   * @param key the key
   * @param fencingToken this claim's token, positive
   * @param since when the claim was made (the store's wall clock)
   * @param tookOver true if an earlier owner's lease ran out without a result and this claim took
   *     the key over from it
   */
  record Claimed(String key, long fencingToken, Instant since, boolean tookOver)
      implements Tracked {
    /**
     * Checks the components.
     *
     * @throws NullPointerException if {@code key} or {@code since} is null
     * @throws IllegalArgumentException if {@code fencingToken} is not positive
     */
    public Claimed {
      Require.nonNull(key, "key");
      Require.nonNull(since, "since");
      Require.atLeast(fencingToken, 1L, "fencingToken");
    }
  }

  /**
   * Another owner holds a live lease on the key: its request is still running.
   *
   * @param since when the current owner claimed the key (the store's wall clock)
   * @param leaseRemaining how long the owner's lease still runs unless renewed; a client may
   *     retry after about this long (zero or positive)
   */
  record InProgress(Instant since, Duration leaseRemaining) implements Tracked {
    /**
     * Checks the components.
     *
     * @throws NullPointerException if a component is null
     * @throws IllegalArgumentException if {@code leaseRemaining} is negative
     */
    public InProgress {
      Require.nonNull(since, "since");
      Require.nonNegative(leaseRemaining, "leaseRemaining");
    }
  }

  /**
   * The request with this key completed: replay its response.
   *
   * @param response the stored response
   * @param expiresAt when the record will be forgotten (end of retention, the store's wall clock)
   */
  record Completed(StoredResponse response, Instant expiresAt) implements Tracked {
    /**
     * Checks the components.
     *
     * @throws NullPointerException if a component is null
     */
    public Completed {
      Require.nonNull(response, "response");
      Require.nonNull(expiresAt, "expiresAt");
    }
  }

  /**
   * The request with this key failed without a response (its handler threw, or, under
   * {@link OrphanPolicy#HALT}, its owner vanished); it will not run again until the record
   * expires.
   *
   * @param reason why, for example the exception's class and message
   * @param expiresAt when the record will be forgotten (end of retention, the store's wall clock)
   */
  record Halted(String reason, Instant expiresAt) implements Tracked {
    /**
     * Checks the components.
     *
     * @throws NullPointerException if a component is null
     */
    public Halted {
      Require.nonNull(reason, "reason");
      Require.nonNull(expiresAt, "expiresAt");
    }
  }

  /**
   * The key was first used with another fingerprint (another payload); the stored record is not
   * shown to this caller.
   *
   * @param expiresAt when the key's record will be forgotten (the store's wall clock)
   */
  record Mismatch(Instant expiresAt) implements Tracked {
    /**
     * Checks the components.
     *
     * @throws NullPointerException if {@code expiresAt} is null
     */
    public Mismatch {
      Require.nonNull(expiresAt, "expiresAt");
    }
  }
}
