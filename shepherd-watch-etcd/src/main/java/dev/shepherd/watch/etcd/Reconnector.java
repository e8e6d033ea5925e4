package dev.shepherd.watch.etcd;

import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Probes for etcd's return while any key's watch is failing: every {@code intervalNanos} it runs
 * the reconnect task ({@link ChannelReconnect}), so the gRPC channel tries to connect again at
 * that pace instead of on gRPC's growing backoff. Idle (no timer) while every watch is healthy.
 *
 * <p>Key watches report to it ({@link #failing}, {@link #healthy}); it never calls them back.
 * Thread-safe; its methods never block, so key watches may call them under their own lock.
 */
final class Reconnector {

  private static final System.Logger LOG = System.getLogger(Reconnector.class.getName());

  private final Runnable reconnect;
  private final long intervalNanos;
  private final Executor executor;
  private final Set<Object> failing = ConcurrentHashMap.newKeySet();
  private final AtomicBoolean scheduled = new AtomicBoolean();
  private volatile boolean closed;

  Reconnector(Runnable reconnect, long intervalNanos, Executor executor) {
    this.reconnect = reconnect;
    this.intervalNanos = intervalNanos;
    this.executor = executor;
  }

  /** A watch started failing (idempotent). */
  void failing(Object watch) {
    if (failing.add(watch)) {
      schedule();
    }
  }

  /** A watch is healthy again, or closed (idempotent). */
  void healthy(Object watch) {
    failing.remove(watch);
  }

  /** How many watches are failing now. */
  int failingWatches() {
    return failing.size();
  }

  void close() {
    closed = true;
    failing.clear();
  }

  private void schedule() {
    if (!closed && scheduled.compareAndSet(false, true)) {
      CompletableFuture.delayedExecutor(intervalNanos, TimeUnit.NANOSECONDS, executor).execute(this::tick);
    }
  }

  private void tick() {
    scheduled.set(false);
    if (closed || failing.isEmpty()) {
      return;
    }
    try {
      reconnect.run();
    } catch (RuntimeException e) {
      LOG.log(System.Logger.Level.DEBUG, "reconnect probe failed", e);
    }
    schedule();
  }
}
