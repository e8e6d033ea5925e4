package dev.shepherd.pool;

import dev.shepherd.core.internal.Require;
import dev.shepherd.pool.spi.RunnerLauncher;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * The options every remote backend shares: the function registry, where the parent listens for
 * runners, and the bounds of the runner channel. {@link RemoteBackend.Builder}, {@link
 * ProcessBackend.Builder} and the Kubernetes backend's builder extend it, each adding only what
 * starts its runners, so a remote backend is one {@link RemoteBackend} configured with a
 * launcher. Not thread-safe.
 *
 * @param <B> the concrete builder, returned by every option
 */
public abstract class RemoteBackendBuilder<B extends RemoteBackendBuilder<B>> {

  /** Default of {@link #writeTimeout(Duration)}: 30 s. */
  public static final Duration DEFAULT_WRITE_TIMEOUT = Duration.ofSeconds(30);

  /** Default of {@link #maxFrameBytes(int)}: 16 MiB. */
  public static final int DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

  private @Nullable Class<? extends FunctionRegistryFactory> functions;
  private @Nullable InetAddress bindAddress;
  private int port;
  private @Nullable String advertisedHost;
  private Duration handshakeTimeout = Duration.ofSeconds(5);
  private int maxHandshakes = 256;
  private int maxFrameBytes = DEFAULT_MAX_FRAME_BYTES;
  private CodecLimits codecLimits = CodecLimits.defaults();
  private Duration writeTimeout = DEFAULT_WRITE_TIMEOUT;

  /** For the builders of remote backends. */
  protected RemoteBackendBuilder() {}

  /**
   * Returns this builder as its concrete type.
   *
   * @return this
   */
  protected abstract B self();

  /**
   * Sets the class that builds the function registry, in this JVM and in every runner. Required.
   *
   * @param factory a public class with a public no-argument constructor
   * @return this builder
   * @throws NullPointerException if null
   */
  public final B functions(Class<? extends FunctionRegistryFactory> factory) {
    this.functions = Require.nonNull(factory, "functions");
    return self();
  }

  /**
   * Sets the address the server listens on. Default: the backend's (127.0.0.1 for the generic
   * remote backend and for a process backend on TCP, which setting this chooses; the Pod IP for
   * the Kubernetes one).
   *
   * @param bindAddress the address
   * @return this builder
   * @throws NullPointerException if null
   */
  public final B bindAddress(InetAddress bindAddress) {
    this.bindAddress = Require.nonNull(bindAddress, "bindAddress");
    return self();
  }

  /**
   * Sets the port the server listens on. Default 0 (any free port).
   *
   * @param port 0 to 65535
   * @return this builder
   * @throws IllegalArgumentException if out of range
   */
  public final B port(int port) {
    this.port = Require.inRange(port, 0, 65535, "port");
    return self();
  }

  /**
   * Sets the host runners are told to connect to, if not the bind address (for example the
   * parent Pod's IP from the downward API). Default: the bind address.
   *
   * @param host a host name or IP literal
   * @return this builder
   * @throws NullPointerException if null
   * @throws IllegalArgumentException if empty
   */
  public final B advertisedHost(String host) {
    this.advertisedHost = Require.notEmpty(host, "advertisedHost");
    return self();
  }

  /**
   * Sets how long a connection has for each half of the handshake before it is closed: from its
   * accept to a whole first frame (the runner's KNOCK), and from a KNOCK that checks to the
   * runner's proof of its secret. One deadline per half, whatever the peer sends meanwhile.
   * Default 5 s.
   *
   * @param timeout positive
   * @return this builder
   * @throws NullPointerException if null
   * @throws IllegalArgumentException if not positive
   */
  public final B handshakeTimeout(Duration timeout) {
    this.handshakeTimeout = Require.positive(timeout, "handshakeTimeout");
    return self();
  }

  /**
   * Sets how many connections may wait for their first frame at once: accepted, but not yet
   * known to be a booting runner (a runner sends its first frame, the KNOCK, the moment it
   * connects, and is known once it is read). When one more connection arrives, the oldest such
   * connection is cut to make room, so connections that send nothing cannot keep runners out
   * (a runner that is cut anyway connects again, for up to 10 s). Each costs a file descriptor
   * and at most 1 KiB, no thread. Default 256.
   *
   * @param max 1 or more
   * @return this builder
   * @throws IllegalArgumentException if below 1
   */
  public final B maxHandshakes(int max) {
    this.maxHandshakes = Require.atLeast(max, 1, "maxHandshakes");
    return self();
  }

