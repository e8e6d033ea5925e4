package dev.shepherd.pool;

import dev.shepherd.pool.spi.Backend;
import dev.shepherd.pool.spi.RunnerHandle;
import dev.shepherd.pool.spi.RunnerListener;
import dev.shepherd.pool.spi.RunnerSpec;
import dev.shepherd.pool.spi.RunningCall;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.SortedSet;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;

/**
 * Regression: a runner that died before its death was reported (a killed child JVM whose socket
 * the pool has not read yet) made the next call fail with RunnerDiedException although that call
 * was never sent anywhere. Such a call now waits for the replacement runner.
 */
class UnsentCallTest {

  /** A local backend whose first runner can be made to die silently: start() throws, no report. */
  private static final class SilentDeathBackend implements Backend {
    private final LocalBackend local = LocalBackend.of(new TestFunctions().create());
    final AtomicBoolean firstRunnerDead = new AtomicBoolean();
    final AtomicInteger boots = new AtomicInteger();

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
      RunnerHandle handle = local.boot(spec, listener);
      boolean first = boots.incrementAndGet() == 1;
      return new RunnerHandle() {
        @Override
        public String id() {
          return handle.id();
        }

        @Override
        public RunningCall start(String function, @Nullable Object preparedArgument, Duration timeout) {
          if (first && firstRunnerDead.get()) {
            throw new RunnerDiedException(handle.id(), "runner " + handle.id() + " is gone", null);
          }
          return handle.start(function, preparedArgument, timeout);
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

    @Override
    public void close() {
      local.close();
    }
  }

  @Test
  void aCallThatCouldNotBeSentToADeadRunnerWaitsForItsReplacementInsteadOfFailing() throws Exception {
    SilentDeathBackend backend = new SilentDeathBackend();
    try (ElasticPool pool = ElasticPool.builder().backend(backend).min(0).max(1).build()) {
      assertThat(pool.call("square", 3L)).isEqualTo(9L);
      backend.firstRunnerDead.set(true);
      assertThat(pool.call("square", 4L)).isEqualTo(16L);
      assertThat(backend.boots.get()).isEqualTo(2);
      assertThat(pool.snapshot().deaths()).isEqualTo(1);
      assertThat(pool.snapshot().busySlots()).isZero();
    }
  }
}
