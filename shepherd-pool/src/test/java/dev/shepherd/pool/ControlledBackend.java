package dev.shepherd.pool;

import dev.shepherd.pool.spi.Backend;
import dev.shepherd.pool.spi.RunnerHandle;
import dev.shepherd.pool.spi.RunnerListener;
import dev.shepherd.pool.spi.RunnerSpec;
import java.time.Duration;
import java.util.List;
import java.util.SortedSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/**
 * A local backend whose boots a test controls: they can be held until released, made to fail, and
 * booted runners can be made to die.
 */
final class ControlledBackend implements Backend {

  private final LocalBackend local = LocalBackend.of(new TestFunctions().create());
  final AtomicInteger failNextBoots = new AtomicInteger();
  final AtomicInteger bootAttempts = new AtomicInteger();
  volatile boolean holdBoots;
  final Semaphore bootPermits = new Semaphore(0);
  final List<Booted> booted = new CopyOnWriteArrayList<>();
  volatile boolean closed;

  record Booted(RunnerHandle handle, RunnerListener listener) {
    void die() {
      handle.kill();
    }
  }

  @Override
  public SortedSet<String> functionNames() {
    return local.functionNames();
  }

  @Override
  public @Nullable Object prepare(String function, @Nullable Object argument) {
    return local.prepare(function, argument);
  }

  @Override
  public RunnerHandle boot(RunnerSpec spec, RunnerListener listener) throws Exception {
    bootAttempts.incrementAndGet();
    if (holdBoots) {
      bootPermits.acquire();
    }
    if (failNextBoots.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
      throw new IllegalStateException("boot refused by test for " + spec.runnerId());
    }
    RunnerHandle handle = local.boot(spec, listener);
    booted.add(new Booted(handle, listener));
    return handle;
  }

  @Override
  public void close() {
    closed = true;
  }

  static Duration seconds(long s) {
    return Duration.ofSeconds(s);
  }
}
