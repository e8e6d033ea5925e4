package dev.shepherd.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Faults on the channel to a child JVM that must cost one runner at most, never the pool: a child
 * that stops reading (SIGSTOP stands in for a hung JVM or a network partition), a cancel that
 * lands while a result is being written, a result that cannot be encoded, a failure larger than a
 * frame.
 */
class RunnerChannelFaultTest {

  private static final Duration LONG = Duration.ofSeconds(60);
  /** More than the loopback socket buffers of both ends hold, less than the 16 MiB frame limit. */
  private static final int STUCK_BYTES = 15 * 1024 * 1024;

  private static ElasticPool pool(String name, ProcessBackend backend, int maxConcurrency) {
    return ElasticPool.builder()
        .name(name)
        .backend(backend)
        .min(1)
        .max(1)
        .maxConcurrency(maxConcurrency)
        .build();
  }

  private static void signal(String signal, long pid) throws IOException, InterruptedException {
    // the shell's own kill: no procps needed on a fresh machine
    Process kill = new ProcessBuilder("sh", "-c", "kill -" + signal + " " + pid).start();
    assertThat(kill.waitFor(10, TimeUnit.SECONDS)).isTrue();
    assertThat(kill.exitValue()).as("kill -%s %d", signal, pid).isZero();
  }

  private static Throwable failureOf(CompletableFuture<?> future, Duration within)
      throws InterruptedException {
    try {
      future.get(within.toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException | CompletionException e) {
      return e.getCause();
    } catch (java.util.concurrent.TimeoutException e) {
      throw new AssertionError("the call did not end within " + within, e);
    }
    throw new AssertionError("expected a failure");
  }

  /**
   * The call whose write overran either fails with {@link RunnerDiedException} (the runner's death
   * was seen first) or, never having reached the runner whole, runs on the replacement (the failed
   * write was seen first): which one is a race between two threads of the pool, and both keep the
   * promise that a call runs at most once and ends. What is certain is below.
   */
  @Test
  void aRunnerThatStopsReadingIsDeclaredDeadAtTheWriteTimeout() throws Exception {
    ProcessBackend backend =
        ProcessBackend.builder()
            .functions(TestFunctions.class)
            .writeTimeout(Duration.ofSeconds(2))
            .build();
    List<Throwable> deaths = new CopyOnWriteArrayList<>();
    try (ElasticPool pool =
        ElasticPool.builder()
            .name("stopped")
            .backend(backend)
            .min(1)
            .max(1)
            .eventListener(
                event -> {
                  if (event instanceof PoolEvent.RunnerDied died) {
                    deaths.add(died.cause());
                  }
                })
            .build()) {
      long pid = (Long) pool.call("pid", null, LONG);
      signal("STOP", pid);
      try {
        // Without a write deadline this write waits for the stopped child forever.
        CompletableFuture<Object> big =
            CompletableFuture.supplyAsync(
                () -> {
                  try {
                    return pool.call("echo", new byte[STUCK_BYTES], LONG);
                  } catch (InterruptedException e) {
                    throw new CompletionException(e);
                  }
                });

        try {
          assertThat((byte[]) big.get(LONG.toSeconds(), TimeUnit.SECONDS)).hasSize(STUCK_BYTES);
        } catch (ExecutionException e) {
          assertThat(e.getCause()).isInstanceOf(RunnerDiedException.class);
        }
        await().until(() -> ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true));
        assertThat(deaths).singleElement().satisfies(
            cause -> assertThat(chain(cause)).contains("write timeout of PT2S"));
        assertThat((Long) pool.call("pid", null, LONG)).isNotEqualTo(pid);
        assertThat(pool.snapshot().deaths()).isEqualTo(1);
      } finally {
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
      }
    }
  }

