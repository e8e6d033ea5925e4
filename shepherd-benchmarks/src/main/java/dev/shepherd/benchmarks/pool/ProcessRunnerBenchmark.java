package dev.shepherd.benchmarks.pool;

import dev.shepherd.pool.ElasticPool;
import dev.shepherd.pool.LocalBackend;
import dev.shepherd.pool.PayloadCodec;
import dev.shepherd.pool.ProcessBackend;
import dev.shepherd.pool.RunnerHandle;
import dev.shepherd.pool.RunnerSpec;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;

/**
 * The process backend: cold boot of a child-JVM runner (to ready, connected and authenticated),
 * against the floor of starting a bare JVM on the same classpath; the warm round trip of a small
 * call (9-byte payload) and of a 1 KiB one on a pool of two child runners, against the same call
 * on the local backend; and the throughput of small calls on two runners from eight caller
 * threads.
 *
 * <p>This file uses only API that existed before the runner channel was sealed (AES-GCM frames,
 * handshake with mutual proof), so the same source builds against the commit before that change
 * and after it: build both jars and run the warm and throughput benchmarks of each, one after the
 * other, on a quiet machine to see what the sealed channel costs:
 *
 * <pre>
 * git worktree add /tmp/pool-before 7b1f755        # the last commit before the sealed channel
 * cp ProcessRunnerBenchmark.java /tmp/pool-before/shepherd-benchmarks/src/main/java/dev/shepherd/benchmarks/pool/
 * (cd /tmp/pool-before; ./mvnw -B -ntp -q -pl shepherd-benchmarks -am install -DskipTests)
 * ./mvnw -B -ntp -q -pl shepherd-benchmarks -am install -DskipTests
 * for v in /tmp/pool-before .; do java -jar $v/shepherd-benchmarks/target/benchmarks.jar \
 *   'pool.ProcessRunnerBenchmark.(warmCallProcessRunner|warmCallProcessRunner1KiB|throughputTwoProcessRunners)$' \
 *   -f 1 -wi 2 -i 4 -w 2 -r 3; done
 * </pre>
 */
public class ProcessRunnerBenchmark {

  /** Boots one runner per invocation; the previous one is shut down (untimed) first. */
  @State(Scope.Benchmark)
  public static class Boot {
    ProcessBackend backend;
    RunnerHandle runner;
    CompletableFuture<Throwable> died;
    final AtomicInteger ids = new AtomicInteger();
    String java;
    String classpath;

    @Setup(Level.Trial)
    public void setUp() {
      backend = ProcessBackend.builder().functions(BenchFunctions.class).build();
      java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
      classpath = System.getProperty("java.class.path");
    }

    @TearDown(Level.Invocation)
    public void retire() throws Exception {
      if (runner != null) {
        runner.shutdown(Duration.ofSeconds(5));
        died.get(30, TimeUnit.SECONDS); // exited (and wrote the CDS archive the first time)
        runner = null;
      }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      backend.close();
    }
  }

  @Benchmark
  @BenchmarkMode(Mode.SampleTime)
  @OutputTimeUnit(TimeUnit.MILLISECONDS)
  public RunnerHandle coldBootProcessRunner(Boot boot) throws Exception {
    CompletableFuture<Throwable> died = new CompletableFuture<>();
    RunnerSpec spec =
        new RunnerSpec(
            "bench", "bench-" + boot.ids.incrementAndGet(), Duration.ofSeconds(60),
            Duration.ofSeconds(5), Duration.ofMinutes(5), 10);
    boot.runner = boot.backend.boot(spec, died::complete);
    boot.died = died;
    return boot.runner;
  }

  /** The floor: a JVM with the same options and classpath that only runs an empty main. */
  @Benchmark
  @BenchmarkMode(Mode.SampleTime)
  @OutputTimeUnit(TimeUnit.MILLISECONDS)
  public int bareJvmStartAndExit(Boot boot) throws Exception {
    List<String> command = new java.util.ArrayList<>();
    command.add(boot.java);
    command.addAll(ProcessBackend.Builder.defaultJvmOptions());
    command.add("-cp");
    command.add(boot.classpath);
    command.add(EmptyMain.class.getName());
    return new ProcessBuilder(command).inheritIO().start().waitFor();
  }

  /** A pool of one warm child runner, and a local pool for comparison. */
  @State(Scope.Benchmark)
  public static class Warm {
    ElasticPool process;
    ElasticPool local;
    final Long small = 42L;
    final byte[] kib = new byte[1024];

    @Setup(Level.Trial)
    public void setUp() throws Exception {
      process =
          ElasticPool.builder()
              .name("bench-process")
              .backend(ProcessBackend.builder().functions(BenchFunctions.class).build())
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
      byte[] encoded = PayloadCodec.encode(small);
      if (encoded.length != 9) {
        throw new IllegalStateException("small payload is " + encoded.length + " bytes");
      }
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
