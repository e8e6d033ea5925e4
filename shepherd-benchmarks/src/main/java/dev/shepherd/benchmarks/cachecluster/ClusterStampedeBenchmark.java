package dev.shepherd.benchmarks.cachecluster;

import dev.shepherd.testing.RedisServer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
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
 * Four JVMs ({@link StampedeNode}) on one cold key with a 20 ms loader, 1,000 virtual threads each,
 * released at the same wall-clock millisecond: {@code mode=cluster} (a {@code RedisCourier} on one
 * real Redis) against {@code mode=local} (each JVM coalesces on its own). Per invocation:
 * {@code loaderRuns} (summed over the four JVMs; the target is 1 in cluster mode instead of 4) and
 * {@code msToLastAnswer}, from the release to the last caller of the last JVM answered (each JVM
 * measures with {@code System.nanoTime()} from its own release; the target
 * is within the loader's 20 ms plus 5 ms at p50: read the per-iteration values of that secondary
 * metric in the JSON result). The primary score also counts the commands to the JVMs; ignore it.
 * Before the first stampede each JVM warms its cache's code paths up with {@code warmUpLoads}
 * loads of other keys (5,000), as a running service has; {@code -p warmUpLoads=0} times JVMs whose
 * Redis client has run a handful of commands only.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5)
@Measurement(iterations = 30)
@Fork(1)
public class ClusterStampedeBenchmark {

  static final int JVMS = 4;
  static final int CALLERS = 1_000;
  /** How far ahead of now the JVMs are told to release their callers. */
  static final long LEAD_MILLIS = 300;

  @Param({"cluster", "local"})
  public String mode;

  /** Loads of other keys each JVM runs before the first stampede. */
  @Param({"5000"})
  public int warmUpLoads;

  /** What one invocation measured. */
  @State(Scope.Thread)
  @AuxCounters(AuxCounters.Type.EVENTS)
  public static class Result {
    public long loaderRuns;
    public double msToLastAnswer;
    /** From the release to the first loader run starting in any JVM. */
    public double msToLoadStart;
    /** From the release to the last loader run ending in any JVM. */
    public double msToLoadEnd;
  }

  private RedisServer redis;
  private final List<Process> nodes = new ArrayList<>();
  private final List<PrintWriter> inputs = new ArrayList<>();
  private final List<BufferedReader> outputs = new ArrayList<>();

  @Setup(Level.Trial)
  public void start() throws IOException {
    redis = RedisServer.create();
    redis.start();
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    for (int i = 0; i < JVMS; i++) {
      Process p = new ProcessBuilder(java, "-Xmx256m", "-Dio.lettuce.core.jfr=false",
          "-cp", System.getProperty("java.class.path"), StampedeNode.class.getName(),
          mode, redis.uri(), Integer.toString(CALLERS), Integer.toString(warmUpLoads))
          .redirectError(ProcessBuilder.Redirect.INHERIT)
          .start();
      nodes.add(p);
      inputs.add(new PrintWriter(p.getOutputStream(), true, StandardCharsets.UTF_8));
      outputs.add(new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)));
    }
    for (BufferedReader out : outputs) {
      String ready = out.readLine();
      if (!"READY".equals(ready)) {
        throw new IllegalStateException("a node did not start: " + ready);
      }
    }
  }

  @TearDown(Level.Trial)
  public void stop() throws InterruptedException {
    for (Process p : nodes) {
      p.destroyForcibly();
    }
    for (Process p : nodes) {
      p.waitFor(30, TimeUnit.SECONDS);
    }
    redis.close();
  }

  @Benchmark
  public void coldKeyOnFourJvms(Result result) throws IOException {
    String key = "cold-" + UUID.randomUUID();
    long startAt = System.currentTimeMillis() + LEAD_MILLIS;
    for (PrintWriter in : inputs) {
      in.println("GO " + key + " " + startAt);
    }
    long runs = 0;
    long last = 0;
    long loadStart = Long.MAX_VALUE;
    long loadEnd = 0;
    for (BufferedReader out : outputs) {
      String line = out.readLine();
      if (line == null || !line.startsWith("DONE ")) {
        throw new IllegalStateException("a node failed: " + line);
      }
      String[] w = line.split(" ", -1);
      if (!w[3].equals("0")) {
        throw new IllegalStateException("callers failed in a node: " + line);
      }
      runs += Long.parseLong(w[1]);
      last = Math.max(last, Long.parseLong(w[2]));
      long started = Long.parseLong(w[4]);
      if (started >= 0L) {
        loadStart = Math.min(loadStart, started);
      }
      loadEnd = Math.max(loadEnd, Long.parseLong(w[5]));
    }
    result.loaderRuns = runs;
    result.msToLastAnswer = last / 1000.0;
    result.msToLoadStart = loadStart / 1000.0;
    result.msToLoadEnd = loadEnd / 1000.0;
  }
}
