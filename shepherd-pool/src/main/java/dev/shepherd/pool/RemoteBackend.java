package dev.shepherd.pool;

import dev.shepherd.core.Require;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * A {@link Backend} whose runners are other JVMs that run {@link RunnerMain} and connect back to a
 * server this backend opens: the shared half of every remote backend. A {@link RunnerLauncher}
 * supplies the other half, starting "something that runs {@code RunnerMain} with these environment
 * variables" (a child process for {@link ProcessBackend}, a Pod for the Kubernetes backend).
 *
 * <p>Protocol, in brief (see {@code RemoteProtocol} for the frames): the runner connects to {@link
 * RunnerEnvironment#PARENT}; the server sends a random 32-byte challenge; the runner answers with
 * its id and HMAC-SHA256(secret, challenge || id), where the secret is the random 256-bit value
 * this backend generated for that runner id and passed in {@link RunnerEnvironment#SECRET}; a
 * wrong proof, an unknown or already connected id, or silence past the boot timeout closes the
 * connection. Then calls flow as frames carrying a call id, the function name and a {@link
 * PayloadCodec} payload; results and failures ({@link RemoteException} data) flow back; a cancel
 * frame interrupts the call's thread on the runner. The runner exits when its connection closes,
 * when asked to shut down, and when idle past its limit.
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
    this.server = new RemoteRunnerServer(builder.bindAddress, builder.port, builder.advertisedHost);
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
    return PayloadCodec.encode(argument);
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

    private Builder() {}

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
