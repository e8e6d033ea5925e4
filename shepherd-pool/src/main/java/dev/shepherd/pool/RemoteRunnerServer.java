package dev.shepherd.pool;

import dev.shepherd.core.internal.Durations;
import dev.shepherd.pool.internal.FrameChannel;
import dev.shepherd.pool.internal.RemoteProtocol;
import dev.shepherd.pool.spi.LaunchedRunner;
import dev.shepherd.pool.spi.RunnerHandle;
import dev.shepherd.pool.spi.RunnerLauncher;
import dev.shepherd.pool.spi.RunnerListener;
import dev.shepherd.pool.spi.RunnerSpec;
import com.google.errorprone.annotations.concurrent.GuardedBy;
import org.jspecify.annotations.Nullable;
import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The parent side of the remote protocol: accepts runners, runs the handshake, and hands each
 * authenticated, sealed channel to the boot waiting for that runner id.
 *
 * <p>A connection goes through three states:
 *
 * <ol>
 *   <li><b>Knocking</b>: accepted, its first frame (the runner's KNOCK) not yet read whole. Held by
 *       the acceptor thread alone, without a thread of its own: a descriptor, a selection key and
 *       at most {@value FrameChannel#MAX_PLAIN_FRAME} bytes of frame. At most {@code
 *       maxHandshakes} connections knock at once; the acceptor does not stop accepting (except
 *       for a pause of up to a second after a failed accept), and when one more connection
 *       arrives the oldest knocking one is read once more (a KNOCK that has arrived is checked)
 *       and otherwise cut to make room. A knocking connection is also cut at {@code
 *       handshakeTimeout} after its accept and when the peer closes it. A runner sends its KNOCK
 *       the moment it connects, so connections that send nothing cannot crowd a runner out: they
 *       are what gets cut, oldest first, and a runner cut anyway connects again.
 *   <li><b>Challenged</b>: the KNOCK names a booting runner, its tag checks against that runner's
 *       secret, its nonce is new for that runner (a replayed KNOCK repeats one, and is cut), and
 *       no other connection of the runner is challenged (a fresh KNOCK then gets a REFUSED that
 *       says to try again). The key is cancelled; at the next selection it leaves the selector,
 *       and the channel, now blocking, gets a virtual thread that sends the CHALLENGE, reads the
 *       PROOF and seals the channel within a {@code handshakeTimeout} of its own, after which a
 *       timer closes it. Any other KNOCK is cut with a REFUSED frame that says why (another
 *       protocol version; "not a booting runner, or not its secret", without saying which).
 *   <li><b>Handed over</b>: the proof checked; the channel completes the boot's future (or is
 *       closed if the boot has given up), and its writes are watched by {@link #sweepWrites}.
 * </ol>
 *
 * <p>Any failure, {@link Error}s included, closes the socket. Text the peer sent (its runner id)
 * reaches logs only escaped and bounded, and rejections are logged at most once a second, with a
 * count of the rest, so a flood cannot flood the log either. A failure of the acceptor's own
 * (an {@link OutOfMemoryError}, a runtime exception) cuts the connections it was handling and
 * the acceptor goes on; one it cannot go on from (its selector failed, another {@link Error})
 * fails the waiting boots and every later one at once, naming it.
 *
 * <p>What this does not stop: more connections than {@code maxHandshakes} plus the listen backlog
 * ({@value #MIN_BACKLOG} or {@code maxHandshakes}, whichever is larger, capped by the kernel's
 * {@code somaxconn}), reopened as fast as they are cut, keep the backlog full, and the kernel then
 * drops a runner's connection attempts before anything here sees them; the runner tries again for
 * 10 s. Only the network can stop that (on Kubernetes, a NetworkPolicy).
 *
 * <p>Where it listens: a TCP port, or (for runners on this host) a Unix domain socket in a
 * directory of its own that only this user can enter (mode {@code rwx------}, created for this
 * server and deleted by {@link #close}). Over a Unix domain socket no other local user can
 * connect at all, so none of them can crowd the backlog or even knock; the handshake is the same.
 *
 * <p>Threads: one platform acceptor thread (accepts, reads KNOCKs, cuts); one virtual thread per
 * challenged connection; one platform timer thread that cuts challenged connections at their
 * deadline and sweeps write deadlines; one platform reader thread per connection handed over (see
 * {@link RemoteConnection}).
 */
final class RemoteRunnerServer implements AutoCloseable {

  private static final System.Logger LOG = System.getLogger(RemoteBackend.class.getName());

  /** The smallest listen backlog asked of the kernel. */
  static final int MIN_BACKLOG = 1024;

  /** The most KNOCKs that check for one boot; a runner sends one per connection attempt. */
  private static final int MAX_KNOCKS_PER_BOOT = 256;

  /** The most connections one step of the acceptor accepts before it reads again. */
  private static final int ACCEPT_BATCH = 64;

  private final ServerSocketChannel server;
  private final Selector selector;
  private final Accept accept;
  private final String advertisedAddress;
  private final SecureRandom random = new SecureRandom();
  private final Map<String, Pending> pending = new ConcurrentHashMap<>();
  private final Thread acceptor;
  /** The authenticated connections, whose writes {@link #sweepWrites} watches. */
  private final Set<FrameChannel> sealed = ConcurrentHashMap.newKeySet();
  private final long handshakeTimeoutNanos;
  private final Options options;
  private final ScheduledThreadPoolExecutor deadlines;
  private final RejectionLog rejections = new RejectionLog();
  private volatile boolean closed;
  /** Why the acceptor stopped for good, or null while it runs. */
  private volatile @Nullable Throwable stopped;

  // Acceptor thread only.
  /** The knocking connections, oldest first (accept order is deadline order). */
  private final LinkedHashSet<Knock> knocking = new LinkedHashSet<>();
  /** KNOCKs that checked in this step, to leave the selector and start their handshakes. */
  private final List<Challenged> admitted = new ArrayList<>();
  private final SelectionKey serverKey;
  private boolean acceptReady;
  private long acceptPausedUntil;
  private boolean acceptPaused;
  private int failedAccepts;

  /** Accepts one connection, or returns null if none waits; a seam for tests. */
  @FunctionalInterface
  interface Accept {
    @Nullable SocketChannel accept(ServerSocketChannel server) throws IOException;
  }

  /**
   * Where and how the server listens, as the remote backend's builder collected it.
   *
   * @param bindAddress where to listen
   * @param port the port, 0 for any free one
   * @param advertisedHost the host runners are told to connect to, or null for the bind address
   * @param handshakeTimeout the deadline of a whole handshake, from the accept
   * @param maxHandshakes how many connections may knock (be accepted without a checked KNOCK) at
   *     once; one more cuts the oldest
   * @param maxFrameBytes the largest frame after the handshake
   * @param codecLimits the payload limits, sent to runners
   * @param writeTimeout the most one frame's write may take before the connection is closed
   * @param socketDirectory null to listen on TCP ({@code bindAddress}, {@code port}); else the
   *     directory in which the server creates its own owner-only directory holding a Unix domain
   *     socket, and the TCP options are unused
   */
  record Options(
      InetAddress bindAddress,
      int port,
      @Nullable String advertisedHost,
      Duration handshakeTimeout,
      int maxHandshakes,
      int maxFrameBytes,
      CodecLimits codecLimits,
      Duration writeTimeout,
      @Nullable Path socketDirectory) {

    /** The prefix of {@link RunnerEnvironment#PARENT} for a Unix domain socket. */
    static final String UNIX_PREFIX = "unix:";
  }

  /** The owner-only directory holding the Unix domain socket, or null on TCP. */
  private final @Nullable Path socketHome;

  /**
   * Opens the server and starts accepting runners.
   *
   * @param options where and how to listen
   * @throws IOException if it cannot listen
   */
  public RemoteRunnerServer(Options options) throws IOException {
    this(options, ServerSocketChannel::accept);
  }

  /** Accepts runners through {@code accept} (tests hand in one that fails). */
  RemoteRunnerServer(Options options, Accept accept) throws IOException {
    this.accept = accept;
    this.options = options;
    this.handshakeTimeoutNanos = Durations.toNanosSaturated(options.handshakeTimeout());
    Path directory = options.socketDirectory();
    Path home = directory == null ? null : ownerOnlyDirectory(directory);
    ServerSocketChannel opened = null;
    Selector opening = null;
    try {
      SocketAddress at =
          home == null
              ? new InetSocketAddress(options.bindAddress(), options.port())
              : unixAddress(home.resolve(SOCKET_NAME));
      opened = ServerSocketChannel.open(home == null ? protocolOf(options.bindAddress()) : StandardProtocolFamily.UNIX);
      opened.bind(at, Math.max(MIN_BACKLOG, options.maxHandshakes()));
      opened.configureBlocking(false);
      opening = Selector.open();
      this.serverKey = opened.register(opening, SelectionKey.OP_ACCEPT);
    } catch (IOException | RuntimeException e) {
      if (opened != null) {
        FrameChannel.closeQuietly(opened);
      }
      if (opening != null) {
        FrameChannel.closeQuietly(opening);
      }
      if (home != null) {
        deleteQuietly(home);
      }
      throw e;
    }
    this.server = opened;
    this.selector = opening;
    this.socketHome = home;
    String name;
    if (home == null) {
      int localPort = ((InetSocketAddress) opened.getLocalAddress()).getPort();
      String advertisedHost = options.advertisedHost();
      String host = advertisedHost != null ? advertisedHost : options.bindAddress().getHostAddress();
      this.advertisedAddress = host + ":" + localPort;
      name = String.valueOf(localPort);
    } else {
      this.advertisedAddress = Options.UNIX_PREFIX + home.resolve(SOCKET_NAME);
      name = home.getFileName().toString();
    }
    String threadSuffix = name;
    this.deadlines =
        new ScheduledThreadPoolExecutor(
            1,
            r -> {
              Thread t = new Thread(r, "shepherd-pool-remote-handshake-deadline-" + threadSuffix);
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
            .name("shepherd-pool-remote-acceptor-" + threadSuffix)
            .unstarted(this::acceptLoop);
    acceptor.start();
  }

  private static StandardProtocolFamily protocolOf(InetAddress address) {
    return address instanceof java.net.Inet6Address
        ? StandardProtocolFamily.INET6
        : StandardProtocolFamily.INET;
  }

  /**
   * Creates a directory that only this user can enter (on a POSIX file system; elsewhere the
   * file system's default for a new directory, which on Windows is the user's own).
   */
  private static Path ownerOnlyDirectory(Path parent) throws IOException {
    deleteStaleDirectories(parent);
    String prefix = SOCKET_HOME_PREFIX + ProcessHandle.current().pid() + "-";
    if (FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
      return Files.createTempDirectory(
          parent,
          prefix,
          PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    }
    return Files.createTempDirectory(parent, prefix);
  }

  /** The start of the name of a socket's directory, followed by the owning process id and "-". */
  static final String SOCKET_HOME_PREFIX = "shepherd-runners-";

  /**
   * Deletes the socket directories that servers of processes no longer running left behind (a
   * parent killed with {@code kill -9} cannot delete its own): those named for a process id that
   * is gone and owned by this user. A reused process id only keeps a directory a while longer.
   */
  private static void deleteStaleDirectories(Path parent) {
    String user = System.getProperty("user.name", "");
    try (DirectoryStream<Path> homes = Files.newDirectoryStream(parent, SOCKET_HOME_PREFIX + "*")) {
      for (Path home : homes) {
        String rest = home.getFileName().toString().substring(SOCKET_HOME_PREFIX.length());
        int dash = rest.indexOf('-');
        long pid;
        try {
          pid = Long.parseLong(dash < 0 ? rest : rest.substring(0, dash));
        } catch (NumberFormatException e) {
          continue;
        }
        if (ProcessHandle.of(pid).isPresent()
            || !Files.isDirectory(home, LinkOption.NOFOLLOW_LINKS)
            || !Files.getOwner(home, LinkOption.NOFOLLOW_LINKS).getName().equals(user)) {
          continue;
        }
        deleteQuietly(home);
      }
    } catch (IOException | RuntimeException e) {
      LOG.log(System.Logger.Level.DEBUG, "could not look for stale runner sockets in " + parent, e);
    }
  }

  /** The name of the socket in its directory. */
  static final String SOCKET_NAME = "socket";

  /**
   * The most bytes of a Unix domain socket's path that Linux (108 with the final NUL) and macOS
   * (104) both accept. Under macOS's {@code java.io.tmpdir} (about 49 bytes) the whole path
   * takes about 99.
   */
  private static final int MAX_UNIX_PATH_BYTES = 103;

  private static UnixDomainSocketAddress unixAddress(Path path) throws IOException {
    int bytes = path.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
    if (bytes > MAX_UNIX_PATH_BYTES) {
      throw new IOException(
          "the runner socket's path " + path + " is " + bytes + " bytes, more than the "
              + MAX_UNIX_PATH_BYTES + " a Unix domain socket allows; choose a shorter socketDirectory");
    }
    return UnixDomainSocketAddress.of(path);
  }

  private static void deleteQuietly(Path home) {
    try {
      Files.deleteIfExists(home.resolve(SOCKET_NAME));
      Files.deleteIfExists(home);
    } catch (IOException e) {
      LOG.log(System.Logger.Level.DEBUG, "could not delete " + home, e);
    }
  }

  /**
   * Returns the address the server listens on.
   *
   * @return the bound address and port
   * @throws IllegalStateException if it listens on a Unix domain socket
   */
  public InetSocketAddress address() {
    if (socketHome != null) {
      throw new IllegalStateException("listening on a Unix domain socket: " + advertisedAddress);
    }
    try {
      return (InetSocketAddress) server.getLocalAddress();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /**
   * Returns where runners are told to connect: {@code host:port}, or {@code unix:} and the path
   * of the Unix domain socket.
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
    /** Whether a connection of this runner's is challenged now; one at a time. */
    final AtomicBoolean challenged = new AtomicBoolean();
    /** The nonces of this runner's KNOCKs that checked (acceptor thread only). */
    final Set<ByteBuffer> knockNonces = new HashSet<>();

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
    Throwable acceptorFailure = stopped;
    if (acceptorFailure != null) {
      throw stoppedException(acceptorFailure);
    }
    String id = spec.runnerId();
    byte[] secret = new byte[32];
    random.nextBytes(secret);
    Pending wait = new Pending(secret);
    if (pending.putIfAbsent(id, wait) != null) {
      throw new IllegalStateException("runner id " + id + " is already booting");
    }
    Throwable failedMeanwhile = stopped; // the acceptor fails the boots it finds; this one too
    if (failedMeanwhile != null) {
      pending.remove(id, wait);
      throw stoppedException(failedMeanwhile);
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
      String seen = launched == null ? "" : launched.describe();
      kill(launched);
      throw new RunnerBootException(
          "runner " + id + " did not connect back within bootTimeout " + spec.bootTimeout()
              + "; killed" + (seen.isEmpty() ? "" : "; last seen: " + seen),
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
      // WELCOME first: the runner waits only so long for it, and a launcher's connected() may be
      // slow (the Kubernetes backend hands the Secret's deletion to its executor, another
      // launcher may not).
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

  /** Closes the connections whose current write overran the write timeout; forgets closed ones. */
  private void sweepWrites() {
    long now = System.nanoTime();
    sealed.removeIf(channel -> channel.isClosed() || channel.closeIfWriteOverran(now));
  }

  /** An accepted connection whose KNOCK has not been read whole (acceptor thread only). */
  private static final class Knock {
    final SocketChannel channel;
    final long acceptedNanos;
    final ByteBuffer length = ByteBuffer.allocate(4);
    @Nullable ByteBuffer frame;
    @Nullable SelectionKey key;

    Knock(SocketChannel channel, long acceptedNanos) {
      this.channel = channel;
      this.acceptedNanos = acceptedNanos;
    }
  }

  /** A connection whose KNOCK checked, on its way to its own handshake thread. */
  private static final class Challenged {
    final SocketChannel channel;
    final String id;
    final Pending boot;
    final byte[] runnerNonce;

    Challenged(SocketChannel channel, String id, Pending boot, byte[] runnerNonce) {
      this.channel = channel;
      this.id = id;
      this.boot = boot;
      this.runnerNonce = runnerNonce;
    }
  }

  private void acceptLoop() {
    int failuresInARow = 0;
    try {
      while (!closed) {
        try {
          step();
          failuresInARow = 0;
        } catch (java.nio.channels.ClosedSelectorException e) {
          throw e; // not passing: the selector is gone (stopped below, unless closing)
        } catch (OutOfMemoryError | RuntimeException e) {
          if (closed) {
            return;
          }
          // A passing failure (memory, one connection's handling): cut what is half-handled so
          // nothing is left behind, say so once per run of failures, pause, and go on accepting;
          // a backend whose acceptor died would fail every later boot.
          if (failuresInARow++ == 0) {
            LOG.log(System.Logger.Level.ERROR, "the runner acceptor failed; cutting the "
                + (knocking.size() + admitted.size()) + " connections in their handshake and going on", e);
          }
          cutInFlight();
          Thread.sleep(100);
        }
      }
    } catch (InterruptedException e) {
      // only close() stops the acceptor; an interrupt means the JVM is going down
    } catch (Throwable e) {
      // The selector failed, or an Error that is not passing: nothing can be accepted any more.
      if (!closed) {
        stopped = e;
        LOG.log(System.Logger.Level.ERROR,
            "the runner acceptor stopped; every boot of this backend fails from now on", e);
        for (Pending wait : pending.values()) {
          wait.connected.completeExceptionally(stoppedException(e));
        }
      }
      // Not rethrown: it is logged and every boot reports it; the thread ends here either way.
    } finally {
      cutInFlight();
      closeListener();
    }
  }

  /** One turn of the acceptor: cut late knocks, wait for readiness, accept, start handshakes. */
  private void step() throws IOException {
    long now = System.nanoTime();
    cutLate(now);
    if (acceptPaused && now - acceptPausedUntil >= 0) {
      acceptPaused = false;
      serverKey.interestOps(SelectionKey.OP_ACCEPT);
    }
    acceptReady = false;
    selector.select(this::ready, selectTimeoutMillis(now));
    if (acceptReady) {
      acceptSome();
    }
    startHandshakes();
  }

  private void cutInFlight() {
    for (Knock k : knocking) {
      cancelAndClose(k);
    }
    knocking.clear();
    for (Challenged c : admitted) {
      FrameChannel.closeQuietly(c.channel);
      c.boot.challenged.set(false);
    }
    admitted.clear();
  }

  private void closeListener() {
    FrameChannel.closeQuietly(selector);
    FrameChannel.closeQuietly(server);
    if (socketHome != null) {
      deleteQuietly(socketHome);
    }
  }

  private static RunnerBootException stoppedException(Throwable cause) {
    return new RunnerBootException(
        "the runner server stopped accepting connections (" + cause + "); close this backend", cause);
  }

  /** Milliseconds until the oldest knock's deadline or the end of an accept pause; 0 for none. */
  private long selectTimeoutMillis(long now) {
    long until = Long.MAX_VALUE;
    Iterator<Knock> oldest = knocking.iterator();
    if (oldest.hasNext()) {
      until = Math.min(until, oldest.next().acceptedNanos + handshakeTimeoutNanos - now);
    }
    if (acceptPaused) {
      until = Math.min(until, acceptPausedUntil - now);
    }
    return until == Long.MAX_VALUE ? 0L : Math.max(1L, TimeUnit.NANOSECONDS.toMillis(until) + 1);
  }

  private void ready(SelectionKey key) {
    if (key.attachment() instanceof Knock k) {
      readKnock(k);
    } else if (key.isValid() && key.isAcceptable()) {
      acceptReady = true;
    }
  }

  /** Cuts the knocking connections accepted longer than the handshake timeout ago. */
  private void cutLate(long now) {
    for (Iterator<Knock> it = knocking.iterator(); it.hasNext(); ) {
      Knock k = it.next();
      if (now - (k.acceptedNanos + handshakeTimeoutNanos) < 0) {
        return; // accept order is deadline order
      }
      it.remove();
      cancelAndClose(k);
      rejections.late();
    }
  }

  private void acceptSome() {
    for (int i = 0; i < ACCEPT_BATCH && !closed; i++) {
      SocketChannel channel;
      try {
        channel = accept.accept(server);
        failedAccepts = 0;
      } catch (IOException | RuntimeException e) {
        if (closed || !server.isOpen()) {
          return;
        }
        // Out of file descriptors or another passing failure: a server that stopped accepting
        // would never boot a runner again, so log the first of a run of failures and try again
        // after a pause growing to a second; connections wait in the listen backlog meanwhile.
        if (failedAccepts++ == 0) {
          LOG.log(System.Logger.Level.WARNING, "accepting runners failed; retrying", e);
        }
        acceptPaused = true;
        acceptPausedUntil = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(
            Math.min(1_000L, 10L << Math.min(failedAccepts, 7)));
        serverKey.interestOps(0);
        return;
      }
      if (channel == null) {
        return;
      }
      Knock k = new Knock(channel, System.nanoTime());
      try {
        channel.configureBlocking(false);
        if (socketHome == null) {
          channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
        }
        k.key = channel.register(selector, SelectionKey.OP_READ, k);
      } catch (IOException | RuntimeException e) {
        FrameChannel.closeQuietly(channel);
        continue;
      }
      makeRoom();
      knocking.add(k);
      readKnock(k); // a runner's KNOCK usually arrives with its connection
    }
  }

  /**
   * Cuts the oldest knocking connections until one more fits under {@code maxHandshakes}. Each is
   * read once more first: one whose KNOCK has arrived since it was last read is checked instead
   * of cut, so a runner is cut only if its KNOCK has not arrived by the time {@code
   * maxHandshakes} later connections were accepted.
   */
  private void makeRoom() {
    while (knocking.size() >= options.maxHandshakes()) {
      Knock oldest = knocking.iterator().next();
      readKnock(oldest);
      if (knocking.remove(oldest)) {
        cancelAndClose(oldest);
        rejections.crowded();
      }
    }
  }

  /** Reads what has arrived of a KNOCK; checks it once whole. */
  private void readKnock(Knock k) {
    if (!knocking.contains(k)) {
      return; // already cut or admitted
    }
    try {
      ByteBuffer frame = k.frame;
      if (frame == null) {
        if (k.channel.read(k.length) < 0) {
          drop(k);
          return;
        }
        if (k.length.hasRemaining()) {
          return;
        }
        int length = k.length.getInt(0);
        if (length < 1 || length > FrameChannel.MAX_PLAIN_FRAME) {
          refuse(k, "a first frame of " + length + " bytes, outside 1.." + FrameChannel.MAX_PLAIN_FRAME,
              null, false);
          return;
        }
        frame = k.frame = ByteBuffer.allocate(length);
      }
      if (k.channel.read(frame) < 0) {
        drop(k);
        return;
      }
      if (!frame.hasRemaining()) {
        knocked(k, frame.array());
      }
    } catch (IOException e) {
      drop(k);
    }
  }

  /**
   * Checks a whole KNOCK: the right type and version, a booting runner, a tag that checks, a
   * nonce not seen before for that runner (a replay repeats one), and no other connection of the
   * runner's challenged now.
   */
  private void knocked(Knock k, byte[] frame) {
    String id = null;
    try {
      DataInputStream in = new DataInputStream(new ByteArrayInputStream(frame));
      byte type = in.readByte();
      if (type != RemoteProtocol.KNOCK) {
        refuse(k, "expected KNOCK, got frame type " + type, null, false);
        return;
      }
      byte version = in.readByte();
      if (version != RemoteProtocol.VERSION) {
        String both = "protocol version " + version + " against the parent's " + RemoteProtocol.VERSION;
        refuse(k, "a runner of " + both, "the runner speaks " + both, false);
        return;
      }
      id = RemoteProtocol.readString(in);
      String shown = "runner \"" + RemoteProtocol.printable(id, 64) + "\"";
      if (id.length() > RemoteProtocol.MAX_RUNNER_ID_BYTES) {
        refuse(k, shown + " has an id of " + id.length() + " chars, longer than "
            + RemoteProtocol.MAX_RUNNER_ID_BYTES, "runner id too long", false);
        return;
      }
      byte[] runnerNonce = new byte[RemoteProtocol.NONCE_BYTES];
      in.readFully(runnerNonce);
      byte[] tag = new byte[32];
      in.readFully(tag);
      if (in.available() != 0) {
        refuse(k, "a KNOCK with " + in.available() + " bytes after its tag", "malformed KNOCK", false);
        return;
      }
      Pending wait = pending.get(id);
      String unknown = "not a booting runner, or not its secret";
      if (wait == null) {
        refuse(k, "no " + shown + " is booting", unknown, false);
        return;
      }
      if (!MessageDigest.isEqual(RemoteProtocol.knockTag(wait.secret, runnerNonce, id), tag)) {
        refuse(k, shown + " knocked without its secret", unknown, false);
        return;
      }
      if (wait.knockNonces.size() >= MAX_KNOCKS_PER_BOOT
          || !wait.knockNonces.add(ByteBuffer.wrap(runnerNonce))) {
        refuse(k, "a KNOCK of " + shown + " replayed (its nonce was seen before)", null, false);
        return;
      }
      if (!wait.challenged.compareAndSet(false, true)) {
        refuse(k, shown + " is already in a handshake on another connection",
            "already in a handshake on another connection", true);
        return;
      }
      knocking.remove(k);
      if (k.key != null) {
        k.key.cancel(); // leaves the selector at its next selection, before the channel blocks
      }
      admitted.add(new Challenged(k.channel, id, wait, runnerNonce));
    } catch (IOException e) {
      refuse(k, "a KNOCK that ends early (" + e.getMessage() + ")"
          + (id == null ? "" : " from runner \"" + RemoteProtocol.printable(id, 64) + "\""),
          "malformed KNOCK", false);
    }
  }

  /**
   * Hands the connections whose KNOCK checked to their own threads, in blocking mode. A channel
   * may block only once its cancelled key has left the selector, which happens at the next
   * selection; a KNOCK that checks during that selection is handed over in the next round.
   */
  private void startHandshakes() throws IOException {
    while (!admitted.isEmpty()) {
      List<Challenged> starting = new ArrayList<>(admitted);
      admitted.clear();
      try {
        selector.selectNow(this::ready); // deregisters the cancelled keys of `starting`
      } catch (IOException | RuntimeException | Error e) {
        admitted.addAll(starting); // closed by whoever handles the failure
        throw e;
      }
      for (int i = 0; i < starting.size(); i++) {
        Challenged c = starting.get(i);
        try {
          c.channel.configureBlocking(true);
          Thread.ofVirtual().name("shepherd-pool-remote-handshake").start(() -> handshake(c));
        } catch (IOException | RuntimeException | Error e) {
          FrameChannel.closeQuietly(c.channel);
          c.boot.challenged.set(false);
          if (e instanceof Error) {
            admitted.addAll(starting.subList(i + 1, starting.size()));
            throw e;
          }
        }
      }
    }
  }

  /** The peer closed or reset a knocking connection: no log line, it said nothing. */
  private void drop(Knock k) {
    knocking.remove(k);
    cancelAndClose(k);
  }

  /**
   * Cuts a knocking connection whose first frame was refused, telling the peer why in a REFUSED
   * frame when it sent one whole (a runner of another version, a runner whose boot has ended);
   * the log gets {@code why}, the peer only {@code told}, which does not say whether a runner id
   * is booting.
   */
  private void refuse(Knock k, String why, @Nullable String told, boolean tryAgain) {
    knocking.remove(k);
    String peer = peerOf(k.channel);
    if (told != null) {
      try {
        FrameChannel.FrameWriter refused = new FrameChannel.FrameWriter(RemoteProtocol.REFUSED);
        refused.out.writeBoolean(tryAgain);
        RemoteProtocol.writeString(refused.out, told);
        k.channel.write(ByteBuffer.wrap(refused.plainFrame())); // one try; it is closed anyway
      } catch (IOException | RuntimeException e) {
        // the peer is gone or not reading: it is cut all the same
      }
    }
    cancelAndClose(k);
    rejections.log("refused a runner connection from " + peer + ": " + why);
  }

  private static void cancelAndClose(Knock k) {
    if (k.key != null) {
      k.key.cancel();
    }
    FrameChannel.closeQuietly(k.channel);
  }

  /**
   * Rejections, logged at most once a second with a count of those not logged, so that a flood
   * of bad connections costs a line a second. Silent connections cut to make room or at their
   * deadline are only counted, in the same lines. The line is written outside the lock, so a
   * slow log handler delays only the thread that writes it.
   */
  private static final class RejectionLog {
    private long lastNanos;
    private boolean any;
    private long refused;
    private long crowded;
    private long late;

    /** Logs a refusal now, or counts it if a line went out less than a second ago. */
    void log(String line) {
      String due;
      synchronized (this) {
        refused++;
        due = due(RemoteProtocol.printable(line, RemoteProtocol.MAX_TEXT));
      }
      write(due);
    }

    /** Counts a silent connection cut to make room under {@code maxHandshakes}. */
    void crowded() {
      String due;
      synchronized (this) {
        crowded++;
        due = due("cut silent runner connections");
      }
      write(due);
    }

    /** Counts a knocking connection cut at the handshake timeout. */
    void late() {
      String due;
      synchronized (this) {
        late++;
        due = due("cut silent runner connections");
      }
      write(due);
    }

    /** The line to write now, with the counts since the last one (this one included), or null. */
    @GuardedBy("this")
    private @Nullable String due(String line) {
      long now = System.nanoTime();
      if (any && now - lastNanos < TimeUnit.SECONDS.toNanos(1)) {
        return null;
      }
      String counts = " (since the last such line: " + refused + " refused, " + crowded
          + " cut to make room under maxHandshakes, " + late + " cut at handshakeTimeout before a KNOCK)";
      any = true;
      lastNanos = now;
      refused = 0;
      crowded = 0;
      late = 0;
      return line + counts;
    }

    private static void write(@Nullable String line) {
      if (line != null) {
        LOG.log(System.Logger.Level.WARNING, line);
      }
    }
  }

  /** Who is at the other end, for logs: an address on TCP, the socket's path otherwise. */
  private String peerOf(SocketChannel channel) {
    if (socketHome != null) {
      return "the runner socket";
    }
    try {
      return String.valueOf(channel.getRemoteAddress());
    } catch (IOException e) {
      return "a closed connection";
    }
  }

  /** Sends the CHALLENGE, checks the PROOF, seals and hands the channel to its boot. */
  private void handshake(Challenged c) {
    SocketChannel socket = c.channel;
    ScheduledFuture<?> cut = null;
    boolean handedOver = false;
    String peer = peerOf(socket);
    String id = c.id;
    try {
      // A budget of its own from the KNOCK: one read late under a flood still has time to finish.
      // The timer closing the socket ends a blocked read or write alike; no read timeout needed.
      cut = deadlines.schedule(() -> closeQuietly(socket), handshakeTimeoutNanos, TimeUnit.NANOSECONDS);
      FrameChannel channel = new FrameChannel(socket);
      byte[] parentNonce = new byte[RemoteProtocol.NONCE_BYTES];
      random.nextBytes(parentNonce);
      FrameChannel.FrameWriter challenge = new FrameChannel.FrameWriter(RemoteProtocol.CHALLENGE);
      challenge.out.writeByte(RemoteProtocol.VERSION);
      challenge.out.write(parentNonce);
      channel.writePlain(challenge);
      FrameChannel.Frame proofFrame = channel.readPlain();
      if (proofFrame.type() != RemoteProtocol.PROOF) {
        throw new IOException("expected PROOF, got frame type " + proofFrame.type());
      }
      byte[] proof = new byte[32];
      proofFrame.body().readFully(proof);
      byte[] secret = c.boot.secret;
      byte[] expected = RemoteProtocol.runnerProof(secret, parentNonce, c.runnerNonce, id);
      if (!MessageDigest.isEqual(expected, proof)) {
        throw new IOException("runner \"" + RemoteProtocol.printable(id, 64) + "\" failed to prove its secret");
      }
      byte[][] keys = RemoteProtocol.sessionKeys(secret, parentNonce, c.runnerNonce, id);
      channel.seal(keys[0], keys[1], options.maxFrameBytes());
      channel.writeTimeout(options.writeTimeout());
      sealed.add(channel);
      if (!cut.cancel(false) || !socket.isOpen()) {
        throw new IOException("handshake deadline passed");
      }
      if (!c.boot.connected.complete(channel)) {
        throw new IOException("runner \"" + RemoteProtocol.printable(id, 64) + "\" already connected or its boot gave up");
      }
      handedOver = true;
    } catch (Throwable e) {
      rejections.log("rejected runner \"" + RemoteProtocol.printable(id, 64) + "\" connecting from "
          + peer + ": " + e);
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
        c.boot.challenged.set(false);
      }
    }
  }

  /**
   * Closes a connection, ignoring a failure to close.
   *
   * @param socket the connection
   */
  public static void closeQuietly(java.io.Closeable socket) {
    FrameChannel.closeQuietly(socket);
  }

  @Override
  public void close() {
    closed = true;
    deadlines.shutdownNow();
    selector.wakeup(); // the acceptor closes the knocking connections, the selector and the socket
    FrameChannel.closeQuietly(server);
    if (socketHome != null) {
      deleteQuietly(socketHome); // no runner can connect from here on; the acceptor may be gone
    }
    for (Pending wait : pending.values()) {
      wait.connected.completeExceptionally(new IllegalStateException("remote backend closed"));
    }
  }
}
