package dev.shepherd.pool;

import dev.shepherd.pool.internal.FrameChannel;
import dev.shepherd.pool.internal.RemoteProtocol;
import dev.shepherd.pool.spi.LaunchedRunner;
import dev.shepherd.pool.spi.RunnerLauncher;
import dev.shepherd.pool.spi.RunnerSpec;
import dev.shepherd.testing.LogCapture;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The runner channel against an attacker on the same host: floods before authentication, a proxy
 * that alters a frame, a listener that does not know the secret, frames and payloads over their
 * limits, and hostile text from the wire. Runners are real child JVMs.
 */
class ChannelSecurityTest {

  private static final Duration LONG = Duration.ofSeconds(60);

  /** Starts child JVMs like the process backend, optionally pointing them at another parent. */
  private static final class Launcher implements RunnerLauncher {
    private final ProcessLauncher processes =
        new ProcessLauncher(
            Path.of(System.getProperty("java.home"), "bin", "java"),
            ProcessLauncher.defaultJvmOptions(System.getProperty("java.class.path")),
            System.getProperty("java.class.path"));
    volatile String parentOverride;
    final List<LaunchedRunner> launched = new CopyOnWriteArrayList<>();

    @Override
    public LaunchedRunner launch(RunnerSpec spec, Map<String, String> environment) throws Exception {
      Map<String, String> env = new HashMap<>(environment);
      if (parentOverride != null) {
        env.put(RunnerEnvironment.PARENT, parentOverride);
      }
      LaunchedRunner runner = processes.launch(spec, env);
      launched.add(runner);
      return runner;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // 1. Bounded before authentication

  @Test
  void floodsBeforeAuthenticationPinNoMemoryAreCutAtTheDeadlineAndRunnersStillServe()
      throws Exception {
    RemoteBackend backend =
        RemoteBackend.builder()
            .functions(TestFunctions.class)
            .launcher(new Launcher())
            .handshakeTimeout(Duration.ofSeconds(1))
            .build();
    int port = backend.address().getPort();
    AtomicBoolean stop = new AtomicBoolean();
    int attackers = 16;
    AtomicInteger[] cuts = new AtomicInteger[attackers];
    CountDownLatch trickling = new CountDownLatch(attackers);
    List<Thread> threads = new ArrayList<>();
    long heapBefore = usedHeapAfterGc();
    try (ElasticPool pool =
        ElasticPool.builder().name("flood").backend(backend).min(2).max(2).bootTimeout(LONG).build()) {
      for (int i = 0; i < attackers; i++) {
        boolean announcesHugeFrame = i < 8;
        AtomicInteger cut = cuts[i] = new AtomicInteger();
        threads.add(
            Thread.ofVirtual()
                .start(() -> attack(port, announcesHugeFrame, stop, cut, trickling)));
      }
      // Every attacker has a connection open and has trickled bytes after its frame length.
      assertThat(trickling.await(60, TimeUnit.SECONDS)).isTrue();
      long heapDuring = usedHeapAfterGc();
      assertThat(heapDuring - heapBefore)
          .as("heap growth while 8 connections announce 256 MiB frames")
          .isLessThan(16L * 1024 * 1024);

      // Real runners boot (min 2) and serve calls while the attackers keep reconnecting.
      await().atMost(LONG).until(() -> pool.snapshot().ready() == 2);
      List<CompletableFuture<Object>> calls = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        calls.add(pool.callAsync("echo", (long) i, LONG));
      }
      for (int i = 0; i < 20; i++) {
        assertThat(calls.get(i).get(60, TimeUnit.SECONDS)).isEqualTo((long) i);
      }
      // Each attacker's connection was closed by the parent while it was still sending.
      await().atMost(LONG).untilAsserted(() -> {
        for (AtomicInteger cut : cuts) {
          assertThat(cut).hasPositiveValue();
        }
      });
    } finally {
      stop.set(true);
      for (Thread t : threads) {
        t.join();
      }
    }
  }

  /**
   * More silent connections than {@code maxHandshakes}, each reconnecting as soon as it is cut and
   * each held for a long handshake timeout: a runner connecting meanwhile must still be taken at
   * once. (Before the runner spoke first and connections were cut oldest-first, the first 16 held
   * every handshake slot for 30 s and the runner waited in the listen backlog behind the other 84
   * until its 10 s wait for the parent ran out, so every boot failed.)
   */
  @Test
  void silentConnectionsBeyondMaxHandshakesNeverKeepARunnerOut() throws Exception {
    RemoteBackend backend =
        RemoteBackend.builder()
            .functions(TestFunctions.class)
            .launcher(new Launcher())
            .maxHandshakes(16)
            .handshakeTimeout(Duration.ofSeconds(30))
            .build();
    int port = backend.address().getPort();
    AtomicBoolean stop = new AtomicBoolean();
    AtomicInteger cuts = new AtomicInteger();
    CountDownLatch connected = new CountDownLatch(100);
    List<Thread> threads = new ArrayList<>();
    List<PoolEvent> failures = new CopyOnWriteArrayList<>();
    try {
      for (int i = 0; i < 100; i++) {
        threads.add(Thread.ofVirtual().start(() -> holdSilently(port, stop, cuts, connected)));
      }
      assertThat(connected.await(60, TimeUnit.SECONDS)).isTrue();
      try (ElasticPool pool =
          ElasticPool.builder()
              .name("silent-flood")
              .backend(backend)
              .min(2)
              .max(2)
              .bootTimeout(Duration.ofSeconds(20))
              .eventListener(
                  event -> {
                    if (event instanceof PoolEvent.BootFailed) {
                      failures.add(event);
                    }
                  })
              .build()) {
        await().atMost(LONG).until(() -> pool.snapshot().ready() == 2 || !failures.isEmpty());
        assertThat(failures).as("boots that failed during the flood").isEmpty();
        assertThat(pool.call("echo", 7L, LONG)).isEqualTo(7L);
        assertThat(cuts).as("silent connections cut to make room").hasPositiveValue();
      }
    } finally {
      stop.set(true);
      for (Thread t : threads) {
        t.join();
      }
      backend.close();
    }
  }

