package dev.shepherd.cache;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Callable;

/** Runs a blocking call on its own thread (virtual unless asked) and exposes its outcome as a future. */
final class Caller<T> {

  final CompletableFuture<T> result = new CompletableFuture<>();
  final Thread thread;

  private Caller(Callable<T> call) {
    this(Thread.ofVirtual(), call);
  }

  private Caller(Thread.Builder builder, Callable<T> call) {
    this.thread =
        builder
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

  /** The same on a platform thread named {@code name} (a caller that may run a load itself). */
  static <T> Caller<T> startOnPlatform(String name, Callable<T> call) {
    Caller<T> caller = new Caller<>(Thread.ofPlatform().name(name), call);
    caller.thread.start();
    return caller;
  }
}
