package dev.shepherd.benchmarks.pool;

import dev.shepherd.pool.spi.RunnerHandle;
import dev.shepherd.pool.spi.RunnerSpec;
import dev.shepherd.pool.ProcessBackend;
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

/**
 * The process backend's cold boot of a child-JVM runner (to ready, connected and authenticated),
 * against the floor of starting a bare JVM on the same classpath. Warm calls are measured by
 * {@link ProcessCallBenchmark}.
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
}
