package dev.shepherd.benchmarks.pool;

import dev.shepherd.pool.ElasticPool;
import dev.shepherd.pool.LocalBackend;
import dev.shepherd.pool.ProcessBackend;
import java.net.InetAddress;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;

/**
 * Warm calls on the process backend: the round trip of a small call ({@code 42L}, a 9-byte
 * payload) and of a 1 KiB one on a pool of two child runners, against the same call on the local
 * backend; and the throughput of small calls on two runners from eight caller threads.
 *
 * <p>This file uses only API that has not changed since before the runner channel was sealed
 * (AES-GCM frames after a handshake in which both sides prove the secret), so the same source
 * builds against the commit before that change and after it. To see what the sealed channel
 * costs, build both jars and run both, one after the other, on a quiet machine:
 *
 * <pre>
 * git worktree add /tmp/pool-before 7b1f755        # the last commit before the sealed channel
 * cp ProcessCallBenchmark.java BenchFunctions.java /tmp/pool-before/shepherd-benchmarks/src/main/java/dev/shepherd/benchmarks/pool/
 * (cd /tmp/pool-before; ./mvnw -B -ntp -q -pl shepherd-benchmarks -am install -DskipTests)
 * ./mvnw -B -ntp -q -pl shepherd-benchmarks -am install -DskipTests
 * for v in /tmp/pool-before .; do java -jar $v/shepherd-benchmarks/target/benchmarks.jar \
 *   'pool.ProcessCallBenchmark' -f 1 -wi 2 -i 4 -w 2 -r 3; done
 * </pre>
 *
 * <p>{@code -p channel=default,tcp} compares the process backend's default transport (a Unix
 * domain socket since 2026-12-05, TCP on 127.0.0.1 before) with TCP on 127.0.0.1, chosen through
 * {@code bindAddress}, which every version has.
 */
public class ProcessCallBenchmark {

  /** A pool of one warm child runner, and a local pool for comparison. */
  @State(Scope.Benchmark)
  public static class Warm {
    ElasticPool process;
    ElasticPool local;
    final Long small = 42L;
    final byte[] kib = new byte[1024];

    /** {@code default}: the backend's default transport; {@code tcp}: TCP on 127.0.0.1. */
    @Param({"default"})
    public String channel;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
      process =
          ElasticPool.builder()
              .name("bench-process")
              .backend(
                  "tcp".equals(channel)
                      ? ProcessBackend.builder()
                          .functions(BenchFunctions.class)
                          .bindAddress(InetAddress.getLoopbackAddress())
                          .build()
                      : ProcessBackend.builder().functions(BenchFunctions.class).build())
              .min(2)
              .max(2)
              .maxConcurrency(64)
              .build();
      local =
          ElasticPool.builder()
              .name("bench-local")
              .backend(LocalBackend.of(new BenchFunctions().create()))
              .min(2)
              .max(2)
              .maxConcurrency(64)
              .build();
      while (process.snapshot().ready() < 2 || local.snapshot().ready() < 2) {
        Thread.sleep(10);
      }
      process.call("echo", small);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      process.close();
      local.close();
    }
  }

  @Benchmark
  @BenchmarkMode(Mode.SampleTime)
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public Object warmCallProcessRunner(Warm warm) throws Exception {
    return warm.process.call("echo", warm.small, Duration.ofSeconds(30));
  }

  @Benchmark
  @BenchmarkMode(Mode.SampleTime)
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public Object warmCallProcessRunner1KiB(Warm warm) throws Exception {
    return warm.process.call("echo", warm.kib, Duration.ofSeconds(30));
  }

  @Benchmark
  @BenchmarkMode(Mode.SampleTime)
  @OutputTimeUnit(TimeUnit.MICROSECONDS)
  public Object warmCallLocalRunner(Warm warm) throws Exception {
    return warm.local.call("echo", warm.small, Duration.ofSeconds(30));
  }

  @Benchmark
  @BenchmarkMode(Mode.Throughput)
  @OutputTimeUnit(TimeUnit.SECONDS)
  @Threads(8)
  public Object throughputTwoProcessRunners(Warm warm) throws Exception {
    return warm.process.call("echo", warm.small, Duration.ofSeconds(30));
  }

  @Benchmark
  @BenchmarkMode(Mode.Throughput)
  @OutputTimeUnit(TimeUnit.SECONDS)
  @Threads(8)
  public Object throughputTwoLocalRunners(Warm warm) throws Exception {
    return warm.local.call("echo", warm.small, Duration.ofSeconds(30));
  }
}