  /**
   * The handshake as a runner speaks it, written by hand against the server with a boot waiting:
   * a KNOCK that checks earns a CHALLENGE; a second one for the same runner while the first is in
   * its handshake is cut (a recorded KNOCK replayed cannot take a booting runner's place twice);
   * a KNOCK with a wrong tag is cut; the PROOF completes the boot.
   */
  @Test
  void aKnockThatChecksEarnsTheOnlyChallengeOfItsRunner() throws Exception {
    try (RemoteRunnerServer server = new RemoteRunnerServer(handOptions(Duration.ofSeconds(30)))) {
      CompletableFuture<Object> booted = new CompletableFuture<>();
      byte[] secret = bootByHand(server, "hand-1", booted);

      int port = server.address().getPort();
      try (Socket wrongTag = new Socket(InetAddress.getLoopbackAddress(), port)) {
        knock(wrongTag, "hand-1", new byte[32], fresh());
        assertThat(refusal(wrongTag))
            .as("a KNOCK with a wrong tag is refused, without saying whether the id boots")
            .isEqualTo("final: not a booting runner, or not its secret");
      }
      byte[] runnerNonce = fresh();
      try (Socket first = new Socket(InetAddress.getLoopbackAddress(), port);
          Socket replayed = new Socket(InetAddress.getLoopbackAddress(), port);
          Socket second = new Socket(InetAddress.getLoopbackAddress(), port)) {
        first.setSoTimeout(30_000);
        knock(first, "hand-1", secret, runnerNonce);
        FrameChannel channel = new FrameChannel(first);
        FrameChannel.Frame challenge = channel.readPlain();
        assertThat(challenge.type()).isEqualTo(RemoteProtocol.CHALLENGE);
        assertThat(challenge.body().readByte()).isEqualTo(RemoteProtocol.VERSION);
        byte[] parentNonce = new byte[RemoteProtocol.NONCE_BYTES];
        challenge.body().readFully(parentNonce);

        knock(replayed, "hand-1", secret, runnerNonce);
        replayed.setSoTimeout(30_000);
        assertThat(replayed.getInputStream().read())
            .as("a replayed KNOCK (the same nonce) is cut without a word")
            .isEqualTo(-1);
        knock(second, "hand-1", secret, fresh());
        assertThat(refusal(second))
            .as("a fresh KNOCK while another connection of the runner is challenged")
            .isEqualTo("try again: already in a handshake on another connection");
        assertThat(booted).isNotDone();

        FrameChannel.FrameWriter proof = new FrameChannel.FrameWriter(RemoteProtocol.PROOF);
        proof.out.write(RemoteProtocol.runnerProof(secret, parentNonce, runnerNonce, "hand-1"));
        channel.writePlain(proof);
        byte[][] keys = RemoteProtocol.sessionKeys(secret, parentNonce, runnerNonce, "hand-1");
        channel.seal(keys[1], keys[0], 1 << 20);
        assertThat(channel.receive().type()).isEqualTo(RemoteProtocol.WELCOME);
        assertThat(booted.get(60, TimeUnit.SECONDS)).isInstanceOf(RemoteConnection.class);
      }
      try (Socket oldVersion = new Socket(InetAddress.getLoopbackAddress(), port)) {
        FrameChannel.FrameWriter knock = new FrameChannel.FrameWriter(RemoteProtocol.KNOCK);
        knock.out.writeByte(RemoteProtocol.VERSION + 1);
        RemoteProtocol.writeString(knock.out, "hand-2");
        knock.out.write(new byte[64]);
        new FrameChannel(oldVersion).writePlain(knock);
        assertThat(refusal(oldVersion))
            .isEqualTo("final: the runner speaks protocol version " + (RemoteProtocol.VERSION + 1)
                + " against the parent's " + RemoteProtocol.VERSION);
      }
    }
  }

  private static byte[] fresh() {
    byte[] nonce = new byte[RemoteProtocol.NONCE_BYTES];
    new SecureRandom().nextBytes(nonce);
    return nonce;
  }

  /** Reads a REFUSED frame: "final: reason" or "try again: reason"; the connection then ends. */
  private static String refusal(Socket s) throws IOException {
    s.setSoTimeout(30_000);
    FrameChannel.Frame refused = new FrameChannel(s).readPlain();
    assertThat(refused.type()).isEqualTo(RemoteProtocol.REFUSED);
    String answer = (refused.body().readBoolean() ? "try again: " : "final: ")
        + RemoteProtocol.readString(refused.body());
    assertThat(s.getInputStream().read()).isEqualTo(-1);
    return answer;
  }