  /**
   * Whether {@code thread} is blocked writing a frame into a socket that takes no more (it holds
   * the connection's write lock meanwhile).
   */
  private static boolean blockedInAWrite(Thread thread) {
    StackTraceElement[] stack = thread.getStackTrace();
    boolean inSend = false;
    boolean inSocketWrite = false;
    for (StackTraceElement frame : stack) {
      if (frame.getClassName().equals(dev.shepherd.pool.internal.FrameChannel.class.getName())
          && frame.getMethodName().equals("send")) {
        inSend = true;
      }
      if (frame.getClassName().startsWith("sun.nio.ch.") && frame.getMethodName().contains("write")) {
        inSocketWrite = true;
      }
    }
    return inSend && inSocketWrite;
  }

  private static String chain(Throwable t) {
    StringBuilder all = new StringBuilder();
    for (Throwable c = t; c != null; c = c.getCause()) {
      all.append(c).append(" <- ");
    }
    return all.toString();
  }

  @Test
  void aRunnerThatStopsReadingDoesNotKeepThePoolFromTimingOutItsOtherCalls() throws Exception {
    // The write timeout is longer than the test: only cancels written off the housekeeping thread
    // let the second call time out while the first's cancel waits on the stuck socket.
    ProcessBackend backend =
        ProcessBackend.builder()
            .functions(TestFunctions.class)
            .writeTimeout(Duration.ofMinutes(5))
            .build();
    try (ElasticPool pool = pool("stuck", backend, 3)) {
      long pid = (Long) pool.call("pid", null, LONG);
      CompletableFuture<Object> first = pool.callAsync("sleep", 600_000L, Duration.ofSeconds(3));
      CompletableFuture<Object> second = pool.callAsync("sleep", 600_000L, Duration.ofSeconds(6));
      await().until(() -> pool.snapshot().busySlots() == 2);
      signal("STOP", pid);
      try {
        // Blocks its own thread inside the write, holding the runner's write lock.
        Thread writer =
            Thread.ofVirtual()
                .start(
                    () -> {
                      try {
                        pool.call("echo", new byte[STUCK_BYTES], LONG);
                      } catch (InterruptedException | RuntimeException e) {
                        // the runner is killed at the end of the test
                      }
                    });

        assertThat(failureOf(first, LONG)).isInstanceOf(CallTimeoutException.class);
        assertThat(failureOf(second, LONG)).isInstanceOf(CallTimeoutException.class);
        assertThat(writer.isAlive()).isTrue(); // still stuck: the write timeout is 5 minutes
      } finally {
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
      }
    }
  }

  /**
   * Before the fix, a call whose runner's connection was busy writing another frame (a large
   * argument to a child that stopped reading) waited for that write, up to the write timeout (here
   * 5 minutes), whatever its own timeout: the caller that asked for one second waited minutes.
   */
  @Test
  void aCallWaitingBehindAStuckWriteTimesOutAtItsOwnDeadlineAndTheRunnerIsKept() throws Exception {
    ProcessBackend backend =
        ProcessBackend.builder()
            .functions(TestFunctions.class)
            .writeTimeout(Duration.ofMinutes(5))
            .build();
    // No sweep and a long grace: the call can end only at its own deadline, or (before the fix)
    // when the grace ran out and the runner was killed for it.
    try (ElasticPool pool =
        ElasticPool.builder()
            .name("behind")
            .backend(backend)
            .min(1)
            .max(1)
            .maxConcurrency(8)
            .housekeepingInterval(Duration.ofMinutes(10))
            .cancelGrace(Duration.ofMinutes(5))
            .build()) {
      long pid = (Long) pool.call("pid", null, LONG);
      signal("STOP", pid);
      try {
        // Large arguments until one write blocks inside the socket, holding the runner's write
        // lock (the socket buffers of a Unix domain socket may take a frame or more first).
        List<Thread> writers = new CopyOnWriteArrayList<>();
        for (int i = 0; i < 4; i++) {
          writers.add(
              Thread.ofVirtual()
                  .start(
                      () -> {
                        try {
                          pool.call("echo", new byte[STUCK_BYTES], LONG);
                        } catch (InterruptedException | RuntimeException e) {
                          // the runner is killed at the end of the test
                        }
                      }));
        }
        await().atMost(LONG).until(() -> writers.stream().anyMatch(t -> blockedInAWrite(t)));

        CompletableFuture<Throwable> small =
            CompletableFuture.supplyAsync(
                () -> {
                  try {
                    pool.call("echo", "small", Duration.ofSeconds(1));
                    return null;
                  } catch (InterruptedException | RuntimeException e) {
                    return e;
                  }
                });
        Throwable failure = small.get(LONG.toSeconds(), TimeUnit.SECONDS);
        assertThat(failure)
            .isInstanceOf(CallTimeoutException.class)
            .hasMessageContaining("was not sent");
        assertThat(((CallTimeoutException) failure).started()).isFalse();
        assertThat(writers).allMatch(Thread::isAlive); // the big writes still wait: 5 minutes
        assertThat(pool.snapshot().deaths()).isZero();
        assertThat(pool.snapshot().busySlots()).isEqualTo(4);
      } finally {
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
      }
    }
  }

