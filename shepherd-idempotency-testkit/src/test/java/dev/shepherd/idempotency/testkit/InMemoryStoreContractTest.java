package dev.shepherd.idempotency.testkit;

import dev.shepherd.idempotency.ForwardingIdempotencyStore;
import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.IdempotencyStoreException;
import dev.shepherd.idempotency.InMemoryIdempotencyStore;
import dev.shepherd.idempotency.OrphanPolicy;
import dev.shepherd.idempotency.StoredResponse;
import dev.shepherd.idempotency.Tracked;
import java.time.Duration;

/**
 * The store contract against {@link InMemoryIdempotencyStore}, seen through a
 * {@link ForwardingIdempotencyStore} (which must change nothing).
 */
class InMemoryStoreContractTest extends IdempotencyStoreContract {

  private InMemoryIdempotencyStore memory;

  @Override
  protected IdempotencyStore newStore() {
    memory = InMemoryIdempotencyStore.create();
    return new ForwardingIdempotencyStore(memory);
  }

  @Override
  protected IdempotencyStore unreachableStore() {
    return new ForwardingIdempotencyStore(InMemoryIdempotencyStore.create()) {
      @Override
      public Tracked claim(String key, String fingerprint, Duration lease, Duration retention,
          OrphanPolicy policy) {
        throw refused();
      }

      @Override
      public boolean renew(String key, long token, Duration lease, Duration retention) {
        throw refused();
      }

      @Override
      public boolean complete(String key, long token, StoredResponse response,
          Duration retention) {
        throw refused();
      }

      @Override
      public boolean halt(String key, long token, String reason, Duration retention) {
        throw refused();
      }

      @Override
      public boolean release(String key, long token) {
        throw refused();
      }

      @Override
      public int prune(int limit) {
        throw refused();
      }
    };
  }

  /** As a broken driver fails: with an exception that is not the library's own. */
  private static RuntimeException refused() {
    return new IllegalStateException("connection refused");
  }

  @Override
  protected boolean isStored(String key) {
    return memory.containsKey(key);
  }
}
