package dev.shepherd.idempotency;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real store behind switches that make chosen operations fail as a broken connection would,
 * counting the calls, for tests of what the tracker does while its store misbehaves.
 */
final class FlakyStore implements IdempotencyStore {

  final IdempotencyStore delegate;
  final AtomicBoolean failRenew = new AtomicBoolean();
  final AtomicBoolean failComplete = new AtomicBoolean();
  /** Fails this many complete calls, then passes them (on top of failComplete). */
  final AtomicInteger failNextCompletes = new AtomicInteger();
  final AtomicInteger completeCalls = new AtomicInteger();
  final AtomicInteger renewCalls = new AtomicInteger();

  FlakyStore(IdempotencyStore delegate) {
    this.delegate = delegate;
  }

  private static RuntimeException failure() {
    return new IdempotencyStoreException("connection reset", null);
  }

  @Override
  public Tracked claim(
      String key, String fingerprint, Duration lease, Duration retention, OrphanPolicy policy) {
    return delegate.claim(key, fingerprint, lease, retention, policy);
  }

  @Override
  public boolean renew(String key, long fencingToken, Duration lease, Duration retention) {
    renewCalls.incrementAndGet();
    if (failRenew.get()) {
      throw failure();
    }
    return delegate.renew(key, fencingToken, lease, retention);
  }

  @Override
  public boolean complete(
      String key, long fencingToken, StoredResponse response, Duration retention) {
    completeCalls.incrementAndGet();
    if (failComplete.get() || failNextCompletes.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
      throw failure();
    }
    return delegate.complete(key, fencingToken, response, retention);
  }

  @Override
  public boolean halt(String key, long fencingToken, String reason, Duration retention) {
    if (failComplete.get()) {
      throw failure();
    }
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
}
