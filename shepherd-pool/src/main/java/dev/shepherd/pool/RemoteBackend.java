package dev.shepherd.pool;

import dev.shepherd.pool.spi.Backend;
import dev.shepherd.pool.spi.RunnerHandle;
import dev.shepherd.pool.spi.RunnerLauncher;
import dev.shepherd.pool.spi.RunnerListener;
import dev.shepherd.pool.spi.RunnerSpec;
import dev.shepherd.core.internal.Require;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.SortedSet;
import org.jspecify.annotations.Nullable;

/**
 * A {@link Backend} whose runners are other JVMs that run {@link RunnerMain} and connect back to a
 * server this backend opens: the shared half of every remote backend. A {@link RunnerLauncher}
 * supplies the other half, starting "something that runs {@code RunnerMain} with these environment
 * variables" (a child process for {@link ProcessBackend}, a Pod for the Kubernetes backend).
 *
 * <p>Protocol, in brief: the runner connects to {@link RunnerEnvironment#PARENT} and at once sends
 * its id and nonce with a tag over them keyed by its secret (so the parent can tell a runner from
 * a connection that sends nothing, see {@link RemoteBackendBuilder#maxHandshakes}); the parent
 * answers with its own nonce; the runner proves the random 256-bit secret this backend generated for
 * it (passed in {@link RunnerEnvironment#SECRET}, never sent) with an HMAC-SHA256 over both nonces
 * and its id; both derive session keys from the secret and the nonces, and the parent proves
 * itself with a first frame sealed under them, so a runner never talks to a listener that does not
 * know its secret. From then on every frame is encrypted and authenticated with AES-GCM and
 * numbered in order; an altered, replayed, reordered or injected frame closes the connection and
 * the runner's calls fail with {@link RunnerDiedException}. Calls carry a call id, the function
 * name and an encoded payload; results and failures ({@link RemoteException} data)
 * flow back; a cancel frame interrupts the call's thread on the runner. The runner exits when its
 * connection closes, when asked to shut down, and when idle past its limit.
 *
 * <p>Bounds: before authentication a connection may send at most 1 KiB and must finish each half
 * of the handshake (accept to KNOCK, KNOCK to proof) within {@link
 * RemoteBackendBuilder#handshakeTimeout} (default 5 s each), and at most {@link
 * RemoteBackendBuilder#maxHandshakes} (default 256) connections wait for their first frame at once,
 * the oldest cut when another arrives; after it, frames are limited to
 * {@link RemoteBackendBuilder#maxFrameBytes} (default 16 MiB) and payloads to the codec's {@link
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

  RemoteBackend(
      RunnerLauncher launcher, Class<? extends FunctionRegistryFactory> factory, RemoteRunnerServer.Options server)
      throws IOException {
    this.launcher = launcher;
    this.functionsClass = factory.getName();
    this.functions = FunctionRegistries.instantiate(factory);
    this.server = new RemoteRunnerServer(server);
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
  public SortedSet<String> functionNames() {
    return functions.names();
  }

  @Override
  public @Nullable Object prepare(String function, @Nullable Object argument) {
    RemoteRunnerServer.Options options = server.options();
    byte[] encoded = PayloadCodec.encode(argument, options.codecLimits());
    long frame = 1L + 8 + 4 + function.length() * 3L + 4 + encoded.length;
    int limit = options.maxFrameBytes();
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

  /**
   * Builds a {@link RemoteBackend} from a launcher and the shared options of {@link
   * RemoteBackendBuilder}. Not thread-safe.
   */
  public static final class Builder extends RemoteBackendBuilder<Builder> {
    private @Nullable RunnerLauncher launcher;

    private Builder() {}

    @Override
    protected Builder self() {
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
     * Builds the backend and starts its server, on 127.0.0.1 unless {@link #bindAddress} says
     * otherwise.
     *
     * @return the backend
     * @throws NullPointerException if the launcher or the functions class was not set
     * @throws IllegalArgumentException if the functions class cannot be instantiated
     * @throws java.io.UncheckedIOException if the server cannot listen
     */
    public RemoteBackend build() {
      RunnerLauncher l = Require.nonNull(launcher, "launcher");
      return buildRemote(l, InetAddress.getLoopbackAddress(), null);
    }
  }
}
