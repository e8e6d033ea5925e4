package dev.shepherd.watch;

import java.io.IOException;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * An in-memory upstream that can be taken down: while down every fetch fails at once, and fetches
 * held when it goes down fail too (as held HTTP queries do when a server stops).
 */
final class OutageSource implements WatchSource<Optional<String>> {

  final InMemoryVersionedStore<String> store;
  private final AtomicReference<CompletableFuture<Void>> outage =
      new AtomicReference<>(new CompletableFuture<>());
  private volatile boolean down;
  final AtomicInteger failedFetches = new AtomicInteger();

  OutageSource(InMemoryVersionedStore<String> store) {
    this.store = store;
  }

  void goDown() {
    down = true;
    outage.get().complete(null);
  }

  void comeBack() {
    outage.set(new CompletableFuture<>());
    down = false;
  }

  @Override
  public Versioned<Optional<String>> fetch(String key, long minIndex, Duration maxWait)
      throws Exception {
    CompletableFuture<Void> currentOutage = outage.get();
    if (down) {
      failedFetches.incrementAndGet();
      throw new IOException("upstream down");
    }
    CompletableFuture<Versioned<Optional<String>>> change = store.whenChanged(key, minIndex);
    try {
      CompletableFuture.anyOf(change, currentOutage).get(maxWait.toNanos(), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      change.cancel(false);
      return store.get(key);
    } catch (InterruptedException e) {
      change.cancel(false);
      throw e;
    }
    if (!change.isDone()) {
      change.cancel(false);
      failedFetches.incrementAndGet();
      throw new IOException("upstream went down during a blocking query");
    }
    return change.join();
  }
}
