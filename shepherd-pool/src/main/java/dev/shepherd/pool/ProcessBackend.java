package dev.shepherd.pool;

import dev.shepherd.pool.spi.Backend;
import dev.shepherd.pool.spi.ForwardingBackend;
import dev.shepherd.core.internal.Require;
import java.net.InetAddress;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * A {@link Backend} whose runners are child JVMs started from the same {@code java} binary and
 * classpath as this one, running {@link RunnerMain}. A child connects back to this JVM, proves the
 * random per-runner secret it was given in its environment, and runs functions of the registry
 * built by the {@link FunctionRegistryFactory} class named here; arguments and results go through
 * the pool's codec (never Java serialization).
 *
 * <p>Children connect over a Unix domain socket by default ({@link Transport#UNIX_DOMAIN_SOCKET}):
 * the socket lives in a directory created for this backend that only this user can enter, so
 * another local user can neither connect to it nor fill its backlog, where a TCP port on
 * 127.0.0.1 is open to every local user (they cannot pass the handshake without a runner's
 * secret, but they can knock). {@link Transport#TCP_LOOPBACK} listens on 127.0.0.1 instead.
 *
 * <p>A child exits by itself when its parent is gone (its connection closes, or the parent
 * process id dies: after {@code kill -9} of the parent, children are gone within about a
 * second), when idle past its backstop limit, and when the pool retires it; one that does not
 * connect within the boot timeout is killed. Its stdout and stderr reach this JVM's {@link
 * System.Logger} ({@code dev.shepherd.pool.ProcessBackend}), each line tagged with the runner id.
 *
 * <p>Boot time is dominated by JVM start-up; by default children start with class-data sharing
 * (an archive created on first use in this user's owner-only directory {@code
 * shepherd-pool-cds-<user>} under {@code java.io.tmpdir}, not used if anyone else could write it),
 * C1 only and the serial GC, which suits short-lived workers; {@link Builder#jvmOptions} replaces
 * these. Thread-safe.
 */
public final class ProcessBackend extends ForwardingBackend {

  private final RemoteBackend remote;

  private ProcessBackend(RemoteBackend remote) {
    super(remote);
    this.remote = remote;
  }

  /**
   * Returns a builder of a process backend.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  @Override
  public String toString() {
    return "ProcessBackend[" + remote.advertisedAddress() + "]";
  }

  /**
   * Builds a {@link ProcessBackend}: the shared options of every remote backend ({@link
   * RemoteBackendBuilder}: functions, channel bounds) plus how to start the child JVMs. The
   * server listens on a Unix domain socket only this user can reach, or on 127.0.0.1 only
   * ({@link #transport}). Not thread-safe.
   */
  public static final class Builder extends RemoteBackendBuilder<Builder> {
    private @Nullable Transport transport;
    private @Nullable Path socketDirectory;
    private @Nullable List<String> jvmOptions;
    private @Nullable String classpath;
    private @Nullable Path javaExecutable;

    private Builder() {}

    @Override
    protected Builder self() {
      return this;
    }

    /**
     * Sets how children reach this JVM. Default {@link Transport#UNIX_DOMAIN_SOCKET}, unless
     * {@link #bindAddress}, {@link #port} or {@link #advertisedHost} is set, which choose {@link
     * Transport#TCP_LOOPBACK}.
     *
     * @param transport the transport
     * @return this builder
     * @throws NullPointerException if null
     */
    public Builder transport(Transport transport) {
      this.transport = Require.nonNull(transport, "transport");
      return this;
    }

    /**
     * Sets the directory in which the backend creates its own owner-only directory for the Unix
     * domain socket ({@link Transport#UNIX_DOMAIN_SOCKET} only). Default: {@code java.io.tmpdir}.
     * The socket's whole path must fit in 103 bytes (a limit of Unix domain sockets), so a deep
     * temporary directory may need a shorter one here.
     *
     * @param directory an existing directory
     * @return this builder
     * @throws NullPointerException if null
     */
    public Builder socketDirectory(Path directory) {
      this.socketDirectory = Require.nonNull(directory, "socketDirectory");
      return this;
    }

    /**
     * Replaces the children's JVM options. Default: {@link #defaultJvmOptions()}.
     *
     * @param options the options, for example {@code List.of("-Xmx256m")}
     * @return this builder
     * @throws NullPointerException if null or containing null
     */
    public Builder jvmOptions(List<String> options) {
      this.jvmOptions = List.copyOf(options);
      return this;
    }

    /**
     * Sets the children's classpath. Default: this JVM's {@code java.class.path}.
     *
     * @param classpath the classpath
     * @return this builder
     * @throws NullPointerException if null
     */
    public Builder classpath(String classpath) {
      this.classpath = Require.nonNull(classpath, "classpath");
      return this;
    }

    /**
     * Sets the {@code java} binary. Default: the one running this JVM.
     *
     * @param javaExecutable the path of the binary
     * @return this builder
     * @throws NullPointerException if null
     */
    public Builder javaExecutable(Path javaExecutable) {
      this.javaExecutable = Require.nonNull(javaExecutable, "javaExecutable");
      return this;
    }

    /**
     * Returns the default JVM options of children on this JVM's classpath: C1 only, the serial
     * GC, no perf data file, and class-data sharing: the JDK's archive always, plus an archive of
     * the application's classes (created by the first child in this user's owner-only directory
     * {@code shepherd-pool-cds-<user>} under {@code java.io.tmpdir}) when the classpath holds only
     * jar files. A child trusts that archive's class data, so it is left out (with one warning)
     * when that directory is a link, belongs to another user or is writable by others.
     *
     * @return the options
     */
    public static List<String> defaultJvmOptions() {
      return ProcessLauncher.defaultJvmOptions();
    }

    /**
     * Builds the backend and starts its server (a Unix domain socket, or TCP on loopback).
     *
     * @return the backend
     * @throws NullPointerException if the functions class was not set
     * @throws IllegalArgumentException if the functions class cannot be instantiated, or the
     *     bind address is not a loopback address (children run on this host)
     * @throws IllegalStateException if a TCP option ({@link #bindAddress}, {@link #port}, {@link
     *     #advertisedHost}) is set with {@link Transport#UNIX_DOMAIN_SOCKET}, or {@link
     *     #socketDirectory} with {@link Transport#TCP_LOOPBACK}
     * @throws java.io.UncheckedIOException if the server cannot listen (for a Unix domain
     *     socket: the directory is missing or not writable, or the path is too long)
     */
    public ProcessBackend build() {
      InetAddress bind = bindAddress();
      Require.argument(
          bind == null || bind.isLoopbackAddress(),
          "a process backend's children run on this host: bindAddress must be a loopback address,"
              + " was " + bind);
      Transport chosen =
          transport != null
              ? transport
              : tcpOptionSet() ? Transport.TCP_LOOPBACK : Transport.UNIX_DOMAIN_SOCKET;
      Require.state(
          chosen == Transport.TCP_LOOPBACK || !tcpOptionSet(),
          "bindAddress, port and advertisedHost apply to Transport.TCP_LOOPBACK, not "
              + "Transport.UNIX_DOMAIN_SOCKET");
      Require.state(
          chosen == Transport.UNIX_DOMAIN_SOCKET || socketDirectory == null,
          "socketDirectory applies to Transport.UNIX_DOMAIN_SOCKET, not Transport.TCP_LOOPBACK");
      Path directory =
          chosen == Transport.TCP_LOOPBACK
              ? null
              : socketDirectory != null
                  ? socketDirectory
                  : Paths.get(System.getProperty("java.io.tmpdir", "/tmp"));
      String cp = classpath != null ? classpath : System.getProperty("java.class.path", "");
      List<String> options =
          jvmOptions != null ? jvmOptions : ProcessLauncher.defaultJvmOptions(cp);
      Path java =
          javaExecutable != null
              ? javaExecutable
              : Path.of(System.getProperty("java.home"), "bin", "java");
      ProcessLauncher launcher = new ProcessLauncher(java, new ArrayList<>(options), cp);
      return new ProcessBackend(
          buildRemote(launcher, InetAddress.getLoopbackAddress(), null, directory));
    }
  }

  /** How a process backend's children connect back to it. */
  public enum Transport {
    /**
     * A Unix domain socket in a directory of the backend's own that only this user can enter
     * (deleted when the backend closes); no other local user can connect.
     */
    UNIX_DOMAIN_SOCKET,
    /** TCP on 127.0.0.1 (or the loopback {@link Builder#bindAddress} set): any local user can connect. */
    TCP_LOOPBACK
  }
}