  /**
   * A runner told it is refused for good (here: another protocol version) ends at once with the
   * parent's reason, instead of trying again for 10 s and ending with a bare end of stream.
   */
  @Test
  void aRunnerRefusedForGoodEndsAtOnceWithTheParentsReason() throws Exception {
    byte[] secret = fresh();
    try (ServerSocket parent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      Process runner = startRunner("127.0.0.1:" + parent.getLocalPort(), "refused-1", secret);
      try (Socket s = parent.accept()) {
        FrameChannel channel = new FrameChannel(s);
        assertThat(channel.readPlain().type()).isEqualTo(RemoteProtocol.KNOCK);
        FrameChannel.FrameWriter refused = new FrameChannel.FrameWriter(RemoteProtocol.REFUSED);
        refused.out.writeBoolean(false);
        RemoteProtocol.writeString(refused.out, "the runner speaks protocol version 9 against the parent's 3");
        channel.writePlain(refused);
      }
      parent.setSoTimeout(2_000);
      assertThat(runner.waitFor(60, TimeUnit.SECONDS)).isTrue();
      String stderr = new String(runner.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(runner.exitValue()).as(stderr).isEqualTo(3);
      assertThat(stderr).contains(
          "the parent refused this runner: the runner speaks protocol version 9 against the parent's 3");
      assertThatThrownBy(parent::accept)
          .as("the runner did not connect again")
          .isInstanceOf(java.net.SocketTimeoutException.class);
    }
  }

  /**
   * A passing failure on the acceptor thread (an OutOfMemoryError while accepting) does not stop
   * the server: a later connection is still read and answered.
   */
  @Test
  void anOutOfMemoryErrorOnTheAcceptorIsSurvived() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    try (RemoteRunnerServer server =
            new RemoteRunnerServer(
                handOptions(),
                listening -> {
                  if (calls.getAndIncrement() == 0) {
                    throw new OutOfMemoryError("test: no memory for this accept");
                  }
                  return listening.accept();
                });
        Socket s = new Socket(InetAddress.getLoopbackAddress(), server.address().getPort())) {
      FrameChannel.FrameWriter knock = new FrameChannel.FrameWriter(RemoteProtocol.KNOCK);
      knock.out.writeByte(RemoteProtocol.VERSION);
      RemoteProtocol.writeString(knock.out, "nobody");
      knock.out.write(new byte[64]);
      new FrameChannel(s).writePlain(knock);

      assertThat(refusal(s)).isEqualTo("final: not a booting runner, or not its secret");
      assertThat(calls.get()).isGreaterThan(1);
    }
  }

  /**
   * An acceptor that cannot go on (an Error that is not passing) fails every boot at once, naming
   * why, instead of letting each launch a runner that is never answered.
   */
  @Test
  void anAcceptorThatStoppedFailsEveryBootAtOnceNamingWhy() throws Exception {
    try (RemoteRunnerServer server =
            new RemoteRunnerServer(
                handOptions(),
                listening -> {
                  throw new InternalError("test: the acceptor cannot go on");
                });
        Socket s = new Socket(InetAddress.getLoopbackAddress(), server.address().getPort())) {
      assertThat(s.isConnected()).isTrue(); // its accept is what fails
      RunnerSpec spec = new RunnerSpec("stopped", "stopped-1", LONG, LONG, LONG, 1);
      RunnerLauncher unused = (sp, env) -> {
        throw new AssertionError("a boot of a stopped server launched a runner");
      };
      await().atMost(LONG).untilAsserted(() ->
          assertThatThrownBy(() -> server.boot(spec, cause -> {}, unused, TestFunctions.class.getName()))
              .isInstanceOf(RunnerBootException.class)
              .hasMessageContaining("the runner server stopped accepting connections")
              .hasMessageContaining("test: the acceptor cannot go on"));
    }
  }

  /** A remote backend for connections spoken by hand: it never launches a runner. */
  private static RemoteBackend backendThatBootsNothing() {
    return RemoteBackend.builder()
        .functions(TestFunctions.class)
        .launcher((spec, env) -> {
          throw new IllegalStateException("not used");
        })
        .build();
  }

  private static RemoteRunnerServer.Options handOptions() {
    return handOptions(Duration.ofSeconds(30));
  }

  private static RemoteRunnerServer.Options handOptions(Duration handshakeTimeout) {
    return new RemoteRunnerServer.Options(
        InetAddress.getLoopbackAddress(), 0, null, handshakeTimeout, 64, 1 << 20,
        CodecLimits.defaults(), Duration.ofSeconds(30), null);
  }

  /**
   * Starts a boot of {@code id} whose launcher starts nothing (the test speaks for the runner);
   * completes {@code booted} when the boot ends and returns the secret the runner was given.
   */
  private static byte[] bootByHand(RemoteRunnerServer server, String id, CompletableFuture<Object> booted)
      throws Exception {
    CompletableFuture<Map<String, String>> env = new CompletableFuture<>();
    RunnerLauncher captures =
        (spec, environment) -> {
          env.complete(environment);
          return new StubRunner();
        };
    RunnerSpec spec = new RunnerSpec("hand", id, LONG, LONG, LONG, 1);
    Thread.ofVirtual().start(() -> {
      try {
        booted.complete(server.boot(spec, cause -> {}, captures, TestFunctions.class.getName()));
      } catch (Throwable t) {
        booted.completeExceptionally(t);
      }
    });
    return Base64.getUrlDecoder().decode(env.get(60, TimeUnit.SECONDS).get(RunnerEnvironment.SECRET));
  }

  /**
   * The second half of the handshake has its own deadline: a connection whose KNOCK checked and
   * that then sends no PROOF is closed at handshakeTimeout, and the boot is not completed with it.
   */
  @Test
  void aChallengedConnectionThatSendsNoProofIsClosedAtTheHandshakeTimeout() throws Exception {
    try (RemoteRunnerServer server = new RemoteRunnerServer(handOptions(Duration.ofSeconds(1)))) {
      CompletableFuture<Object> booted = new CompletableFuture<>();
      byte[] secret = bootByHand(server, "silent-1", booted);
      try (Socket s = new Socket(InetAddress.getLoopbackAddress(), server.address().getPort())) {
        s.setSoTimeout(30_000);
        knock(s, "silent-1", secret, fresh());
        FrameChannel channel = new FrameChannel(s);
        assertThat(channel.readPlain().type()).isEqualTo(RemoteProtocol.CHALLENGE);

        // No PROOF: the parent hangs up at its deadline (the read would time out after 30 s if not).
        assertThat(s.getInputStream().read()).isEqualTo(-1);
      }
      assertThat(booted).isNotDone();
    }
  }

