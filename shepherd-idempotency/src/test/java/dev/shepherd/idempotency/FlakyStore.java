package dev.shepherd.idempotency;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real store behind switches that make chosen operations fail as a broken connection would,
 * counting the calls, for tests of what the tracker does while its store misbehaves.
 */
final class FlakyStore extends ForwardingIdempotencyStore {

  final AtomicBoolean failRenew = new AtomicBoolean();
  final AtomicBoolean failComplete = new AtomicBoolean();
  /** Fails this many complete calls, then passes them (on top of failComplete). */
  final AtomicInteger failNextCompletes = new AtomicInteger();
  final AtomicInteger completeCalls = new AtomicInteger();
  final AtomicInteger renewCalls = new AtomicInteger();

  FlakyStore(IdempotencyStore delegate) {
    super(delegate);
  }

  private static RuntimeException failure() {
    return new IdempotencyStoreException("connection reset", null);
  }

  @Override
  public boolean renew(String key, long fencingToken, Duration lease, Duration retention) {
    renewCalls.incrementAndGet();
    if (failRenew.get()) {
      throw failure();
    }
    return super.renew(key, fencingToken, lease, retention);
  }

  @Override
  public boolean complete(
      String key, long fencingToken, StoredResponse response, Duration retention) {
    completeCalls.incrementAndGet();
    if (failComplete.get() || failNextCompletes.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
      throw failure();
    }
    return super.complete(key, fencingToken, response, retention);
  }

  @Override
  public boolean halt(String key, long fencingToken, String reason, Duration retention) {
    if (failComplete.get()) {
      throw failure();
    }
    return super.halt(key, fencingToken, reason, retention);
  }
}
