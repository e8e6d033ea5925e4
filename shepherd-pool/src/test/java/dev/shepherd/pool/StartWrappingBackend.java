package dev.shepherd.pool;

import dev.shepherd.pool.spi.Backend;
import dev.shepherd.pool.spi.ForwardingBackend;
import dev.shepherd.pool.spi.RunnerHandle;
import dev.shepherd.pool.spi.RunnerListener;
import dev.shepherd.pool.spi.RunnerSpec;
import dev.shepherd.pool.spi.RunningCall;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/**
 * A backend whose runners are another backend's, with each runner's {@code start} going through
 * {@link #start}: the tests' way to hold a start at a gate, hold a result back, or fail a start as
 * a runner that died unreported would. Everything else is forwarded.
 */
abstract class StartWrappingBackend extends ForwardingBackend {

  private final AtomicInteger boots = new AtomicInteger();

  StartWrappingBackend(Backend delegate) {
    super(delegate);
  }

  /** How many runners were booted so far. */
  final int boots() {
    return boots.get();
  }

  @Override
  public final RunnerHandle boot(RunnerSpec spec, RunnerListener listener) throws Exception {
    RunnerHandle handle = super.boot(spec, listener);
    int number = boots.incrementAndGet();
    return new RunnerHandle() {
      @Override
      public String id() {
        return handle.id();
      }

      @Override
      public RunningCall start(String function, @Nullable Object preparedArgument, Duration timeout) {
        return StartWrappingBackend.this.start(handle, number, function, preparedArgument, timeout);
      }

      @Override
      public void shutdown(Duration timeout) {
        handle.shutdown(timeout);
      }

      @Override
      public void kill() {
        handle.kill();
      }
    };
  }

  /**
   * Starts {@code function} on {@code runner}, the {@code number}-th runner booted (from 1);
   * {@code runner.start(...)} is what the unwrapped backend would do.
   */
  abstract RunningCall start(RunnerHandle runner, int number, String function, @Nullable Object preparedArgument,
      Duration timeout);
}
