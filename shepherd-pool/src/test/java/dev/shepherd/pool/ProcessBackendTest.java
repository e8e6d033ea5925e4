package dev.shepherd.pool;

import dev.shepherd.pool.spi.LaunchedRunner;
import dev.shepherd.pool.spi.RunnerHandle;
import dev.shepherd.pool.spi.RunnerLauncher;
import dev.shepherd.pool.spi.RunnerSpec;
import dev.shepherd.testing.LogCapture;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The process backend against real child JVMs. */
class ProcessBackendTest {

  private static final Duration LONG = Duration.ofSeconds(60);

  /** One pool shared by the tests that do not kill runners, to keep JVM boots few. */
  private static ElasticPool shared;

  @BeforeAll
  static void startSharedPool() {
    shared =
        ElasticPool.builder()
            .name("proc")
            .backend(ProcessBackend.builder().functions(TestFunctions.class).build())
            .min(1)
            .max(1)
            .build();
  }

  @AfterAll
  static void closeSharedPool() {
    shared.close();
  }

  private static Throwable failureOf(CompletableFuture<?> future) {
    try {
      future.join();
    } catch (CompletionException e) {
      return e.getCause();
    }
    throw new AssertionError("expected a failure");
  }

  @Test
  void callsRunInAChildJvmAndValuesRoundTripThroughTheCodec() throws Exception {
    Object pid = shared.call("pid", null, LONG);
    assertThat(pid).isInstanceOf(Long.class).isNotEqualTo(ProcessHandle.current().pid());
    assertThat(shared.call("square", 7L, LONG)).isEqualTo(49L);
    Map<String, Object> value = new HashMap<>();
    value.put("list", List.of(1, 2L, 3.5, "x", true));
    value.put("bytes", List.of());
    value.put("none", null);
    assertThat(shared.call("echo", value, LONG)).isEqualTo(value);
  }

  @Test
  void anExceptionOnTheRunnerArrivesWithItsTypeNameMessageAndStack() {
    assertThatThrownBy(() -> shared.call("fail", "q3", LONG))
        .isInstanceOf(CallFailedException.class)
        .cause()
        .isInstanceOfSatisfying(
            RemoteException.class,
            remote -> {
              assertThat(remote.remoteClassName()).isEqualTo("java.lang.IllegalStateException");
              assertThat(remote.remoteMessage()).isEqualTo("no such report: q3");
              assertThat(remote.getStackTrace())
                  .anySatisfy(f -> assertThat(f.getClassName()).startsWith(TestFunctions.class.getName()));
              assertThat(remote).hasToString("java.lang.IllegalStateException: no such report: q3 (remote)");
            });
  }

  @Test
  void aResultTheCodecCannotCarryIsAClearFailure() {
    assertThatThrownBy(() -> shared.call("badResult", null, LONG))
        .isInstanceOf(CallFailedException.class)
        .cause()
        .hasMessageContaining("cannot return the result: cannot encode java.lang.Object at $");
  }

  @Test
  void anUnknownFunctionIsNamedAndTheRegisteredOnesListed() {
    assertThatThrownBy(() -> shared.call("nope", 1, LONG))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith(
            "unknown function \"nope\"; registered functions are [badResult,"
                + " bigResultEncodedUntilCancelled, bytes, count, echo");
  }

  @Test
  void anArgumentTheCodecCannotEncodeFailsBeforeAnythingIsSent() {
    AtomicInteger launches = new AtomicInteger();
    RemoteBackend backend =
        RemoteBackend.builder()
            .functions(TestFunctions.class)
            .launcher((spec, env) -> {
              launches.incrementAndGet();
              throw new IllegalStateException("must not launch");
            })
            .build();
    try (ElasticPool pool = ElasticPool.builder().backend(backend).build()) {
      assertThatThrownBy(() -> pool.call("echo", Map.of("when", new java.util.Date()), LONG))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage(
              "cannot encode java.util.Date at ${when}; the pool codec carries only null, Boolean,"
                  + " Integer, Long, Double, String, byte[], List, Map");
      assertThat(launches).hasValue(0);
      assertThat(pool.snapshot().waiters()).isZero();
      assertThat(pool.snapshot().booting()).isZero();
    }
  }

  @Test
  void aDeadlineWhileRunningCancelsTheWorkInTheChild() {
    assertThatThrownBy(() -> shared.call("sleep", 600_000L, Duration.ofMillis(300)))
        .isInstanceOfSatisfying(CallTimeoutException.class, e -> assertThat(e.started()).isTrue());
    // The slot is freed only when the child reports the call stopped.
    await().until(() -> shared.snapshot().busySlots() == 0);
  }

  @Test
  void childOutputReachesTheParentLoggerTaggedWithTheRunnerId() throws Exception {
    try (LogCapture log = LogCapture.of(ProcessBackend.class)) {
      shared.call("print", "hello from the child", LONG);
      String id = shared.snapshot().runners().get(0).id();
      await().until(() -> log.messages().contains("[" + id + "] hello from the child"));
    }
  }

