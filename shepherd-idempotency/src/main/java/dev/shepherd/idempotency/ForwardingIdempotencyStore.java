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

  /**
   * Creates a store that forwards to {@code delegate}.
   *
   * @param delegate the store every call goes to
   * @throws NullPointerException if {@code delegate} is null
   */
  public ForwardingIdempotencyStore(IdempotencyStore delegate) {
    this.delegate = Require.nonNull(delegate, "delegate");
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
