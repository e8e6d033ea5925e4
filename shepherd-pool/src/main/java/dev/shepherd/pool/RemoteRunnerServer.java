package dev.shepherd.pool;

import dev.shepherd.core.Durations;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.jspecify.annotations.Nullable;

/**
 * The parent side of the remote protocol: accepts runners, checks their proof, and hands each
 * authenticated connection to the boot waiting for that runner id.
 *
 * <p>Threads: one platform acceptor thread; one virtual thread per handshake (bounded by a 10 s
 * socket timeout); one platform reader thread per connection (see {@link RemoteConnection}).
 */
final class RemoteRunnerServer implements AutoCloseable {

  private static final System.Logger LOG = System.getLogger(RemoteBackend.class.getName());
  private static final int HANDSHAKE_TIMEOUT_MILLIS = 10_000;

  private final ServerSocket serverSocket;
  private final String advertisedAddress;
  private final SecureRandom random = new SecureRandom();
  private final Map<String, Pending> pending = new ConcurrentHashMap<>();
  private final Thread acceptor;
  private volatile boolean closed;

  RemoteRunnerServer(InetAddress bindAddress, int port, @Nullable String advertisedHost)
      throws IOException {
    this.serverSocket = new ServerSocket(port, 128, bindAddress);
    String host = advertisedHost != null ? advertisedHost : bindAddress.getHostAddress();
    this.advertisedAddress = host + ":" + serverSocket.getLocalPort();
    this.acceptor =
        Thread.ofPlatform()
            .daemon()
            .name("shepherd-pool-remote-acceptor-" + serverSocket.getLocalPort())
            .unstarted(this::acceptLoop);
    acceptor.start();
  }

  InetSocketAddress address() {
    return (InetSocketAddress) serverSocket.getLocalSocketAddress();
  }

  String advertisedAddress() {
    return advertisedAddress;
  }

  /** A boot waiting for its runner to connect. */
  private static final class Pending {
    final byte[] secret;
    final CompletableFuture<Socket> connected = new CompletableFuture<>();

    Pending(byte[] secret) {
      this.secret = secret;
    }
  }

  RunnerHandle boot(
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
    Socket socket;
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
      socket = wait.connected.get(timeout, TimeUnit.NANOSECONDS);
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
    }
    try {
      RemoteConnection connection = new RemoteConnection(id, socket, launched, listener);
      connection.welcome(spec);
      connection.startReading();
      return connection;
    } catch (IOException | RuntimeException e) {
      closeQuietly(socket);
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

  private void acceptLoop() {
    while (!closed) {
      Socket socket;
      try {
        socket = serverSocket.accept();
      } catch (IOException e) {
        if (!closed) {
          LOG.log(System.Logger.Level.WARNING, "accepting runners failed", e);
        }
        return;
      }
      Thread.ofVirtual().name("shepherd-pool-remote-handshake").start(() -> handshake(socket));
    }
  }

  private void handshake(Socket socket) {
    try {
      socket.setTcpNoDelay(true);
      socket.setSoTimeout(HANDSHAKE_TIMEOUT_MILLIS);
      byte[] challenge = new byte[RemoteProtocol.CHALLENGE_BYTES];
      random.nextBytes(challenge);
      RemoteProtocol.FrameWriter frame = new RemoteProtocol.FrameWriter(RemoteProtocol.CHALLENGE);
      frame.out.write(challenge);
      OutputStream out = socket.getOutputStream();
      out.write(frame.toBytes());
      out.flush();
      DataInputStream in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
      RemoteProtocol.Frame hello = RemoteProtocol.read(in);
      if (hello.type() != RemoteProtocol.HELLO) {
        throw new IOException("expected HELLO, got frame type " + hello.type());
      }
      String id = RemoteProtocol.readString(hello.body());
      byte[] proof = new byte[32];
      hello.body().readFully(proof);
      Pending wait = pending.get(id);
      if (wait == null) {
        throw new IOException("no runner " + id + " is booting");
      }
      byte[] expected = RemoteProtocol.proof(wait.secret, challenge, id);
      if (!MessageDigest.isEqual(expected, proof)) {
        throw new IOException("runner " + id + " failed to prove its secret");
      }
      socket.setSoTimeout(0);
      if (!wait.connected.complete(socket)) {
        throw new IOException("runner " + id + " already connected or gave up");
      }
    } catch (IOException | RuntimeException e) {
      LOG.log(
          System.Logger.Level.WARNING,
          "rejected a runner connection from " + socket.getRemoteSocketAddress() + ": " + e);
      closeQuietly(socket);
    }
  }

  static void closeQuietly(Socket socket) {
    try {
      socket.close();
    } catch (IOException e) {
      // closing anyway
    }
  }

  @Override
  public void close() {
    closed = true;
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
