package dev.shepherd.cache;

import java.util.concurrent.CompletableFuture;
import org.jspecify.annotations.Nullable;

/**
 * The future that {@link CoalescingCache#fetchAsync fetchAsync} and
 * {@link CoalescingCache#refresh refresh} return: completing it from outside (cancel,
 * {@code orTimeout}, {@code complete}) makes that caller, and only that caller, leave its load.
 *
 * <p>The cache completes it through {@link #deliver} and {@link #deliverFailure}, which bypass the
 * overrides.
 */
final class WaiterFuture<V> extends CompletableFuture<Fetched<V>> {

  /** Set once right after construction, before the future is published. */
  private Flight.@Nullable Waiter<V> node;

  private @Nullable Flight<?, V> flight;

  WaiterFuture() {}

  void attach(Flight<?, V> flight, Flight.Waiter<V> node) {
    this.flight = flight;
    this.node = node;
  }

  void deliver(Fetched<V> value) {
    super.complete(value);
  }

  void deliverFailure(Throwable error) {
    super.completeExceptionally(error);
  }

  @Override
  public boolean cancel(boolean mayInterruptIfRunning) {
    boolean cancelled = super.cancel(mayInterruptIfRunning);
    if (cancelled) {
      leave();
    }
    return cancelled;
  }

  @Override
  public boolean complete(Fetched<V> value) {
    boolean completed = super.complete(value);
    if (completed) {
      leave();
    }
    return completed;
  }

  @Override
  public boolean completeExceptionally(Throwable ex) {
    boolean completed = super.completeExceptionally(ex);
    if (completed) {
      leave();
    }
    return completed;
  }

  private void leave() {
    Flight<?, V> f = flight;
    Flight.Waiter<V> n = node;
    if (f != null && n != null) {
      f.leave(n);
    }
  }
}
