package dev.shepherd.cache;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Callable;

/** Runs a blocking call on its own virtual thread and exposes its outcome as a future. */
final class Caller<T> {

  final CompletableFuture<T> result = new CompletableFuture<>();
  final Thread thread;

  private Caller(Callable<T> call) {
    this.thread =
        Thread.ofVirtual()
            .unstarted(
                () -> {
                  try {
                    result.complete(call.call());
                  } catch (Throwable t) {
                    result.completeExceptionally(t);
                  }
                });
  }

  static <T> Caller<T> start(Callable<T> call) {
    Caller<T> caller = new Caller<>(call);
    caller.thread.start();
    return caller;
  }
}
