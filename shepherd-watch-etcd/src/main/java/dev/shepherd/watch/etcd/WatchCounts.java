package dev.shepherd.watch.etcd;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The jetcd watchers a source's key watches hold: open now, and opened since the source was built.
 * Key watches count into it; the source reads it. Thread-safe.
 */
final class WatchCounts {

  private final AtomicInteger open = new AtomicInteger();
  private final AtomicLong opened = new AtomicLong();

  void opened() {
    open.incrementAndGet();
    opened.incrementAndGet();
  }

  void closed() {
    open.decrementAndGet();
  }

  int open() {
    return open.get();
  }

  long openedSinceStart() {
    return opened.get();
  }
}