  /**
   * Sets the largest frame (a call with its argument, a result, a failure) either end accepts
   * after the handshake. A larger argument fails before it is sent; a larger result fails the
   * call; a larger frame from the peer closes the connection. Default 16 MiB.
   *
   * @param bytes from 4 KiB to 1 GiB
   * @return this builder
   * @throws IllegalArgumentException if out of range
   */
  public final B maxFrameBytes(int bytes) {
    this.maxFrameBytes = Require.inRange(bytes, 4096, 1 << 30, "maxFrameBytes");
    return self();
  }

  /**
   * Sets how long the parent waits for a runner to take one frame (a call with its argument, a
   * cancel, a shutdown) before it declares the runner dead. A runner that stops reading (a stopped
   * or hung JVM, a network partition) would otherwise keep the thread that writes to it blocked
   * until TCP gives up, which takes minutes or, for a stopped local process, forever; and every
   * other write to that runner waits behind it. Past this timeout the connection is closed, the
   * runner is killed, and its calls fail with {@link RunnerDiedException}. Cancels and shutdowns
   * are written off the pool's own threads, so a stuck runner never delays another runner's
   * timeouts; a call's own write blocks its caller (or the thread that frees a slot) for at most
   * this long. Default {@link #DEFAULT_WRITE_TIMEOUT}; allow for the largest argument over the
   * slowest link.
   *
   * @param timeout positive
   * @return this builder
   * @throws NullPointerException if null
   * @throws IllegalArgumentException if not positive
   */
  public final B writeTimeout(Duration timeout) {
    this.writeTimeout = Require.positive(timeout, "writeTimeout");
    return self();
  }

  /**
   * Sets the payload codec's limits (nesting depth, elements per collection, bytes per string),
   * applied to arguments and results at both ends. Default {@link
   * CodecLimits#defaults()}.
   *
   * @param limits the limits
   * @return this builder
   * @throws NullPointerException if null
   */
  public final B codecLimits(CodecLimits limits) {
    this.codecLimits = Require.nonNull(limits, "codecLimits");
    return self();
  }

  /**
   * Returns the address set with {@link #bindAddress}, if any.
   *
   * @return the address, or null for the backend's default
   */
  protected final @Nullable InetAddress bindAddress() {
    return bindAddress;
  }

  /**
   * Returns the host set with {@link #advertisedHost}, if any.
   *
   * @return the host, or null for the backend's default
   */
  protected final @Nullable String advertisedHost() {
    return advertisedHost;
  }

  /**
   * Starts the remote backend these options describe, with a launcher.
   *
   * @param launcher what starts runners
   * @param defaultBindAddress the address to listen on if none was set
   * @param defaultAdvertisedHost the host runners are told, if none was set (null: the bind
   *     address)
   * @return the backend, listening
   * @throws NullPointerException if the functions class was not set
   * @throws IllegalArgumentException if the functions class cannot be instantiated
   * @throws UncheckedIOException if the server cannot listen
   */
  protected final RemoteBackend buildRemote(
      RunnerLauncher launcher, InetAddress defaultBindAddress, @Nullable String defaultAdvertisedHost) {
    return buildRemote(launcher, defaultBindAddress, defaultAdvertisedHost, null);
  }

  /**
   * As {@link #buildRemote(RunnerLauncher, InetAddress, String)}, listening on a Unix domain
   * socket in an owner-only directory created under {@code socketDirectory} if it is not null.
   */
  final RemoteBackend buildRemote(
      RunnerLauncher launcher,
      InetAddress defaultBindAddress,
      @Nullable String defaultAdvertisedHost,
      @Nullable Path socketDirectory) {
    Class<? extends FunctionRegistryFactory> f = Require.nonNull(functions, "functions");
    InetAddress bind = bindAddress != null ? bindAddress : defaultBindAddress;
    String host = advertisedHost != null ? advertisedHost : defaultAdvertisedHost;
    try {
      return new RemoteBackend(launcher, f, new RemoteRunnerServer.Options(
          bind, port, host, handshakeTimeout, maxHandshakes, maxFrameBytes, codecLimits,
          writeTimeout, socketDirectory));
    } catch (IOException e) {
      throw new UncheckedIOException(
          socketDirectory != null
              ? "cannot listen on a Unix domain socket under " + socketDirectory + ": " + e.getMessage()
              : "cannot listen on " + bind + ":" + port,
          e);
    }
  }

  /**
   * Returns whether {@link #bindAddress}, {@link #port} or {@link #advertisedHost} was set.
   *
   * @return true if any TCP option was set
   */
  final boolean tcpOptionSet() {
    return bindAddress != null || port != 0 || advertisedHost != null;
  }
}
