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
    return leftIf(super.cancel(mayInterruptIfRunning));
  }

  @Override
  public boolean complete(Fetched<V> value) {
    return leftIf(super.complete(value));
  }

  @Override
  public boolean completeExceptionally(Throwable ex) {
    return leftIf(super.completeExceptionally(ex));
  }

  /** Leaves the flight if the caller's completion (or cancel) took effect; returns {@code done}. */
  private boolean leftIf(boolean done) {
    if (done) {
      leave();
    }
    return done;
  }

  private void leave() {
    Flight<?, V> f = flight;
    Flight.Waiter<V> n = node;
    if (f != null && n != null) {
      f.leave(n);
    }
  }
}
