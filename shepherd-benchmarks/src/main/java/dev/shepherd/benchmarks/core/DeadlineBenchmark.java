package dev.shepherd.benchmarks.core;

import dev.shepherd.core.Deadline;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Proves the JMH wiring and measures what a {@link Deadline} costs over the raw clock read it wraps:
 * {@code remainingNanos()} is one {@code System.nanoTime()} plus a saturating subtraction.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class DeadlineBenchmark {

  private final Deadline deadline = Deadline.after(Duration.ofHours(1));
  private final long start = System.nanoTime();
  private final long budget = TimeUnit.HOURS.toNanos(1);

  /** The peer: the raw computation a caller would write by hand. */
  @Benchmark
  public long rawNanoTime() {
    return budget - (System.nanoTime() - start);
  }

  /** Shepherd's deadline, with saturation and clamping. */
  @Benchmark
  public long deadlineRemaining() {
    return deadline.remainingNanos();
  }
}