  private static void knock(Socket s, String id, byte[] secret, byte[] runnerNonce) throws IOException {
    FrameChannel.FrameWriter knock = new FrameChannel.FrameWriter(RemoteProtocol.KNOCK);
    knock.out.writeByte(RemoteProtocol.VERSION);
    RemoteProtocol.writeString(knock.out, id);
    knock.out.write(runnerNonce);
    knock.out.write(RemoteProtocol.knockTag(secret, runnerNonce, id));
    new FrameChannel(s).writePlain(knock);
  }

  /**
   * A runner whose connection is cut before the parent's CHALLENGE (as a parent under a flood
   * cuts the oldest knocking connections) connects again and boots. Before runners tried again,
   * the first cut ended the runner with status 3 and failed the boot.
   */
  @Test
  void aRunnerCutBeforeItsChallengeConnectsAgainAndBoots() throws Exception {
    Launcher launcher = new Launcher();
    RemoteBackend backend =
        RemoteBackend.builder().functions(TestFunctions.class).launcher(launcher).build();
    List<PoolEvent> failures = new CopyOnWriteArrayList<>();
    try (LogCapture childLog = LogCapture.of(ProcessBackend.class);
        TamperingProxy proxy = new TamperingProxy(backend.address().getPort(), 3, false);
        ElasticPool pool =
            ElasticPool.builder()
                .name("cut-knock")
                .backend(backend)
                .bootTimeout(LONG)
                .eventListener(
                    event -> {
                      if (event instanceof PoolEvent.BootFailed) {
                        failures.add(event);
                      }
                    })
                .build()) {
      launcher.parentOverride = "127.0.0.1:" + proxy.port();

      assertThat(pool.call("echo", 5L, LONG)).isEqualTo(5L);

      assertThat(proxy.cut).hasValue(3);
      assertThat(failures).isEmpty();
      await().atMost(LONG).untilAsserted(() -> assertThat(childLog.messages())
          .anySatisfy(line -> assertThat(line).contains(
              "cut-knock-1: reached the parent on attempt 4")));
    }
  }

  /**
   * A caller whose thread is interrupted when its call is written must not close the runner's
   * connection for every other call: the channel is a {@code SocketChannel}, whose I/O closes the
   * channel when the writing thread is interrupted (a {@code java.net.Socket} on a platform
   * thread ignores the interrupt).
   */
  @Test
  void aCallerInterruptedWhenItsCallIsWrittenLeavesTheRunnerServing() throws Exception {
    RemoteBackend backend =
        RemoteBackend.builder().functions(TestFunctions.class).launcher(new Launcher()).build();
    try (ElasticPool pool =
        ElasticPool.builder().name("interrupted").backend(backend).min(1).max(1).bootTimeout(LONG).build()) {
      await().atMost(LONG).until(() -> pool.snapshot().ready() == 1);
      CompletableFuture<Object> answer = new CompletableFuture<>();
      Thread caller = Thread.ofPlatform().start(() -> {
        Thread.currentThread().interrupt();
        try {
          answer.complete(pool.call("echo", 41L, LONG));
        } catch (Throwable t) {
          answer.completeExceptionally(t);
        }
      });
      caller.join();
      // The interrupted call may answer or throw InterruptedException; it must not kill the runner.
      Object first = answer.handle((v, t) -> t == null ? v : t).get(60, TimeUnit.SECONDS);
      assertThat(first).as("the interrupted caller's answer")
          .satisfiesAnyOf(
              a -> assertThat(a).isEqualTo(41L),
              a -> assertThat(a).isInstanceOf(InterruptedException.class));
      assertThat(pool.call("echo", 42L, LONG)).isEqualTo(42L);
      assertThat(pool.snapshot().deaths()).as("runner deaths").isZero();
    }
  }

