package dev.shepherd.pool;

import dev.shepherd.pool.spi.LaunchedRunner;
import java.util.concurrent.CompletableFuture;

/** A launched runner that never ends on its own: only {@link #kill()} completes its exit. */
final class StubRunner implements LaunchedRunner {
  final CompletableFuture<Void> exited = new CompletableFuture<>();

  @Override
  public CompletableFuture<Void> exited() {
    return exited;
  }

  @Override
  public void kill() {
    exited.complete(null);
  }
}
