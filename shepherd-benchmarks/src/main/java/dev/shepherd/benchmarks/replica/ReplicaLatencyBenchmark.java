package dev.shepherd.benchmarks.replica;

import dev.shepherd.replica.Lsn;
import dev.shepherd.replica.ReplayResult;
import dev.shepherd.replica.ReplicaTracker;
import java.sql.Connection;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * Latency from a committed write to reading it, as the caller sees it: a row is committed on the
 * primary before each call (not timed), then each benchmark takes the commit's position (where it
 * needs one), waits, and reads the row, failing if the read is stale.
 *
 * <ul>
 *   <li>{@code shepherd}: {@link ReplicaTracker} (adaptive single poller) then a read on the replica.
 *   <li>{@code fixedPoller100ms}: fly_postgres's design, a 100 ms background poller, then a replica read
 *       (writes arrive at a random phase of the poller's period).
 *   <li>{@code primaryRead}: the read on the primary, no wait: the floor to compare with.
 *   <li>{@code replicaRetryRead}: re-running the read on the replica until the row shows (busy
 *       polling by the reader itself): the replication lag plus one read, a lower bound no tracker
 *       can beat.
 * </ul>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 5)
@Fork(1)
public class ReplicaLatencyBenchmark {

  private ReplicaFixture fixture;
  private ReplicaTracker tracker;
  private FixedIntervalPoller fixed;
  private Connection replicaReader;
  private Connection primaryReader;
  private long id;

  @Setup(Level.Trial)
  public void start() throws Exception {
    fixture = new ReplicaFixture();
    tracker = ReplicaTracker.builder(fixture.replica).name("bench").build();
    fixed = FixedIntervalPoller.start(fixture.replica, 100);
    replicaReader = fixture.replica.getConnection();
    primaryReader = fixture.primary.getConnection();
  }

  @TearDown(Level.Trial)
  public void stop() throws Exception {
    replicaReader.close();
    primaryReader.close();
    fixed.close();
    tracker.close();
    fixture.close();
  }

  /**
   * Commits the row the next call must read; not part of the timing. For the fixed poller, first
   * waits a random 0-100 ms: a closed loop would otherwise start every write just after the tick
   * that released the previous one and always wait almost a whole period (phase locking), which
   * is not how independent requests arrive.
   */
  @Setup(Level.Invocation)
  public void write(BenchmarkParams params) throws Exception {
    if (params.getBenchmark().endsWith("fixedPoller100ms")) {
      Thread.sleep(Duration.ofNanos(ThreadLocalRandom.current().nextLong(100_000_000L)));
    }
    id = fixture.write();
  }

  @Benchmark
  public boolean shepherd() throws Exception {
    Lsn lsn = fixture.commitLsn();
    ReplayResult result = tracker.awaitReplay(lsn, Duration.ofSeconds(5));
    if (!result.isReplayed()) {
      throw new IllegalStateException("not replayed: " + result);
    }
    return mustSee(replicaReader);
  }

  @Benchmark
  public boolean fixedPoller100ms() throws Exception {
    Lsn lsn = fixture.commitLsn();
    if (!fixed.await(lsn, 5_000)) {
      throw new IllegalStateException("fixed poller timed out at " + lsn);
    }
    return mustSee(replicaReader);
  }

  @Benchmark
  public boolean primaryRead() throws Exception {
    return mustSee(primaryReader);
  }

  @Benchmark
  public boolean replicaRetryRead() throws Exception {
    while (!ReplicaFixture.exists(replicaReader, id)) {
      Thread.onSpinWait();
    }
    return true;
  }

  private boolean mustSee(Connection connection) throws Exception {
    if (!ReplicaFixture.exists(connection, id)) {
      throw new IllegalStateException("stale read: row " + id + " not visible");
    }
    return true;
  }
}
