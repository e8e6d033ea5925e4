package dev.shepherd.benchmarks.watch;

import dev.shepherd.watch.InMemoryVersionedStore;
import dev.shepherd.watch.Versioned;
import dev.shepherd.watch.WatchSource;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/** The in-memory store as a source that counts the upstream requests it serves and holds. */
final class CountingSource implements WatchSource<Optional<String>> {

  final InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
  final AtomicInteger inFlight = new AtomicInteger();
  final AtomicInteger maxInFlight = new AtomicInteger();
  final AtomicLong fetches = new AtomicLong();

  @Override
  public Versioned<Optional<String>> fetch(String key, long minIndex, Duration maxWait)
      throws InterruptedException {
    fetches.incrementAndGet();
    maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
    try {
      return store.fetch(key, minIndex, maxWait);
    } finally {
      inFlight.decrementAndGet();
    }
  }
}