  @Test
  void killingARunnerMidCallFailsItsCallersFastAndThePoolRecovers() throws Exception {
    try (ElasticPool pool =
        ElasticPool.builder()
            .name("victim")
            .backend(ProcessBackend.builder().functions(TestFunctions.class).build())
            .min(1)
            .max(1)
            .build()) {
      long pid = (Long) pool.call("pid", null, LONG);
      List<CompletableFuture<Object>> calls = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        calls.add(pool.callAsync("sleep", 600_000L, LONG));
      }
      await().until(() -> pool.snapshot().busySlots() == 3);
      assertThat(ProcessHandle.of(pid).orElseThrow().destroyForcibly()).isTrue(); // SIGKILL
      for (CompletableFuture<Object> call : calls) {
        assertThat(failureOf(call)).isInstanceOf(RunnerDiedException.class);
      }
      assertThat(pool.call("square", 3L, LONG)).isEqualTo(9L);
      assertThat((Long) pool.call("pid", null, LONG)).isNotEqualTo(pid);
      assertThat(pool.snapshot().deaths()).isEqualTo(1);
    }
  }

  /**
   * No call is sent: the child's idle clock starts when it has shaken hands, so a call sent after
   * that could arrive past a 500 ms limit on a loaded machine and find the child gone (the race
   * the pool avoids by giving its runners a backstop far above its own idle retirement).
   */
  @Test
  void aChildExitsByItselfWhenIdlePastItsLimit() throws Exception {
    try (ProcessBackend backend = ProcessBackend.builder().functions(TestFunctions.class).build()) {
      CompletableFuture<Throwable> died = new CompletableFuture<>();
      RunnerSpec spec =
          new RunnerSpec("idle", "idle-1", LONG, LONG, Duration.ofMillis(500), 1);
      RunnerHandle runner = backend.boot(spec, died::complete);
      assertThat(died.get()).hasMessageContaining("idle-1");
      assertThatThrownBy(() -> runner.start("echo", PayloadCodec.encode("x"), LONG))
          .isInstanceOf(RunnerDiedException.class)
          .hasMessageContaining("idle-1");
    }
  }

  @Test
  void aChildThatDoesNotConnectWithinTheBootTimeoutIsKilled() throws Exception {
    List<Process> started = new CopyOnWriteArrayList<>();
    RunnerLauncher silent =
        (spec, env) -> {
          Process process = new ProcessBuilder("sleep", "600").start();
          started.add(process);
          return new ProcessLauncher.ChildProcess(spec.runnerId(), process);
        };
    try (RemoteBackend backend =
        RemoteBackend.builder().functions(TestFunctions.class).launcher(silent).build()) {
      RunnerSpec spec = new RunnerSpec("silent", "silent-1", Duration.ofMillis(500), LONG, LONG, 1);
      assertThatThrownBy(() -> backend.boot(spec, cause -> {}))
          .isInstanceOf(RunnerBootException.class)
          .hasMessageContaining("did not connect back within bootTimeout");
      await().until(() -> !started.get(0).isAlive());
    }
  }

  @Test
  void aRunnerWithTheWrongSecretIsTurnedAway() {
    CompletableFuture<Integer> status = new CompletableFuture<>();
    RunnerLauncher impostor =
        (spec, env) -> {
          Map<String, String> forged = new HashMap<>(env);
          forged.put(RunnerEnvironment.SECRET, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
          Thread.ofVirtual().start(() -> status.complete(RemoteRunner.run(forged)));
          return new StubRunner();
        };
    try (RemoteBackend backend =
        RemoteBackend.builder().functions(TestFunctions.class).launcher(impostor).build()) {
      RunnerSpec spec = new RunnerSpec("forged", "forged-1", Duration.ofSeconds(2), LONG, LONG, 1);
      assertThatThrownBy(() -> backend.boot(spec, cause -> {}))
          .isInstanceOf(RunnerBootException.class);
      assertThat(status.join()).isEqualTo(3);
    }
  }

  @Test
  void aRunnerStartedAnotherWayConnectsBackThroughTheSharedProtocol() throws Exception {
    RunnerLauncher inProcess =
        (spec, env) -> {
          Thread.ofVirtual().start(() -> RemoteRunner.run(env));
          return new StubRunner();
        };
    try (ElasticPool pool =
        ElasticPool.builder()
            .backend(RemoteBackend.builder().functions(TestFunctions.class).launcher(inProcess).build())
            .build()) {
      assertThat(pool.call("square", 12L, LONG)).isEqualTo(144L);
    }
  }

  /**
   * The Kubernetes backend's {@code connected()} deletes the runner's Secret through the API
   * server, which can be slow; the runner waits only 10 s for its WELCOME, so the WELCOME must not
   * wait for {@code connected()}.
   */
  @Test
  void aSlowConnectedHookDoesNotKeepTheRunnerFromItsWelcome() throws Exception {
    ProcessLauncher processes =
        new ProcessLauncher(
            Path.of(System.getProperty("java.home"), "bin", "java"),
            ProcessLauncher.defaultJvmOptions(),
            System.getProperty("java.class.path"));
    RunnerLauncher slowToConfirm =
        (spec, env) -> {
          LaunchedRunner child = processes.launch(spec, env);
          return new LaunchedRunner() {
            @Override
            public CompletableFuture<Void> exited() {
              return child.exited();
            }

            @Override
            public void connected() {
              // longer than the runner waits for its WELCOME; the child is alive throughout
              long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(11);
              while (System.nanoTime() < end) {
                assertThat(child.exited()).isNotDone();
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(100));
              }
            }

            @Override
            public void kill() {
              child.kill();
            }
          };
        };
    try (ElasticPool pool =
        ElasticPool.builder()
            .backend(
                RemoteBackend.builder()
                    .functions(TestFunctions.class)
                    .launcher(slowToConfirm)
                    .build())
            .bootTimeout(Duration.ofSeconds(60))
            .build()) {
      assertThat(pool.call("square", 12L, LONG)).isEqualTo(144L);
      assertThat(pool.snapshot().deaths()).isZero();
    }
  }

}
