package dev.shepherd.idempotency;

/** The store contract against {@link InMemoryIdempotencyStore}. */
class InMemoryIdempotencyStoreTest extends IdempotencyStoreContract {

  private InMemoryIdempotencyStore memory;

  @Override
  protected IdempotencyStore newStore() {
    memory = InMemoryIdempotencyStore.create();
    return memory;
  }

  @Override
  protected IdempotencyStore unreachableStore() {
    return new FailingStore();
  }

  @Override
  protected boolean isStored(String key) {
    return memory.containsKey(key);
  }
}
