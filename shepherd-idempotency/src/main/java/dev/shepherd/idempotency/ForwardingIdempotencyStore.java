package dev.shepherd.idempotency;

import dev.shepherd.core.internal.Require;
import java.time.Duration;

/**
 * An {@link IdempotencyStore} that forwards every call to another store: extend it and override
 * the calls to observe, slow down or fail (a store whose renewals fail, one that counts the
 * completes in flight), the way Guava's {@code ForwardingObject}s are used. The metered store of
 * {@code shepherd-micrometer} is one; the store contract's tests of {@code
 * shepherd-idempotency-testkit} use it for faulty stores.
 *
 * <pre>{@code
 * IdempotencyStore failingRenewals = new ForwardingIdempotencyStore(realStore) {
 *   @Override
 *   public boolean renew(String key, long token, Duration lease, Duration retention) {
 *     throw new IdempotencyStoreException("store does not answer", null);
 *   }
 * };
 * }</pre>
 *
 * <p>{@link #close()} closes the delegate. Thread-safe if the delegate and the overrides are.
 */
public class ForwardingIdempotencyStore implements IdempotencyStore {

  private final IdempotencyStore delegate;
  private final boolean claimOverridden;

  /**
   * Creates a store that forwards to {@code delegate}.
   *
   * @param delegate the store every call goes to
   * @throws NullPointerException if {@code delegate} is null
   */
  public ForwardingIdempotencyStore(IdempotencyStore delegate) {
    this.delegate = Require.nonNull(delegate, "delegate");
    this.claimOverridden = overridesClaim(getClass());
  }

  /** Whether a subclass overrides the claim without a claim id; see the claim with one. */
  private static boolean overridesClaim(Class<?> type) {
    try {
      return type.getMethod("claim", String.class, String.class, Duration.class, Duration.class,
          OrphanPolicy.class).getDeclaringClass() != ForwardingIdempotencyStore.class;
    } catch (NoSuchMethodException e) {
      throw new IllegalStateException("IdempotencyStore.claim is public", e);
    }
  }

  /**
   * Returns the store calls are forwarded to.
   *
   * @return the delegate
   */
  protected IdempotencyStore delegate() {
    return delegate;
  }

  @Override
  public Tracked claim(
      String key, String fingerprint, Duration lease, Duration retention, OrphanPolicy policy) {
    return delegate.claim(key, fingerprint, lease, retention, policy);
  }

  /**
   * Forwards the claim with its claim id to the delegate, unless a subclass overrides
   * {@link #claim(String, String, Duration, Duration, OrphanPolicy)}: then that override gets
   * every claim, as it did before claim ids existed, and the id is dropped (such a store cannot
   * release a claim whose reply was lost; override this method too to keep it).
   */
  @Override
  public Tracked claim(String key, String fingerprint, Duration lease, Duration retention,
      OrphanPolicy policy, String claimId) {
    return claimOverridden
        ? claim(key, fingerprint, lease, retention, policy)
        : delegate.claim(key, fingerprint, lease, retention, policy, claimId);
  }

  @Override
  public boolean releaseClaim(String key, String claimId) {
    return delegate.releaseClaim(key, claimId);
  }

  @Override
  public boolean renew(String key, long fencingToken, Duration lease, Duration retention) {
    return delegate.renew(key, fencingToken, lease, retention);
  }

  @Override
  public boolean complete(
      String key, long fencingToken, StoredResponse response, Duration retention) {
    return delegate.complete(key, fencingToken, response, retention);
  }

  @Override
  public boolean halt(String key, long fencingToken, String reason, Duration retention) {
    return delegate.halt(key, fencingToken, reason, retention);
  }

  @Override
  public boolean release(String key, long fencingToken) {
    return delegate.release(key, fencingToken);
  }

  @Override
  public int prune(int limit) {
    return delegate.prune(limit);
  }

  @Override
  public void close() {
    delegate.close();
  }

  @Override
  public String toString() {
    return getClass().getSimpleName() + "[" + delegate + "]";
  }
}
