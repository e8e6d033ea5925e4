package dev.shepherd.pool;

import dev.shepherd.pool.internal.FunctionRegistries;
import dev.shepherd.pool.internal.PayloadCodec;
import dev.shepherd.pool.internal.RemoteRunnerServer;
import dev.shepherd.pool.spi.Backend;
import dev.shepherd.pool.spi.RunnerHandle;
import dev.shepherd.pool.spi.RunnerLauncher;
import dev.shepherd.pool.spi.RunnerListener;
import dev.shepherd.pool.spi.RunnerSpec;
import dev.shepherd.core.Require;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * A {@link Backend} whose runners are other JVMs that run {@link RunnerMain} and connect back to a
 * server this backend opens: the shared half of every remote backend. A {@link RunnerLauncher}
 * supplies the other half, starting "something that runs {@code RunnerMain} with these environment
 * variables" (a child process for {@link ProcessBackend}, a Pod for the Kubernetes backend).
 *
 * <p>Protocol, in brief: the runner connects to {@link RunnerEnvironment#PARENT}; both ends
 * exchange random nonces; the runner proves the random 256-bit secret this backend generated for
 * it (passed in {@link RunnerEnvironment#SECRET}, never sent) with an HMAC-SHA256 over both nonces
 * and its id; both derive session keys from the secret and the nonces, and the parent proves
 * itself with a first frame sealed under them, so a runner never talks to a listener that does not
 * know its secret. From then on every frame is encrypted and authenticated with AES-GCM and
 * numbered in order; an altered, replayed, reordered or injected frame closes the connection and
 * the runner's calls fail with {@link RunnerDiedException}. Calls carry a call id, the function
 * name and a {@link PayloadCodec} payload; results and failures ({@link RemoteException} data)
 * flow back; a cancel frame interrupts the call's thread on the runner. The runner exits when its
 * connection closes, when asked to shut down, and when idle past its limit.
 *
 * <p>Bounds: before authentication a connection may send at most 1 KiB and must finish the
 * handshake within {@link Builder#handshakeTimeout} (default 5 s), and at most {@link
 * Builder#maxHandshakes} (default 64) handshakes run at once; after it, frames are limited to
 * {@link Builder#maxFrameBytes} (default 16 MiB) and payloads to the codec's {@link
 * CodecLimits}. A wrong proof, an unknown or already connected id, a frame too large, or
 * silence past the deadline closes the connection.
 *
 * <p>By default the server listens on 127.0.0.1 only. Thread-safe.
 */
public final class RemoteBackend implements Backend {

  private final RemoteRunnerServer server;
  private final RunnerLauncher launcher;
  private final FunctionRegistry functions;
  private final String functionsClass;

  private RemoteBackend(Builder builder, RunnerLauncher launcher, Class<? extends FunctionRegistryFactory> factory)
      throws IOException {
    this.launcher = launcher;
    this.functionsClass = factory.getName();
    this.functions = FunctionRegistries.instantiate(factory);
    this.server =
        new RemoteRunnerServer(
            builder.bindAddress,
            builder.port,
            builder.advertisedHost,
            builder.handshakeTimeout,
            builder.maxHandshakes,
            builder.maxFrameBytes,
            builder.codecLimits);
  }

  /**
   * Returns a builder of a remote backend.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Returns the address the server listens on.
   *
   * @return the bound address and port
   */
  public InetSocketAddress address() {
    return server.address();
  }

  /**
   * Returns the {@code host:port} runners are told to connect to ({@link RunnerEnvironment#PARENT}).
   *
   * @return the advertised address
   */
  public String advertisedAddress() {
    return server.advertisedAddress();
  }

  @Override
  public FunctionRegistry functions() {
    return functions;
  }

  @Override
  public @Nullable Object prepare(String function, @Nullable Object argument) {
    byte[] encoded = PayloadCodec.encode(argument, server.codecLimits());
    long frame = 1L + 8 + 4 + function.length() * 3L + 4 + encoded.length;
    int limit = server.maxFrameBytes();
    if (frame > limit) {
      throw new IllegalArgumentException(
          "the argument of \"" + function + "\" encodes to " + encoded.length
              + " bytes, more than a frame carries: maxFrameBytes=" + limit);
    }
    return encoded;
  }

  @Override
  public RunnerHandle boot(RunnerSpec spec, RunnerListener listener) throws Exception {
    return server.boot(spec, listener, launcher, functionsClass);
  }

  @Override
  public void close() {
    server.close();
    launcher.close();
  }

  @Override
  public String toString() {
    return "RemoteBackend[" + server.advertisedAddress() + ", " + launcher + "]";
  }

  /** Builds a {@link RemoteBackend}. Not thread-safe. */
  public static final class Builder {
    private @Nullable RunnerLauncher launcher;
    private @Nullable Class<? extends FunctionRegistryFactory> functions;
    private InetAddress bindAddress = InetAddress.getLoopbackAddress();
    private int port;
    private @Nullable String advertisedHost;
    private Duration handshakeTimeout = Duration.ofSeconds(5);
    private int maxHandshakes = 64;
    private int maxFrameBytes = DEFAULT_MAX_FRAME_BYTES;
    private CodecLimits codecLimits = CodecLimits.defaults();

    /** Default of {@link #maxFrameBytes(int)}: 16 MiB. */
    public static final int DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

    private Builder() {}

    /**
     * Sets how long a connecting runner has, in total, to complete the handshake (send its proof)
     * before the connection is closed. Default 5 s.
     *
     * @param timeout positive
     * @return this builder
     * @throws NullPointerException if null
     * @throws IllegalArgumentException if not positive
     */
    public Builder handshakeTimeout(Duration timeout) {
      this.handshakeTimeout = Require.positive(timeout, "handshakeTimeout");
      return this;
    }

    /**
     * Sets how many unauthenticated connections are handled at once; further ones wait in the
     * listen backlog until a handshake ends. Default 64.
     *
     * @param max 1 or more
     * @return this builder
     * @throws IllegalArgumentException if below 1
     */
    public Builder maxHandshakes(int max) {
      this.maxHandshakes = Require.atLeast(max, 1, "maxHandshakes");
      return this;
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
    public Builder maxFrameBytes(int bytes) {
      this.maxFrameBytes = Require.inRange(bytes, 4096, 1 << 30, "maxFrameBytes");
      return this;
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
    public Builder codecLimits(CodecLimits limits) {
      this.codecLimits = Require.nonNull(limits, "codecLimits");
      return this;
    }

    /**
     * Sets what starts runners. Required.
     *
     * @param launcher the launcher; closed with the backend
     * @return this builder
     * @throws NullPointerException if null
     */
    public Builder launcher(RunnerLauncher launcher) {
      this.launcher = Require.nonNull(launcher, "launcher");
      return this;
    }

    /**
     * Sets the class that builds the function registry, in this JVM and in every runner. Required.
     *
     * @param factory a public class with a public no-argument constructor
     * @return this builder
     * @throws NullPointerException if null
     */
    public Builder functions(Class<? extends FunctionRegistryFactory> factory) {
      this.functions = Require.nonNull(factory, "functions");
      return this;
    }

    /**
     * Sets the address the server listens on. Default 127.0.0.1 (loopback only); a backend whose
     * runners are on other hosts (Pods) must bind a reachable address.
     *
     * @param bindAddress the address
     * @return this builder
     * @throws NullPointerException if null
     */
    public Builder bindAddress(InetAddress bindAddress) {
      this.bindAddress = Require.nonNull(bindAddress, "bindAddress");
      return this;
    }

    /**
     * Sets the port the server listens on. Default 0 (any free port).
     *
     * @param port 0 to 65535
     * @return this builder
     * @throws IllegalArgumentException if out of range
     */
    public Builder port(int port) {
      this.port = Require.inRange(port, 0, 65535, "port");
      return this;
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
    public Builder advertisedHost(String host) {
      this.advertisedHost = Require.notEmpty(host, "advertisedHost");
      return this;
    }

    /**
     * Builds the backend and starts its server.
     *
     * @return the backend
     * @throws NullPointerException if the launcher or the functions class was not set
     * @throws IllegalArgumentException if the functions class cannot be instantiated
     * @throws java.io.UncheckedIOException if the server cannot listen
     */
    public RemoteBackend build() {
      RunnerLauncher l = Require.nonNull(launcher, "launcher");
      Class<? extends FunctionRegistryFactory> f = Require.nonNull(functions, "functions");
      try {
        return new RemoteBackend(this, l, f);
      } catch (IOException e) {
        throw new java.io.UncheckedIOException("cannot listen on " + bindAddress + ":" + port, e);
      }
    }
  }
}
