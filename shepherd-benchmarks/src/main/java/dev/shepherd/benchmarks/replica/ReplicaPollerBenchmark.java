package dev.shepherd.benchmarks.replica;

import dev.shepherd.replica.Lsn;
import dev.shepherd.replica.ReplayResult;
import dev.shepherd.replica.ReplicaTracker;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * How many queries per second the poller sends to the replica: with 1 and with 1,000 waiters, and
 * when nobody waits (next to fly_postgres's fixed 100 ms poller, which polls regardless).
 *
 * <p>{@code round}: one write, then {@code waiters} virtual threads wait for its position at once
 * and all read as released; rounds run back to back. The counters are reported per second:
 * {@code trackerQueries} (statements the tracker sent), {@code released} (waits that returned
 * Replayed). {@code idle}: nobody waits for 10 ms at a time; {@code trackerQueries} should be 0 and
 * {@code fixedPollerQueries} about 10 a second.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
@Fork(1)
public class ReplicaPollerBenchmark {

  @Param({"1", "1000"})
  public int waiters;

  private ReplicaFixture fixture;
  private ReplicaTracker tracker;
  private FixedIntervalPoller fixedPoller;
  private ExecutorService threads;

  /** Per-second counters. */
  @State(Scope.Thread)
  @AuxCounters(AuxCounters.Type.OPERATIONS)
  public static class Counters {
    /** Statements the tracker sent to the replica. */
    public long trackerQueries;
    /** Waits released as Replayed. */
    public long released;
    /** Statements the fixed 100 ms poller sent. */
    public long fixedPollerQueries;

    @Setup(Level.Iteration)
    public void reset() {
      trackerQueries = 0;
      released = 0;
      fixedPollerQueries = 0;
    }
  }

  @Setup(Level.Trial)
  public void start() throws Exception {
    fixture = new ReplicaFixture();
    tracker = ReplicaTracker.builder(fixture.replica).name("bench").build();
    fixedPoller = FixedIntervalPoller.start(fixture.replica, 100);
    threads = Executors.newVirtualThreadPerTaskExecutor();
    tracker.awaitReplay(fixture.commitLsn(), Duration.ofSeconds(5));
  }

  @TearDown(Level.Trial)
  public void stop() throws Exception {
    threads.close();
    fixedPoller.close();
    tracker.close();
    fixture.close();
  }

  @Benchmark
  public void round(Counters counters) throws Exception {
    long before = tracker.stats().queries();
    fixture.write();
    Lsn lsn = fixture.commitLsn();
    List<Future<ReplayResult>> results = new ArrayList<>(waiters);
    for (int i = 0; i < waiters; i++) {
      results.add(threads.submit(() -> tracker.awaitReplay(lsn, Duration.ofSeconds(10))));
    }
    for (Future<ReplayResult> result : results) {
      if (!result.get().isReplayed()) {
        throw new IllegalStateException("not replayed: " + result.get());
      }
      counters.released++;
    }
    counters.trackerQueries += tracker.stats().queries() - before;
  }

  @Benchmark
  public void idle(Counters counters) throws Exception {
    long before = tracker.stats().queries();
    long fixedBefore = fixedPoller.queries();
    Thread.sleep(10);
    counters.trackerQueries += tracker.stats().queries() - before;
    counters.fixedPollerQueries += fixedPoller.queries() - fixedBefore;
  }
}