  /**
   * Junk from many connections costs the log about a line a second, each line counting what it
   * did not log.
   */
  @Test
  void refusedConnectionsAreLoggedAtMostOnceASecondWithACountOfTheRest() throws Exception {
    LogCapture log = LogCapture.of(RemoteBackend.class);
    List<String> records = log.messages();
    RemoteBackend backend = backendThatBootsNothing();
    long started = System.nanoTime();
    try (backend) {
      for (int i = 0; i < 300; i++) {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), backend.address().getPort())) {
          s.setSoTimeout(30_000);
          DataOutputStream out = new DataOutputStream(s.getOutputStream());
          out.writeInt(1);
          out.writeByte(99);
          out.flush();
          assertThat(s.getInputStream().read()).isEqualTo(-1); // refused and cut
        }
      }
      long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started);
      assertThat(records).hasSizeBetween(1, (int) seconds + 1);
      assertThat(records.get(0)).contains("expected KNOCK, got frame type 99");
      // A line a second later counts the refusals it did not log.
      await().atMost(LONG).until(() -> {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), backend.address().getPort())) {
          s.getOutputStream().write(new byte[] {0, 0, 0, 1, 99});
          s.setSoTimeout(30_000);
          assertThat(s.getInputStream().read()).isEqualTo(-1);
        }
        return records.size() > 1;
      });
      assertThat(records.get(records.size() - 1)).containsPattern("since the last such line: ([2-9]|[1-9][0-9]+) refused");
    } finally {
      log.close();
    }
  }

  /**
   * Connects, sends nothing, reads until the parent cuts it, counts the cut (an established
   * connection that ends; a failed connect is not counted) and reconnects.
   */
  private static void holdSilently(
      int port, AtomicBoolean stop, AtomicInteger cuts, CountDownLatch connected) {
    boolean counted = false;
    while (!stop.get()) {
      try (Socket s = new Socket()) {
        try {
          s.connect(new java.net.InetSocketAddress(InetAddress.getLoopbackAddress(), port), 60_000);
        } catch (IOException notConnected) {
          continue;
        }
        if (!counted) {
          counted = true;
          connected.countDown();
        }
        s.setSoTimeout(200);
        InputStream in = s.getInputStream();
        while (!stop.get()) {
          try {
            if (in.read() < 0) {
              break; // cut by the parent
            }
          } catch (java.net.SocketTimeoutException e) {
            // still held: keep waiting
          }
        }
        if (!stop.get()) {
          cuts.incrementAndGet();
        }
      } catch (IOException e) {
        if (!stop.get()) {
          cuts.incrementAndGet(); // reset by the parent
        }
      }
    }
  }

  /**
   * Connects, reads nothing, announces a frame (256 MiB, or a plausible 100 bytes), then sends one
   * byte every 100 ms; when the parent closes the connection, counts a cut and starts over.
   */
  private static void attack(
      int port, boolean hugeFrame, AtomicBoolean stop, AtomicInteger cut, CountDownLatch trickling) {
    boolean counted = false;
    while (!stop.get()) {
      try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
        DataOutputStream out = new DataOutputStream(s.getOutputStream());
        out.writeInt(hugeFrame ? 256 * 1024 * 1024 : 100);
        out.writeByte(RemoteProtocol.KNOCK);
        out.flush();
        int sent = 0;
        while (!stop.get()) {
          out.write(0);
          out.flush();
          if (++sent == 5 && !counted) {
            counted = true;
            trickling.countDown();
          }
          Thread.sleep(100);
        }
        return;
      } catch (IOException e) {
        // the parent closed it (a reset shows up on a later write)
        cut.incrementAndGet();
        if (!counted) {
          counted = true;
          trickling.countDown();
        }
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  private static long usedHeapAfterGc() throws InterruptedException {
    for (int i = 0; i < 3; i++) {
      System.gc();
      Thread.sleep(50);
    }
    return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
  }

  // ---------------------------------------------------------------------------------------------
  // 2. Mutual authentication and integrity

  @Test
  void aProxyThatFlipsOneByteOfACallDropsTheConnectionAndTheFunctionNeverRuns(@TempDir Path dir)
      throws Exception {
    Launcher launcher = new Launcher();
    RemoteBackend backend =
        RemoteBackend.builder().functions(TestFunctions.class).launcher(launcher).build();
    try (TamperingProxy proxy = new TamperingProxy(backend.address().getPort());
        ElasticPool pool = ElasticPool.builder().name("tamper").backend(backend).bootTimeout(LONG).build()) {
      launcher.parentOverride = "127.0.0.1:" + proxy.port();
      String file = dir.resolve("written-by-the-call-a").toString();

      assertThatThrownBy(() -> pool.call("touch", file, LONG))
          .isInstanceOf(RunnerDiedException.class);

      assertThat(proxy.flipped).isTrue();
      for (LaunchedRunner r : launcher.launched) {
        r.exited().handle((v, t) -> null).get(60, TimeUnit.SECONDS);
      }
      try (var files = Files.list(dir)) {
        assertThat(files.toList()).as("files written by the function").isEmpty();
      }
    }
  }

  /**
   * Forwards runner connections to the parent; in the parent-to-runner direction it flips the last
   * byte before the tag of the third frame (after CHALLENGE and WELCOME: the first CALL), which is
   * the last byte of the call's argument.
   */
  private static final class TamperingProxy implements AutoCloseable {
    private final ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    private final int target;
    private final int cutFirst;
    private final boolean tamper;
    final AtomicInteger cut = new AtomicInteger();
    volatile boolean flipped;

    TamperingProxy(int target) throws IOException {
      this(target, 0, true);
    }

    /** Cuts the first {@code cutFirst} connections at once; flips a byte if {@code tamper}. */
    TamperingProxy(int target, int cutFirst, boolean tamper) throws IOException {
      this.target = target;
      this.cutFirst = cutFirst;
      this.tamper = tamper;
      Thread.ofVirtual().start(this::accept);
    }

    int port() {
      return server.getLocalPort();
    }

    private void accept() {
      try {
        while (true) {
          Socket runner = server.accept();
          if (cut.get() < cutFirst) {
            cut.incrementAndGet();
            runner.close();
            continue;
          }
          Socket parent = new Socket(InetAddress.getLoopbackAddress(), target);
          InputStream fromRunner = runner.getInputStream();
          InputStream fromParent = parent.getInputStream();
          Thread.ofVirtual().start(() -> pump(fromRunner, parent, false));
          Thread.ofVirtual().start(() -> pump(fromParent, runner, tamper));
        }
      } catch (IOException e) {
        // closed
      }
    }

    private void pump(InputStream from, Socket to, boolean tamper) {
      try (to) {
        if (!tamper) {
          from.transferTo(to.getOutputStream());
          return;
        }
        DataInputStream in = new DataInputStream(from);
        DataOutputStream out = new DataOutputStream(to.getOutputStream());
        for (int frame = 0; ; frame++) {
          int length = in.readInt();
          byte[] body = new byte[length];
          in.readFully(body);
          if (frame == 2) {
            body[length - 16 - 1] ^= 0x01;
            flipped = true;
          }
          out.writeInt(length);
          out.write(body);
          out.flush();
        }
      } catch (IOException e) {
        // either side closed
      }
    }

    @Override
    public void close() throws IOException {
      server.close();
    }
  }

  @Test
  void aRunnerRefusesAListenerThatDoesNotKnowItsSecret(@TempDir Path dir) throws Exception {
    byte[] secret = new byte[32];
    new SecureRandom().nextBytes(secret);
    Path file = dir.resolve("written-by-the-call");
    try (ServerSocket impostor = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      Process runner =
          startRunner("127.0.0.1:" + impostor.getLocalPort(), "victim-1", secret);
      try (Socket s = impostor.accept()) {
        FrameChannel channel = new FrameChannel(s);
        FrameChannel.Frame knock = channel.readPlain();
        assertThat(knock.type()).isEqualTo(RemoteProtocol.KNOCK);
        assertThat(knock.body().readByte()).isEqualTo(RemoteProtocol.VERSION);
        String id = RemoteProtocol.readString(knock.body());
        byte[] runnerNonce = new byte[RemoteProtocol.NONCE_BYTES];
        knock.body().readFully(runnerNonce);
        byte[] parentNonce = new byte[RemoteProtocol.NONCE_BYTES];
        FrameChannel.FrameWriter challenge = new FrameChannel.FrameWriter(RemoteProtocol.CHALLENGE);
        challenge.out.writeByte(RemoteProtocol.VERSION);
        challenge.out.write(parentNonce);
        channel.writePlain(challenge);
        assertThat(channel.readPlain().type()).isEqualTo(RemoteProtocol.PROOF);
        // The impostor's best try: everything right but the secret, which it does not have.
        byte[][] keys = RemoteProtocol.sessionKeys(new byte[32], parentNonce, runnerNonce, id);
        channel.seal(keys[0], keys[1], FrameChannel.MAX_PLAIN_FRAME);
        FrameChannel.FrameWriter welcome = new FrameChannel.FrameWriter(RemoteProtocol.WELCOME);
        welcome.out.writeLong(-1);
        welcome.out.writeInt(1);
        RemoteProtocol.writeString(welcome.out, "impostor");
        welcome.out.writeInt(1 << 20);
        welcome.out.writeInt(64);
        welcome.out.writeInt(1000);
        welcome.out.writeInt(1000);
        FrameChannel.FrameWriter call = new FrameChannel.FrameWriter(RemoteProtocol.CALL);
        call.out.writeLong(1);
        RemoteProtocol.writeString(call.out, "touch");
        RemoteProtocol.writeBytes(call.out, PayloadCodec.encode(file.toString()));
        try {
          channel.send(welcome);
          channel.send(call);
        } catch (IOException e) {
          // the runner may already have hung up
        }
        assertThat(runner.waitFor(60, TimeUnit.SECONDS)).isTrue();
      }
      String stderr = new String(runner.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(runner.exitValue()).as(stderr).isEqualTo(3);
      assertThat(stderr).contains("did not prove the secret");
      assertThat(file).doesNotExist();
    }
  }

  private static Process startRunner(String parent, String id, byte[] secret) throws IOException {
    ProcessBuilder pb =
        new ProcessBuilder(
            Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "-cp",
            System.getProperty("java.class.path"),
            RunnerMain.class.getName());
    pb.environment().put(RunnerEnvironment.PARENT, parent);
    pb.environment().put(RunnerEnvironment.RUNNER_ID, id);
    pb.environment()
        .put(RunnerEnvironment.SECRET, Base64.getUrlEncoder().withoutPadding().encodeToString(secret));
    pb.environment().put(RunnerEnvironment.FUNCTIONS, TestFunctions.class.getName());
    pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
    return pb.start();
  }

  // ---------------------------------------------------------------------------------------------
  // 3. Bounded after authentication

  @Test
  void anArgumentOverTheFrameLimitFailsBeforeAnythingIsSentNamingTheLimit() {
    AtomicInteger launches = new AtomicInteger();
    RemoteBackend backend =
        RemoteBackend.builder()
            .functions(TestFunctions.class)
            .maxFrameBytes(64 * 1024)
            .launcher((spec, env) -> {
              launches.incrementAndGet();
              throw new IllegalStateException("must not launch");
            })
            .build();
    try (ElasticPool pool = ElasticPool.builder().backend(backend).build()) {
      assertThatThrownBy(() -> pool.call("echo", new byte[100_000], LONG))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("maxFrameBytes=65536");
      assertThat(launches).hasValue(0);
    }
  }

  @Test
  void aResultOverTheFrameLimitOrACodecLimitFailsTheCallNamingTheLimitAndTheRunnerServesOn()
      throws Exception {
    RemoteBackend backend =
        RemoteBackend.builder()
            .functions(TestFunctions.class)
            .launcher(new Launcher())
            .maxFrameBytes(64 * 1024)
            .codecLimits(new CodecLimits(8, 100, 1024 * 1024))
            .build();
    try (ElasticPool pool = ElasticPool.builder().backend(backend).bootTimeout(LONG).build()) {
      assertThatThrownBy(() -> pool.call("bytes", 100_000, LONG))
          .isInstanceOf(CallFailedException.class)
          .cause()
          .hasMessageContaining("maxFrameBytes=65536");
      assertThatThrownBy(() -> pool.call("echo", List.of(new ArrayList<>(java.util.Collections.nCopies(101, 1))), LONG))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("exceeds maxCollectionSize=100");
      assertThat(pool.call("echo", "still here", LONG)).isEqualTo("still here");
      assertThat(pool.snapshot().deaths()).isZero();
    }
  }

  @Test
  void aSealedFrameOverTheLimitClosesTheChannelWithAnErrorNamingTheLimit() throws Exception {
    try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        Socket a = new Socket(InetAddress.getLoopbackAddress(), server.getLocalPort());
        Socket b = server.accept()) {
      byte[] k1 = new byte[32];
      byte[] k2 = new byte[32];
      k2[0] = 1;
      FrameChannel sender = new FrameChannel(a);
      FrameChannel receiver = new FrameChannel(b);
      sender.seal(k1, k2, 1 << 20);
      receiver.seal(k2, k1, 4096);
      FrameChannel.FrameWriter small = new FrameChannel.FrameWriter(RemoteProtocol.RESULT);
      small.out.writeLong(7);
      sender.send(small);
      assertThat(receiver.receive().body().readLong()).isEqualTo(7);
      FrameChannel.FrameWriter big = new FrameChannel.FrameWriter(RemoteProtocol.RESULT);
      big.out.write(new byte[10_000]);
      sender.send(big);
      assertThatThrownBy(receiver::receive)
          .isInstanceOf(IOException.class)
          .hasMessageContaining("maxFrameBytes=4096");
    }
  }

  /**
   * The README's promise beyond a flipped byte (tested with a proxy above): a sealed frame
   * replayed, delivered out of order, or sealed under a key other than the session's fails its
   * tag, with a message that says so, before anything reads its body.
   */
  @Test
  void aReplayedReorderedOrInjectedSealedFrameFailsItsTag() throws Exception {
    byte[] sessionKey = new byte[32];
    byte[] otherDirection = new byte[32];
    otherDirection[0] = 1;
    byte[] strangerKey = new byte[32];
    strangerKey[0] = 2;
    List<byte[]> frames = sealedFrames(sessionKey, otherDirection, 2);
    byte[] stranger = sealedFrames(strangerKey, otherDirection, 1).get(0);

    // Replayed: frame 0 again where frame 1 is due.
    try (Delivery replay = new Delivery(otherDirection, sessionKey, frames.get(0), frames.get(0))) {
      assertThat(replay.receiver.receive().body().readLong()).isZero();
      assertThatThrownBy(replay.receiver::receive)
          .isInstanceOf(IOException.class)
          .hasMessageContaining("frame 1 failed authentication");
    }
    // Reordered: frame 1 first.
    try (Delivery reordered = new Delivery(otherDirection, sessionKey, frames.get(1), frames.get(0))) {
      assertThatThrownBy(reordered.receiver::receive)
          .isInstanceOf(IOException.class)
          .hasMessageContaining("frame 0 failed authentication");
    }
    // Injected: a well-formed frame sealed under a key the session does not use.
    try (Delivery injected = new Delivery(otherDirection, sessionKey, stranger)) {
      assertThatThrownBy(injected.receiver::receive)
          .isInstanceOf(IOException.class)
          .hasMessageContaining("frame 0 failed authentication");
    }
    // The frames themselves are sound: in order, both open.
    try (Delivery inOrder = new Delivery(otherDirection, sessionKey, frames.get(0), frames.get(1))) {
      assertThat(inOrder.receiver.receive().body().readLong()).isZero();
      assertThat(inOrder.receiver.receive().body().readLong()).isEqualTo(1);
    }
  }

  /** Seals {@code count} RESULT frames (bodies 0, 1, ...) under {@code sendKey}; their wire bytes. */
  private static List<byte[]> sealedFrames(byte[] sendKey, byte[] receiveKey, int count)
      throws IOException {
    try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        Socket a = new Socket(InetAddress.getLoopbackAddress(), server.getLocalPort());
        Socket tap = server.accept()) {
      FrameChannel sender = new FrameChannel(a);
      sender.seal(sendKey, receiveKey, 4096);
      DataInputStream wire = new DataInputStream(tap.getInputStream());
      List<byte[]> frames = new ArrayList<>();
      for (int i = 0; i < count; i++) {
        FrameChannel.FrameWriter frame = new FrameChannel.FrameWriter(RemoteProtocol.RESULT);
        frame.out.writeLong(i);
        sender.send(frame);
        int length = wire.readInt();
        byte[] bytes = new byte[4 + length];
        bytes[0] = (byte) (length >>> 24);
        bytes[1] = (byte) (length >>> 16);
        bytes[2] = (byte) (length >>> 8);
        bytes[3] = (byte) length;
        wire.readFully(bytes, 4, length);
        frames.add(bytes);
      }
      return frames;
    }
  }

  /** A sealed receiver fed the given wire bytes, in this order. */
  private static final class Delivery implements AutoCloseable {
    final ServerSocket server;
    final Socket in;
    final Socket out;
    final FrameChannel receiver;

    Delivery(byte[] sendKey, byte[] receiveKey, byte[]... wire) throws IOException {
      server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
      in = new Socket(InetAddress.getLoopbackAddress(), server.getLocalPort());
      out = server.accept();
      receiver = new FrameChannel(out);
      receiver.seal(sendKey, receiveKey, 4096);
      OutputStream raw = in.getOutputStream();
      for (byte[] frame : wire) {
        raw.write(frame);
      }
      raw.flush();
    }

    @Override
    public void close() throws IOException {
      in.close();
      out.close();
      server.close();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // 5. A call that ignores interrupts cannot wedge the pool

  @Test
  void aProcessRunnerHoldingACallThatIgnoresItsDeadlineIsStoppedAndReplaced() throws Exception {
    ElasticPool pool =
        ElasticPool.builder()
            .name("wedge")
            .backend(ProcessBackend.builder().functions(TestFunctions.class).build())
            .min(1)
            .max(1)
            .maxConcurrency(2)
            .bootTimeout(LONG)
            .cancelGrace(Duration.ofMillis(500))
            .build();
    try (pool) {
      await().atMost(LONG).until(() -> pool.snapshot().ready() == 1);
      String first = pool.snapshot().runners().get(0).id();
      CompletableFuture<Object> neighbour = pool.callAsync("sleep", 600_000L, Duration.ofMinutes(10));
      await().atMost(LONG).until(() -> pool.snapshot().busySlots() == 1);

      assertThatThrownBy(() -> pool.call("spin", null, Duration.ofMillis(300)))
          .isInstanceOf(CallTimeoutException.class);

      // The neighbour on the same runner learns of the stop; the slots are free again.
      assertThatThrownBy(() -> neighbour.get(60, TimeUnit.SECONDS))
          .hasCauseInstanceOf(RunnerDiedException.class)
          .rootCause()
          .hasMessageContaining("ignored its cancel");
      await().atMost(LONG).until(() -> {
        PoolSnapshot s = pool.snapshot();
        return s.ready() == 1 && !s.runners().get(0).id().equals(first);
      });
      assertThat(pool.snapshot().busySlots()).isZero();
      assertThat(pool.call("echo", "after", LONG)).isEqualTo("after");
      assertThat(pool.snapshot().deaths()).isEqualTo(1);
    }
  }

  @Test
  void aLocalCallThatIgnoresItsCancelIsWrittenOffAndCountedAsStuck() throws Exception {
    TestFunctions.spinRelease = false;
    ElasticPool pool =
        ElasticPool.builder()
            .name("wedge-local")
            .backend(LocalBackend.of(new TestFunctions().create()))
            .max(1)
            .maxConcurrency(1)
            .cancelGrace(Duration.ofMillis(200))
            .build();
    try (pool) {
      CompletableFuture<Object> spinning = pool.callAsync("spin", null, LONG);
      await().atMost(LONG).until(() -> TestFunctions.SPINNING.get() == 1);
      spinning.cancel(true);
      // One runner with one slot: this call only runs once the spinning call is written off.
      assertThat(pool.call("echo", "next", LONG)).isEqualTo("next");
      assertThat(pool.snapshot().stuckCalls()).isEqualTo(1);
      assertThat(TestFunctions.SPINNING).hasValue(1);

      TestFunctions.spinRelease = true;
      await().atMost(LONG).until(() -> pool.snapshot().stuckCalls() == 0);
      assertThat(TestFunctions.SPINNING).hasValue(0);

      // A deadline, too (one spin at a time: a spinning virtual thread holds a carrier).
      TestFunctions.spinRelease = false;
      assertThatThrownBy(() -> pool.call("spin", null, Duration.ofMillis(200)))
          .isInstanceOf(CallTimeoutException.class);
      assertThat(pool.call("echo", "again", LONG)).isEqualTo("again");
      assertThat(pool.snapshot().stuckCalls()).isEqualTo(1);
      assertThat(pool.snapshot().deaths()).isZero();
      TestFunctions.spinRelease = true;
      await().atMost(LONG).until(() -> pool.snapshot().stuckCalls() == 0);
    } finally {
      TestFunctions.spinRelease = true;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // 6. Clean logs

  @Test
  void aRunnerIdFromTheWireIsEscapedAndBoundedInTheLog() throws Exception {
    LogCapture log = LogCapture.of(RemoteBackend.class);
    List<String> records = log.messages();
    RemoteBackend backend = backendThatBootsNothing();
    try (backend;
        Socket s = new Socket(InetAddress.getLoopbackAddress(), backend.address().getPort())) {
      FrameChannel channel = new FrameChannel(s);
      FrameChannel.FrameWriter knock = new FrameChannel.FrameWriter(RemoteProtocol.KNOCK);
      knock.out.writeByte(RemoteProtocol.VERSION);
      String id = "x\n2026-12-04 SEVERE forged entry \u001b[2J\u202e" + "y".repeat(800);
      RemoteProtocol.writeString(knock.out, id);
      knock.out.write(new byte[64]);
      channel.writePlain(knock);
      await().atMost(LONG).until(() -> !records.isEmpty());
      String message = records.get(0);
      assertThat(message)
          .contains("x\\u000a2026-12-04 SEVERE forged entry \\u001b[2J\\u202e")
          .doesNotContain("\n")
          .doesNotContain("\u001b")
          .doesNotContain("\u202e");
      assertThat(message.length()).isLessThan(400);
    } finally {
      log.close();
    }
  }

  @Test
  void anExceptionMessageFromARunnerIsEscapedAndBounded() throws Exception {
    RemoteBackend backend =
        RemoteBackend.builder().functions(TestFunctions.class).launcher(new Launcher()).build();
    try (ElasticPool pool = ElasticPool.builder().backend(backend).bootTimeout(LONG).build()) {
      String hostile = "line\nforged\u001b[31m" + "z".repeat(100_000);
      assertThatThrownBy(() -> pool.call("fail", hostile, LONG))
          .isInstanceOf(CallFailedException.class)
          .satisfies(e -> {
            for (Throwable t = e; t != null; t = t.getCause()) {
              assertThat(t.getMessage()).doesNotContain("\n").doesNotContain("\u001b");
              assertThat(t.getMessage().length()).isLessThan(2 * RemoteProtocol.MAX_TEXT + 200);
            }
            assertThat(((RemoteException) e.getCause()).remoteMessage())
                .startsWith("no such report: line\\u000aforged\\u001b[31m");
          });
    }
  }
}
