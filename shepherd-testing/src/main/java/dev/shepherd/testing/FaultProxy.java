package dev.shepherd.testing;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.time.Duration;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A TCP proxy on 127.0.0.1 that a test puts between a client and a real server to make the network
 * fail on demand, while the server behind it keeps running.
 *
 * <p>Faults, each until {@link #restore()}:
 * <ul>
 *   <li>{@link #delay(Duration)}: every chunk of bytes, in both directions, is held this long before
 *       it is forwarded (a slow network);
 *   <li>{@link #stopForwarding()}: connections stay open and new ones are accepted, but no byte passes
 *       in either direction (a server or network that hangs: the client sees neither an answer nor
 *       an error, only its own timeouts). Bytes held meanwhile are delivered after {@link #restore()},
 *       as TCP would after a partition heals;
 *   <li>{@link #refuseConnections()}: new connections are closed at once (a server that is down).
 * </ul>
 * {@link #cutConnections()} closes every open connection now with a TCP reset, without changing the
 * mode (a middlebox or server restart that drops connections).
 *
 * <p>Toxiproxy is the usual tool for this, but it is not packaged for Debian nor on Maven Central,
 * so the fixtures carry this small one. Each connection costs two virtual threads and one 16 KiB
 * buffer per direction; reads are never buffered beyond one chunk, so a stopped proxy applies TCP
 * back-pressure to the sender instead of queueing without bound.
 *
 * <p>Thread-safe: faults may be switched from any thread while traffic flows.
 */
public final class FaultProxy implements AutoCloseable {

  private static final int CHUNK = 16 * 1024;
  private static final int CONNECT_TIMEOUT_MILLIS = 2_000;

  private enum Mode { FORWARD, STOPPED, REFUSING }

  private final ServerSocket server;
  private final InetSocketAddress target;
  private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  private final AtomicLong accepted = new AtomicLong();
  private final Thread acceptor;
  private volatile Mode mode = Mode.FORWARD;
  private volatile long delayNanos;
  private volatile boolean closed;

  private FaultProxy(InetSocketAddress target) throws IOException {
    this.target = target;
    this.server = new ServerSocket(0, 512, InetAddress.getLoopbackAddress());
    this.acceptor = Thread.ofVirtual().name("fault-proxy-accept-" + server.getLocalPort())
        .start(this::acceptLoop);
  }

  /**
   * Starts a proxy on a free loopback port that forwards to {@code host:port}.
   *
   * @param host the server's host
   * @param port the server's port
   * @return the running proxy; close it after the test
   * @throws IllegalArgumentException if {@code port} is not in 1..65535
   * @throws UncheckedIOException if no listening socket can be opened
   */
  public static FaultProxy to(String host, int port) {
    Objects.requireNonNull(host, "host");
    if (port < 1 || port > 65_535) {
      throw new IllegalArgumentException("port must be in 1..65535, was " + port);
    }
    try {
      return new FaultProxy(new InetSocketAddress(host, port));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot open the fault proxy's listening socket", e);
    }
  }

  /**
   * Starts a proxy on a free loopback port that forwards to {@code 127.0.0.1:port}.
   *
   * @param port the server's port on 127.0.0.1
   * @return the running proxy; close it after the test
   */
  public static FaultProxy to(int port) {
    return to(InetAddress.getLoopbackAddress().getHostAddress(), port);
  }

  /**
   * Returns the loopback host clients connect to.
   *
   * @return {@code 127.0.0.1}
   */
  public String host() {
    return server.getInetAddress().getHostAddress();
  }

  /**
   * Returns the port clients connect to instead of the server's.
   *
   * @return the proxy's listening port
   */
  public int port() {
    return server.getLocalPort();
  }

  /**
   * Returns how many connections are open through the proxy now.
   *
   * @return open client connections
   */
  public int openConnections() {
    return sockets.size() / 2;
  }

  /**
   * Returns how many connections the proxy accepted since it started, refused ones included.
   *
   * @return accepted connections
   */
  public long acceptedConnections() {
    return accepted.get();
  }

  /**
   * Holds every chunk for {@code delay} before forwarding it.
   *
   * @param delay how long each chunk waits; zero for none
   * @throws IllegalArgumentException if {@code delay} is negative
   */
  public void delay(Duration delay) {
    Objects.requireNonNull(delay, "delay");
    if (delay.isNegative()) {
      throw new IllegalArgumentException("delay must not be negative, was " + delay);
    }
    delayNanos = delay.toNanos();
  }

  /** Stops forwarding bytes on every connection, open or new, until {@link #restore()}. */
  public void stopForwarding() {
    setMode(Mode.STOPPED);
  }

  /** Closes new connections at once until {@link #restore()}; open ones are left as they are. */
  public void refuseConnections() {
    setMode(Mode.REFUSING);
  }

  /** Closes every open connection with a TCP reset; the mode is unchanged. */
  public void cutConnections() {
    for (Socket socket : sockets) {
      reset(socket);
    }
    sockets.clear();
  }

  /** Forwards normally again, without delay; held bytes are delivered. */
  public void restore() {
    delayNanos = 0;
    setMode(Mode.FORWARD);
  }

  private void setMode(Mode next) {
    lock.lock();
    try {
      mode = next;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  /** Blocks while forwarding is stopped; returns false if the proxy closed meanwhile. */
  private boolean awaitForwarding() throws InterruptedException {
    if (mode != Mode.STOPPED) {
      return !closed;
    }
    lock.lock();
    try {
      while (mode == Mode.STOPPED && !closed) {
        changed.await(100, TimeUnit.MILLISECONDS);
      }
      return !closed;
    } finally {
      lock.unlock();
    }
  }

  private void acceptLoop() {
    while (!closed) {
      Socket client;
      try {
        client = server.accept();
      } catch (IOException e) {
        return;
      }
      accepted.incrementAndGet();
      if (mode == Mode.REFUSING) {
        reset(client);
        continue;
      }
      Thread.ofVirtual().name("fault-proxy-connect").start(() -> connect(client));
    }
  }

  private void connect(Socket client) {
    Socket upstream = new Socket();
    try {
      upstream.connect(target, CONNECT_TIMEOUT_MILLIS);
      client.setTcpNoDelay(true);
      upstream.setTcpNoDelay(true);
    } catch (IOException e) {
      reset(client);
      closeQuietly(upstream);
      return;
    }
    sockets.add(client);
    sockets.add(upstream);
    if (closed) {
      cutConnections();
      return;
    }
    AtomicInteger open = new AtomicInteger(2);
    Thread.ofVirtual().name("fault-proxy-up").start(() -> pump(client, upstream, open));
    Thread.ofVirtual().name("fault-proxy-down").start(() -> pump(upstream, client, open));
  }

  /** Copies one direction; the last direction to end closes both sockets. */
  private void pump(Socket from, Socket to, AtomicInteger open) {
    byte[] buffer = new byte[CHUNK];
    boolean orderly = false;
    try {
      InputStream in = from.getInputStream();
      OutputStream out = to.getOutputStream();
      int n;
      while ((n = in.read(buffer)) >= 0) {
        if (!awaitForwarding()) {
          break;
        }
        long delay = delayNanos;
        if (delay > 0) {
          TimeUnit.NANOSECONDS.sleep(delay);
          if (!awaitForwarding()) {
            break;
          }
        }
        out.write(buffer, 0, n);
        out.flush();
      }
      if (n < 0) {
        // orderly end of one direction: pass the half-close on
        to.shutdownOutput();
        orderly = true;
      }
    } catch (IOException | InterruptedException e) {
      // cut, reset or closed: close both sides below
    }
    if (!orderly || open.decrementAndGet() == 0) {
      if (orderly) {
        closeQuietly(from);
        closeQuietly(to);
      } else {
        reset(from);
        reset(to);
      }
      sockets.remove(from);
      sockets.remove(to);
    }
  }

  private static void reset(Socket socket) {
    try {
      socket.setSoLinger(true, 0);
    } catch (SocketException ignored) {
      // already closed
    }
    closeQuietly(socket);
  }

  private static void closeQuietly(Closeable socket) {
    try {
      socket.close();
    } catch (IOException ignored) {
      // closing anyway
    }
  }

  /** Closes the listening socket and every connection. */
  @Override
  public void close() {
    closed = true;
    closeQuietly(server);
    setMode(Mode.FORWARD);
    cutConnections();
    acceptor.interrupt();
  }

  @Override
  public String toString() {
    return "FaultProxy[" + host() + ":" + port() + " -> " + target + ", " + mode + "]";
  }
}
