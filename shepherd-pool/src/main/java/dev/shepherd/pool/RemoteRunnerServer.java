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
import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
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
 *       maxHandshakes} connections knock at once; the acceptor never stops accepting, and when one
 *       more arrives the oldest knocking connection is cut to make room. A knocking connection is
 *       also cut at {@code handshakeTimeout} after its accept, at a first frame that is not a
 *       well-formed KNOCK of a booting runner with a tag that checks, and when the peer closes it.
 *       A runner sends its KNOCK the moment it connects, so its KNOCK is usually read in the same
 *       step that accepts it: connections that send nothing cannot crowd a runner out, they are
 *       what gets cut, oldest first, as new ones arrive.
 *   <li><b>Challenged</b>: the KNOCK checked (one connection per booting runner at a time). The
 *       connection leaves the selector and gets a virtual thread, which sends the CHALLENGE, reads
 *       the PROOF and seals the channel, all within the same {@code handshakeTimeout} from its
 *       accept, after which a timer closes it.
 *   <li><b>Handed over</b>: the proof checked; the channel completes the boot's future (or is
 *       closed if the boot has given up), and its writes are watched by {@link #sweepWrites}.
 * </ol>
 *
 * <p>Any failure, {@link Error}s included, closes the socket. Text the peer sent (its runner id)
 * reaches logs only escaped and bounded, and rejections are logged at most once a second, with a
 * count of the rest, so a flood cannot flood the log either.
 *
 * <p>What this does not stop: more connections than {@code maxHandshakes} plus the listen backlog
 * ({@value #MIN_BACKLOG} or {@code maxHandshakes}, whichever is larger, capped by the kernel's
 * {@code somaxconn}), reopened as fast as they are cut, keep the backlog full, and the kernel then
 * drops a runner's connection attempt before anything here sees it; the runner tries again for
 * 10 s. Only the network can stop that (on Kubernetes, a NetworkPolicy).
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
    this(options, ServerSocketChannel::accept);
  }

  /** Accepts runners through {@code accept} (tests hand in one that fails). */
  RemoteRunnerServer(Options options, Accept accept) throws IOException {
    this.accept = accept;
    this.options = options;
    this.handshakeTimeoutNanos = Durations.toNanosSaturated(options.handshakeTimeout());
    ServerSocketChannel opened = ServerSocketChannel.open();
    Selector opening = null;
    try {
      opened.bind(
          new InetSocketAddress(options.bindAddress(), options.port()),
          Math.max(MIN_BACKLOG, options.maxHandshakes()));
      opened.configureBlocking(false);
      opening = Selector.open();
      this.serverKey = opened.register(opening, SelectionKey.OP_ACCEPT);
    } catch (IOException | RuntimeException e) {
      FrameChannel.closeQuietly(opened);
      if (opening != null) {
        FrameChannel.closeQuietly(opening);
      }
      throw e;
    }
    this.server = opened;
    this.selector = opening;
    int localPort = ((InetSocketAddress) opened.socket().getLocalSocketAddress()).getPort();
    String advertisedHost = options.advertisedHost();
    String host = advertisedHost != null ? advertisedHost : options.bindAddress().getHostAddress();
    this.advertisedAddress = host + ":" + localPort;
    this.deadlines =
        new ScheduledThreadPoolExecutor(
            1,
            r -> {
              Thread t = new Thread(r, "shepherd-pool-remote-handshake-deadline-" + localPort);
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
            .name("shepherd-pool-remote-acceptor-" + localPort)
            .unstarted(this::acceptLoop);
    acceptor.start();
  }

  /**
   * Returns the address the server listens on.
   *
   * @return the bound address and port
   */
  public InetSocketAddress address() {
    return (InetSocketAddress) server.socket().getLocalSocketAddress();
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
    /** Whether a connection of this runner's is challenged now; one at a time. */
    final AtomicBoolean challenged = new AtomicBoolean();

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
    final long acceptedNanos;
    final String id;
    final Pending boot;
    final byte[] runnerNonce;

    Challenged(
        SocketChannel channel, long acceptedNanos, String id, Pending boot, byte[] runnerNonce) {
      this.channel = channel;
      this.acceptedNanos = acceptedNanos;
      this.id = id;
      this.boot = boot;
      this.runnerNonce = runnerNonce;
    }
  }

  private void acceptLoop() {
    try {
      while (!closed) {
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
    } catch (IOException | RuntimeException e) {
      if (!closed) {
        LOG.log(System.Logger.Level.ERROR, "the runner acceptor stopped; no runner can connect", e);
      }
    } finally {
      for (Knock k : knocking) {
        FrameChannel.closeQuietly(k.channel);
      }
      knocking.clear();
      for (Challenged c : admitted) {
        FrameChannel.closeQuietly(c.channel);
      }
      admitted.clear();
      FrameChannel.closeQuietly(selector);
      FrameChannel.closeQuietly(server);
    }
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
        channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
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
          refuse(k, "a first frame of " + length + " bytes, outside 1.." + FrameChannel.MAX_PLAIN_FRAME);
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

  /** Checks a whole KNOCK: the right type and version, a booting runner, a tag that checks. */
  private void knocked(Knock k, byte[] frame) {
    String id = null;
    try {
      DataInputStream in = new DataInputStream(new ByteArrayInputStream(frame));
      byte type = in.readByte();
      if (type != RemoteProtocol.KNOCK) {
        refuse(k, "expected KNOCK, got frame type " + type);
        return;
      }
      byte version = in.readByte();
      if (version != RemoteProtocol.VERSION) {
        refuse(k, "a runner of protocol version " + version + ", this parent " + RemoteProtocol.VERSION);
        return;
      }
      id = RemoteProtocol.readString(in);
      if (id.length() > RemoteProtocol.MAX_RUNNER_ID_BYTES) {
        refuse(k, "runner id \"" + RemoteProtocol.printable(id, 64) + "\" of " + id.length()
            + " chars is longer than " + RemoteProtocol.MAX_RUNNER_ID_BYTES);
        return;
      }
      byte[] runnerNonce = new byte[RemoteProtocol.NONCE_BYTES];
      in.readFully(runnerNonce);
      byte[] tag = new byte[32];
      in.readFully(tag);
      Pending wait = pending.get(id);
      if (wait == null) {
        refuse(k, "no runner \"" + RemoteProtocol.printable(id, 64) + "\" is booting");
        return;
      }
      if (!MessageDigest.isEqual(RemoteProtocol.knockTag(wait.secret, runnerNonce, id), tag)) {
        refuse(k, "runner \"" + RemoteProtocol.printable(id, 64) + "\" knocked without its secret");
        return;
      }
      if (!wait.challenged.compareAndSet(false, true)) {
        refuse(k, "runner \"" + RemoteProtocol.printable(id, 64) + "\" is already in a handshake");
        return;
      }
      knocking.remove(k);
      if (k.key != null) {
        k.key.cancel(); // leaves the selector at its next selection, before the channel blocks
      }
      admitted.add(new Challenged(k.channel, k.acceptedNanos, id, wait, runnerNonce));
    } catch (IOException e) {
      refuse(k, "a KNOCK that ends early (" + e.getMessage() + ")"
          + (id == null ? "" : " from runner \"" + RemoteProtocol.printable(id, 64) + "\""));
    }
  }

  /** Hands the connections whose KNOCK checked to their own threads, in blocking mode. */
  private void startHandshakes() throws IOException {
    if (admitted.isEmpty()) {
      return;
    }
    List<Challenged> starting = new ArrayList<>(admitted);
    admitted.clear();
    selector.selectNow(this::ready); // deregisters the cancelled keys, so the channels may block
    for (int i = 0; i < starting.size(); i++) {
      Challenged c = starting.get(i);
      try {
        c.channel.configureBlocking(true);
        Thread.ofVirtual().name("shepherd-pool-remote-handshake").start(() -> handshake(c));
      } catch (Throwable t) {
        FrameChannel.closeQuietly(c.channel);
        c.boot.challenged.set(false);
        if (t instanceof Error error) {
          for (Challenged rest : starting.subList(i + 1, starting.size())) {
            FrameChannel.closeQuietly(rest.channel);
            rest.boot.challenged.set(false);
          }
          throw error;
        }
      }
    }
  }

  /** The peer closed or reset a knocking connection: no log line, it said nothing. */
  private void drop(Knock k) {
    knocking.remove(k);
    cancelAndClose(k);
  }

  private void refuse(Knock k, String why) {
    knocking.remove(k);
    String peer = String.valueOf(k.channel.socket().getRemoteSocketAddress());
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
   * deadline are only counted, in the same lines.
   */
  private static final class RejectionLog {
    private long lastNanos;
    private boolean any;
    private long refused;
    private long crowded;
    private long late;

    /** Logs a refusal now, or counts it if a line went out less than a second ago. */
    synchronized void log(String line) {
      if (!due()) {
        refused++;
        return;
      }
      write(RemoteProtocol.printable(line, RemoteProtocol.MAX_TEXT));
    }

    /** Counts a silent connection cut to make room under {@code maxHandshakes}. */
    synchronized void crowded() {
      crowded++;
      if (due()) {
        write("cut silent runner connections");
      }
    }

    /** Counts a knocking connection cut at the handshake timeout. */
    synchronized void late() {
      late++;
      if (due()) {
        write("cut silent runner connections");
      }
    }

    private boolean due() {
      return !any || System.nanoTime() - lastNanos >= TimeUnit.SECONDS.toNanos(1);
    }

    private void write(String line) {
      String counts =
          refused + crowded + late == 0
              ? ""
              : " (since the last such line: " + refused + " more refused, " + crowded
                  + " cut to make room under maxHandshakes, " + late
                  + " cut at handshakeTimeout before a KNOCK)";
      any = true;
      lastNanos = System.nanoTime();
      refused = 0;
      crowded = 0;
      late = 0;
      LOG.log(System.Logger.Level.WARNING, line + counts);
    }
  }

  /** Sends the CHALLENGE, checks the PROOF, seals and hands the channel to its boot. */
  private void handshake(Challenged c) {
    Socket socket = c.channel.socket();
    ScheduledFuture<?> cut = null;
    boolean handedOver = false;
    String peer = String.valueOf(socket.getRemoteSocketAddress());
    String id = c.id;
    try {
      long left = c.acceptedNanos + handshakeTimeoutNanos - System.nanoTime();
      cut = deadlines.schedule(() -> closeQuietly(socket), Math.max(0L, left), TimeUnit.NANOSECONDS);
      socket.setSoTimeout(
          (int) Math.max(1, Math.min(Integer.MAX_VALUE, TimeUnit.NANOSECONDS.toMillis(left))));
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
      if (!cut.cancel(false) || socket.isClosed()) {
        throw new IOException("handshake deadline passed");
      }
      socket.setSoTimeout(0);
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
    selector.wakeup(); // the acceptor closes the knocking connections, the selector and the socket
    FrameChannel.closeQuietly(server);
    for (Pending wait : pending.values()) {
      wait.connected.completeExceptionally(new IllegalStateException("remote backend closed"));
    }
  }
}
