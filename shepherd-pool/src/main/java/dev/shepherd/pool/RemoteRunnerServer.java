package dev.shepherd.pool;

import dev.shepherd.core.internal.Durations;
import dev.shepherd.pool.internal.FrameChannel;
import dev.shepherd.pool.internal.RemoteProtocol;
import dev.shepherd.pool.spi.LaunchedRunner;
import dev.shepherd.pool.spi.RunnerHandle;
import dev.shepherd.pool.spi.RunnerLauncher;
import dev.shepherd.pool.spi.RunnerListener;
import dev.shepherd.pool.spi.RunnerSpec;
import org.jspecify.annotations.Nullable;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The parent side of the remote protocol: accepts runners, runs the handshake, and hands each
 * authenticated, sealed channel to the boot waiting for that runner id.
 *
 * <p>What an unauthenticated peer can cost, and why it is bounded: a connection holds one of
 * {@code maxHandshakes} permits (the acceptor stops accepting while none is free, so further
 * connections wait in the kernel's backlog instead of holding threads), a virtual thread, and at
 * most {@value FrameChannel#MAX_PLAIN_FRAME} bytes of frame; the whole handshake has one deadline,
 * {@code handshakeTimeout}, at which the socket is closed whatever the peer is sending; and any
 * failure, {@link Error}s included, closes the socket. Text the peer sent (its runner id) reaches
 * logs only escaped and bounded.
 *
 * <p>Threads: one platform acceptor thread; one virtual thread per handshake; one platform
 * timer thread that cuts handshakes at their deadline; one platform reader thread per connection
 * (see {@link RemoteConnection}).
 */
final class RemoteRunnerServer implements AutoCloseable {

  private static final System.Logger LOG = System.getLogger(RemoteBackend.class.getName());

  private final ServerSocket serverSocket;
  private final String advertisedAddress;
  private final SecureRandom random = new SecureRandom();
  private final Map<String, Pending> pending = new ConcurrentHashMap<>();
  private final Thread acceptor;
  private final Semaphore handshakes;
  /** The authenticated connections, whose writes {@link #sweepWrites} watches. */
  private final Set<FrameChannel> sealed = ConcurrentHashMap.newKeySet();
  private final long handshakeTimeoutNanos;
  private final Options options;
  private final ScheduledThreadPoolExecutor deadlines;
  private volatile boolean closed;

  /**
   * Where and how the server listens, as the remote backend's builder collected it.
   *
   * @param bindAddress where to listen
   * @param port the port, 0 for any free one
   * @param advertisedHost the host runners are told to connect to, or null for the bind address
   * @param handshakeTimeout the deadline of a whole handshake
   * @param maxHandshakes how many handshakes run at once
   * @param maxFrameBytes the largest frame after the handshake
   * @param codecLimits the payload limits, sent to runners
   * @param writeTimeout the most one frame's write may take before the connection is closed
   */
  record Options(
      InetAddress bindAddress,
      int port,
      @Nullable String advertisedHost,
      Duration handshakeTimeout,
      int maxHandshakes,
      int maxFrameBytes,
      CodecLimits codecLimits,
      Duration writeTimeout) {}

  /**
   * Opens the server and starts accepting runners.
   *
   * @param options where and how to listen
   * @throws IOException if it cannot listen
   */
  public RemoteRunnerServer(Options options) throws IOException {
    this(options, new ServerSocket(options.port(), 128, options.bindAddress()));
  }

  /** Accepts runners on a socket already listening (tests hand in one whose accept fails). */
  RemoteRunnerServer(Options options, ServerSocket serverSocket) {
    this.serverSocket = serverSocket;
    this.handshakes = new Semaphore(options.maxHandshakes());
    this.handshakeTimeoutNanos = Durations.toNanosSaturated(options.handshakeTimeout());
    this.options = options;
    String advertisedHost = options.advertisedHost();
    String host = advertisedHost != null ? advertisedHost : options.bindAddress().getHostAddress();
    this.advertisedAddress = host + ":" + serverSocket.getLocalPort();
    this.deadlines =
        new ScheduledThreadPoolExecutor(
            1,
            r -> {
              Thread t = new Thread(r, "shepherd-pool-remote-handshake-deadline-" + serverSocket.getLocalPort());
              t.setDaemon(true);
              return t;
            });
    deadlines.setRemoveOnCancelPolicy(true);
    // One sweep for every connection's write deadline, instead of a timer per frame written.
    long writeTimeout = Durations.toNanosSaturated(options.writeTimeout());
    long sweep = Math.max(1_000_000L, Math.min(TimeUnit.SECONDS.toNanos(1), writeTimeout / 4));
    var unusedSweep =
        deadlines.scheduleWithFixedDelay(this::sweepWrites, sweep, sweep, TimeUnit.NANOSECONDS);
    this.acceptor =
        Thread.ofPlatform()
            .daemon()
            .name("shepherd-pool-remote-acceptor-" + serverSocket.getLocalPort())
            .unstarted(this::acceptLoop);
    acceptor.start();
  }

  /**
   * Returns the address the server listens on.
   *
   * @return the bound address and port
   */
  public InetSocketAddress address() {
    return (InetSocketAddress) serverSocket.getLocalSocketAddress();
  }

  /**
   * Returns the {@code host:port} runners are told to connect to.
   *
   * @return the advertised address
   */
  public String advertisedAddress() {
    return advertisedAddress;
  }

  /**
   * Returns the options the server was opened with, among them the largest frame after the
   * handshake and the payload limits both ends apply.
   *
   * @return the options
   */
  public Options options() {
    return options;
  }

  /** A boot waiting for its runner to connect. */
  private static final class Pending {
    final byte[] secret;
    final CompletableFuture<FrameChannel> connected = new CompletableFuture<>();

    Pending(byte[] secret) {
      this.secret = secret;
    }
  }

  /**
   * Launches one runner and waits, at most its boot timeout, until it connects, proves its secret
   * and has been welcomed.
   *
   * @param spec the runner's id and limits
   * @param listener where its death is reported
   * @param launcher what starts it
   * @param functionsClass the binary name of its function registry factory
   * @return the connected runner
   * @throws Exception if it could not be launched, ended first, or did not connect in time (what
   *     was launched is killed)
   */
  public RunnerHandle boot(
      RunnerSpec spec, RunnerListener listener, RunnerLauncher launcher, String functionsClass)
      throws Exception {
    if (closed) {
      throw new IllegalStateException("remote backend closed");
    }
    String id = spec.runnerId();
    byte[] secret = new byte[32];
    random.nextBytes(secret);
    Pending wait = new Pending(secret);
    if (pending.putIfAbsent(id, wait) != null) {
      throw new IllegalStateException("runner id " + id + " is already booting");
    }
    Map<String, String> env = new HashMap<>();
    env.put(RunnerEnvironment.PARENT, advertisedAddress);
    env.put(RunnerEnvironment.RUNNER_ID, id);
    env.put(RunnerEnvironment.SECRET, Base64.getUrlEncoder().withoutPadding().encodeToString(secret));
    env.put(RunnerEnvironment.FUNCTIONS, functionsClass);
    LaunchedRunner launched = null;
    FrameChannel channel;
    boolean got = false;
    try {
      launched = launcher.launch(spec, Map.copyOf(env));
      LaunchedRunner started = launched;
      var unusedExitHook = started
          .exited()
          .whenComplete(
              (v, t) ->
                  wait.connected.completeExceptionally(
                      new RunnerBootException(
                          "runner " + id + " ended before connecting back"
                              + (t == null ? "" : ": " + t),
                          t)));
      long timeout = Durations.toNanosSaturated(spec.bootTimeout());
      channel = wait.connected.get(timeout, TimeUnit.NANOSECONDS);
      got = true;
    } catch (TimeoutException e) {
      kill(launched);
      throw new RunnerBootException(
          "runner " + id + " did not connect back within bootTimeout " + spec.bootTimeout()
              + "; killed",
          null);
    } catch (ExecutionException e) {
      kill(launched);
      Throwable cause = e.getCause();
      throw cause instanceof RunnerBootException boot
          ? boot
          : new RunnerBootException("runner " + id + " failed to connect back", cause);
    } catch (InterruptedException | RuntimeException e) {
      kill(launched);
      throw e;
    } finally {
      pending.remove(id, wait);
      // A channel that arrives after the boot gave up is closed, never left open.
      if (!got
          && !wait.connected.completeExceptionally(new IllegalStateException("boot of " + id + " ended"))) {
        var unusedClose = wait.connected.thenAccept(FrameChannel::close);
      }
    }
    try {
      RemoteConnection connection = new RemoteConnection(id, channel, launched, listener);
      // WELCOME first: the runner waits only so long for it, and connected() may be a slow call
      // (the Kubernetes backend deletes the runner's Secret through the API server).
      connection.welcome(spec, options.maxFrameBytes(), options.codecLimits());
      if (launched != null) {
        launched.connected();
      }
      connection.startReading();
      return connection;
    } catch (IOException | RuntimeException e) {
      channel.close();
      kill(launched);
      throw new RunnerBootException("runner " + id + " connected but the welcome failed", e);
    }
  }

  private static void kill(@Nullable LaunchedRunner launched) {
    if (launched != null) {
      try {
        launched.kill();
      } catch (RuntimeException e) {
        LOG.log(System.Logger.Level.WARNING, "killing a runner failed", e);
      }
    }
  }

  private int failedAccepts; // accept thread only

  /** Closes the connections whose current write overran the write timeout; forgets closed ones. */
  private void sweepWrites() {
    long now = System.nanoTime();
    sealed.removeIf(channel -> channel.isClosed() || channel.closeIfWriteOverran(now));
  }

  private void acceptLoop() {
    while (!closed) {
      Socket socket;
      try {
        handshakes.acquire();
      } catch (InterruptedException e) {
        return;
      }
      try {
        socket = serverSocket.accept();
        failedAccepts = 0;
      } catch (IOException | RuntimeException e) {
        handshakes.release();
        if (closed || serverSocket.isClosed()) {
          return;
        }
        // Out of file descriptors or another passing failure: a pool that stopped accepting
        // would never boot a runner again, so log the first of a run of failures and retry,
        // backing off up to a second; the connection waits in the listen backlog meanwhile.
        if (failedAccepts++ == 0) {
          LOG.log(System.Logger.Level.WARNING, "accepting runners failed; retrying", e);
        }
        try {
          Thread.sleep(Math.min(1_000L, 10L << Math.min(failedAccepts, 7)));
        } catch (InterruptedException interrupted) {
          return;
        }
        continue;
      }
      try {
        Thread.ofVirtual().name("shepherd-pool-remote-handshake").start(() -> handshake(socket));
      } catch (Throwable t) {
        handshakes.release();
        closeQuietly(socket);
        if (t instanceof Error error) {
          throw error;
        }
      }
    }
  }

  private void handshake(Socket socket) {
    ScheduledFuture<?> cut = null;
    boolean handedOver = false;
    String peer = String.valueOf(socket.getRemoteSocketAddress());
    try {
      cut = deadlines.schedule(() -> closeQuietly(socket), handshakeTimeoutNanos, TimeUnit.NANOSECONDS);
      socket.setTcpNoDelay(true);
      socket.setSoTimeout((int) Math.max(1, Math.min(Integer.MAX_VALUE, TimeUnit.NANOSECONDS.toMillis(handshakeTimeoutNanos))));
      FrameChannel channel = new FrameChannel(socket);
      byte[] parentNonce = new byte[RemoteProtocol.NONCE_BYTES];
      random.nextBytes(parentNonce);
      FrameChannel.FrameWriter challenge = new FrameChannel.FrameWriter(RemoteProtocol.CHALLENGE);
      challenge.out.writeByte(RemoteProtocol.VERSION);
      challenge.out.write(parentNonce);
      channel.writePlain(challenge);
      FrameChannel.Frame hello = channel.readPlain();
      if (hello.type() != RemoteProtocol.HELLO) {
        throw new IOException("expected HELLO, got frame type " + hello.type());
      }
      String id = RemoteProtocol.readString(hello.body());
      if (id.length() > RemoteProtocol.MAX_RUNNER_ID_BYTES) {
        throw new IOException(
            "runner id \"" + RemoteProtocol.printable(id, 64) + "\" of " + id.length()
                + " chars is longer than " + RemoteProtocol.MAX_RUNNER_ID_BYTES);
      }
      byte[] runnerNonce = new byte[RemoteProtocol.NONCE_BYTES];
      hello.body().readFully(runnerNonce);
      byte[] proof = new byte[32];
      hello.body().readFully(proof);
      Pending wait = pending.get(id);
      if (wait == null) {
        throw new IOException("no runner \"" + RemoteProtocol.printable(id, 64) + "\" is booting");
      }
      byte[] expected = RemoteProtocol.runnerProof(wait.secret, parentNonce, runnerNonce, id);
      if (!MessageDigest.isEqual(expected, proof)) {
        throw new IOException("runner \"" + RemoteProtocol.printable(id, 64) + "\" failed to prove its secret");
      }
      byte[][] keys = RemoteProtocol.sessionKeys(wait.secret, parentNonce, runnerNonce, id);
      channel.seal(keys[0], keys[1], options.maxFrameBytes());
      channel.writeTimeout(options.writeTimeout());
      sealed.add(channel);
      if (!cut.cancel(false) || socket.isClosed()) {
        throw new IOException("handshake deadline passed");
      }
      socket.setSoTimeout(0);
      if (!wait.connected.complete(channel)) {
        throw new IOException("runner \"" + RemoteProtocol.printable(id, 64) + "\" already connected or its boot gave up");
      }
      handedOver = true;
    } catch (Throwable e) {
      LOG.log(
          System.Logger.Level.WARNING,
          "rejected a runner connection from "
              + peer
              + ": "
              + RemoteProtocol.printable(String.valueOf(e), RemoteProtocol.MAX_TEXT));
      if (e instanceof Error error && !(e instanceof OutOfMemoryError)) {
        closeQuietly(socket);
        throw error;
      }
    } finally {
      if (cut != null) {
        cut.cancel(false);
      }
      if (!handedOver) {
        closeQuietly(socket);
      }
      handshakes.release();
    }
  }

  /**
   * Closes a socket, ignoring a failure to close.
   *
   * @param socket the socket
   */
  public static void closeQuietly(Socket socket) {
    FrameChannel.closeQuietly(socket);
  }

  @Override
  public void close() {
    closed = true;
    deadlines.shutdownNow();
    try {
      serverSocket.close();
    } catch (IOException e) {
      // closing anyway
    }
    for (Pending wait : pending.values()) {
      wait.connected.completeExceptionally(new IllegalStateException("remote backend closed"));
    }
  }
}
