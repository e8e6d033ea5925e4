package dev.shepherd.benchmarks.watch;

import dev.shepherd.watch.Versioned;
import dev.shepherd.watch.WatchSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;

/**
 * The peer: what a watcher does without a hub (consul-client's KVCache per watcher, a hand-written
 * Notify): each subscriber runs its own Consul-style blocking loop over the source on its own
 * virtual thread and calls its listener synchronously.
 */
final class PerSubscriberLoops implements AutoCloseable {

  private final List<Thread> threads = new ArrayList<>();

  PerSubscriberLoops(WatchSource<?> source, String key, int subscribers, LongConsumer onIndex) {
    for (int i = 0; i < subscribers; i++) {
      threads.add(Thread.ofVirtual().start(() -> {
        long index = 0;
        while (!Thread.currentThread().isInterrupted()) {
          try {
            Versioned<?> v = source.fetch(key, index, Duration.ofMinutes(5));
            if (v.index() > index) {
              index = v.index();
              onIndex.accept(index);
            }
          } catch (InterruptedException e) {
            return;
          } catch (Exception e) {
            throw new IllegalStateException(e);
          }
        }
      }));
    }
  }

  @Override
  public void close() {
    for (Thread t : threads) {
      t.interrupt();
    }
    try {
      for (Thread t : threads) {
        t.join();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