  @Test
  void aCancelThatLandsWhileTheResultIsEncodedDoesNotCloseTheRunnersConnection()
      throws Exception {
    ProcessBackend backend = ProcessBackend.builder().functions(TestFunctions.class).build();
    try (ElasticPool pool = pool("late-cancel", backend, 2)) {
      long pid = (Long) pool.call("pid", null, LONG);
      CompletableFuture<Object> other = pool.callAsync("sleep", 3_000L, LONG);

      // Times out after 2 s; its cancel interrupts the thread that is encoding its 12 MiB result.
      CompletableFuture<Object> late =
          pool.callAsync("bigResultEncodedUntilCancelled", 12, Duration.ofSeconds(2));

      assertThat(failureOf(late, LONG)).isInstanceOf(CallTimeoutException.class);
      assertThat(other.get(LONG.toSeconds(), TimeUnit.SECONDS)).isEqualTo("slept");
      assertThat((Long) pool.call("pid", null, LONG)).isEqualTo(pid);
      assertThat(pool.snapshot().deaths()).isZero();
    }
  }

  @Test
  void aResultWhoseEncodingThrowsFailsTheCallAtOnceAndKeepsTheRunner() throws Exception {
    ProcessBackend backend = ProcessBackend.builder().functions(TestFunctions.class).build();
    try (ElasticPool pool = pool("unencodable", backend, 1)) {
      long pid = (Long) pool.call("pid", null, LONG);

      // Without an answer the call would only end at its timeout, then cost the runner.
      CompletableFuture<Object> call =
          pool.callAsync("resultThatThrowsWhenEncoded", null, LONG);

      Throwable failure = failureOf(call, Duration.ofSeconds(30));
      assertThat(failure).isInstanceOf(CallFailedException.class);
      assertThat(failure.getCause())
          .isInstanceOf(RemoteException.class)
          .hasMessageContaining("cannot return the result of \"resultThatThrowsWhenEncoded\"");
      assertThat(failure.getCause().getCause())
          .hasMessageContaining("java.util.ConcurrentModificationException")
          .hasMessageContaining("changed while encoded");
      assertThat((Long) pool.call("pid", null, LONG)).isEqualTo(pid);
      assertThat(pool.snapshot().deaths()).isZero();
    }
  }

  @Test
  void aFailureLargerThanAFrameArrivesWithoutItsStackAndKeepsTheRunner() throws Exception {
    ProcessBackend backend =
        ProcessBackend.builder().functions(TestFunctions.class).maxFrameBytes(4096).build();
    try (ElasticPool pool = pool("small-frames", backend, 1)) {
      long pid = (Long) pool.call("pid", null, LONG);

      Throwable failure =
          failureOf(pool.callAsync("throwDeep", 200, LONG), Duration.ofSeconds(30));

      assertThat(failure).isInstanceOf(CallFailedException.class);
      RemoteException remote = (RemoteException) failure.getCause();
      assertThat(remote.remoteClassName()).isEqualTo("java.lang.IllegalStateException");
      assertThat(remote.remoteMessage())
          .startsWith("deep failure")
          .contains("stack trace and causes left out")
          .contains("maxFrameBytes=4096");
      assertThat((Long) pool.call("pid", null, LONG)).isEqualTo(pid);
      assertThat(pool.snapshot().deaths()).isZero();
    }
  }
}
