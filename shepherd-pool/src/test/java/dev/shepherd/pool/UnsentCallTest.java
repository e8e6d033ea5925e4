package dev.shepherd.pool;

import dev.shepherd.pool.spi.RunnerHandle;
import dev.shepherd.pool.spi.RunningCall;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;

/**
 * Regression: a runner that died before its death was reported (a killed child JVM whose socket
 * the pool has not read yet) made the next call fail with RunnerDiedException although that call
 * was never sent anywhere. Such a call now waits for the replacement runner.
 */
class UnsentCallTest {

  /** A local backend whose first runner can be made to die silently: start() throws, no report. */
  private static final class SilentDeathBackend extends StartWrappingBackend {
    final AtomicBoolean firstRunnerDead = new AtomicBoolean();

    SilentDeathBackend() {
      super(LocalBackend.of(new TestFunctions().create()));
    }

    @Override
    RunningCall start(RunnerHandle runner, int number, String function, @Nullable Object preparedArgument,
        Duration timeout) {
      if (number == 1 && firstRunnerDead.get()) {
        throw new RunnerDiedException(runner.id(), "runner " + runner.id() + " is gone", null);
      }
      return runner.start(function, preparedArgument, timeout);
    }
  }

  @Test
  void aCallThatCouldNotBeSentToADeadRunnerWaitsForItsReplacementInsteadOfFailing() throws Exception {
    SilentDeathBackend backend = new SilentDeathBackend();
    try (ElasticPool pool = ElasticPool.builder().backend(backend).min(0).max(1).build()) {
      assertThat(pool.call("square", 3L)).isEqualTo(9L);
      backend.firstRunnerDead.set(true);
      assertThat(pool.call("square", 4L)).isEqualTo(16L);
      assertThat(backend.boots()).isEqualTo(2);
      assertThat(pool.snapshot().deaths()).isEqualTo(1);
      assertThat(pool.snapshot().busySlots()).isZero();
    }
  }
}
