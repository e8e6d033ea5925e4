package dev.shepherd.watch.etcd;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.options.WatchOption;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/** A jetcd Watch that counts watch calls and open watchers, and records each start revision. */
final class CountingWatch implements Watch {

  private final Watch delegate;
  final AtomicInteger calls = new AtomicInteger();
  final AtomicInteger open = new AtomicInteger();
  final List<Long> startRevisions = new CopyOnWriteArrayList<>();

  CountingWatch(Watch delegate) {
    this.delegate = delegate;
  }

  @Override
  public Watcher watch(ByteSequence key, WatchOption option, Listener listener) {
    calls.incrementAndGet();
    startRevisions.add(option.getRevision());
    Watcher watcher = delegate.watch(key, option, listener);
    open.incrementAndGet();
    return new Watcher() {
      private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

      @Override
      public void close() {
        if (closed.compareAndSet(false, true)) {
          open.decrementAndGet();
        }
        watcher.close();
      }

      @Override
      public boolean isClosed() {
        return watcher.isClosed();
      }

      @Override
      public void requestProgress() {
        watcher.requestProgress();
      }
    };
  }

  @Override
  public void requestProgress() {
    delegate.requestProgress();
  }

  @Override
  public void close() {
    delegate.close();
  }
}
