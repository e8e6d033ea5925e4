package dev.shepherd.benchmarks.pool;

import dev.shepherd.pool.ElasticPool;
import dev.shepherd.pool.LocalBackend;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
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
 * Overhead of one blocking call through an {@link ElasticPool} on the local backend (checkout,
 * a hand-off straight to an idle reusable platform thread of the runner, result back to the
 * caller) against the JDK peer: {@code ThreadPoolExecutor.submit(task).get()}. Both run a task
 * that returns its argument. Target: the pool within 1.1 times the executor. {@code
 * virtualThreadPerCallFloor} is the floor of the earlier design (a virtual thread per call)
 * without the pool, for comparison. The local hand-off spins briefly before parking (10 us by
 * default); the second command measures it with the spin off, which leaves two parks and
 * unparks per call, as the executor has.
 *
 * <pre>
 * java -jar shepherd-benchmarks/target/benchmarks.jar 'pool.LocalCallBenchmark' -f 1 -wi 3 -i 5 -w 2 -r 2
 * java -jar shepherd-benchmarks/target/benchmarks.jar 'pool.LocalCallBenchmark' -f 1 -wi 3 -i 5 -w 2 -r 2 \
 *     -jvmArgsAppend -Ddev.shepherd.pool.local.spinMicros=0
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class LocalCallBenchmark {

  private ElasticPool pool;
  private ThreadPoolExecutor executor;
  private final Long argument = 42L;

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    pool =
        ElasticPool.builder()
            .name("bench-local")
            .backend(LocalBackend.of(new BenchFunctions().create()))
            .min(1)
            .max(1)
            .maxConcurrency(100)
            .build();
    pool.call("echo", argument); // booted
    executor =
        new ThreadPoolExecutor(4, 4, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>());
    executor.prestartAllCoreThreads();
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    pool.close();
    executor.shutdownNow();
  }

  @Benchmark
  public Object elasticPoolLocalCall() throws Exception {
    return pool.call("echo", argument, Duration.ofSeconds(30));
  }

  @Benchmark
  public Object threadPoolExecutorSubmitGet() throws Exception {
    Long a = argument;
    return executor.submit(() -> a).get();
  }

  @Benchmark
  public Object virtualThreadPerCallFloor() throws Exception {
    Long a = argument;
    CompletableFuture<Long> result = new CompletableFuture<>();
    Thread.ofVirtual().start(() -> result.complete(a));
    return result.get(30, TimeUnit.SECONDS);
  }
}
