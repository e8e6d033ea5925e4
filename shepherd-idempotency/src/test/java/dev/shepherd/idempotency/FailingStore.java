package dev.shepherd.idempotency;

import java.time.Duration;

/** A store whose every call fails as a broken driver would, with a non-library exception. */
final class FailingStore implements IdempotencyStore {

  private static RuntimeException failure() {
    return new IllegalStateException("connection refused");
  }

  @Override
  public Tracked claim(
      String key, String fingerprint, Duration lease, Duration retention, OrphanPolicy policy) {
    throw failure();
  }

  @Override
  public boolean renew(String key, long fencingToken, Duration lease, Duration retention) {
    throw failure();
  }

  @Override
  public boolean complete(
      String key, long fencingToken, StoredResponse response, Duration retention) {
    throw failure();
  }

  @Override
  public boolean halt(String key, long fencingToken, String reason, Duration retention) {
    throw failure();
  }

  @Override
  public boolean release(String key, long fencingToken) {
    throw failure();
  }

  @Override
  public int prune(int limit) {
    throw failure();
  }
}
