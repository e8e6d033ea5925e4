package dev.shepherd.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * A real three-member {@code etcd} cluster (Debian package {@code etcd-server}) on free ports of
 * 127.0.0.1, for tests of what only a cluster shows: a member cut off from the others loses its
 * leader while its clients stay connected to it.
 *
 * <pre>{@code
 * @RegisterExtension static final EtcdCluster cluster = EtcdCluster.create();
 * Client client = Client.builder().endpoints(cluster.endpoint(0)).build();
 * cluster.stopMember(1); cluster.stopMember(2); // member 0 has no quorum, hence no leader
 * }</pre>
 *
 * <p>{@link #suspendMember(int)} freezes a member (SIGSTOP) with its connections open, so it
 * falls behind while the other two commit, and catches up after {@link #resumeMember(int)}.
 *
 * <p>Members use a 100 ms heartbeat and etcd's default 1 s election timeout. A stopped member keeps
 * its data; {@link #close()} stops every member and deletes the data.
 */
public final class EtcdCluster extends ServerFixture {

  private static final int MEMBERS = 3;

  private final Path binary;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
  private final int[] clientPorts = new int[MEMBERS];
  private final int[] peerPorts = new int[MEMBERS];
  private final @Nullable Process[] processes = new Process[MEMBERS];
  private final boolean[] suspended = new boolean[MEMBERS];
  private final List<List<String>> commands = new ArrayList<>();
  private @Nullable Path directory;

  private EtcdCluster(Path binary) {
    this.binary = binary;
  }

  /**
   * Returns a fixture for a three-member cluster, not yet started.
   *
   * @return the fixture
   * @throws IllegalStateException if etcd is not installed; the message says how to install it
   */
  public static EtcdCluster create() {
    return new EtcdCluster(ServerSupport.binary("etcd", "etcd-server", "/usr/bin", "/usr/local/bin"));
  }

  /**
   * Returns the client endpoint of one member, {@code http://127.0.0.1:<port>}.
   *
   * @param member 0, 1 or 2
   * @return the endpoint URL
   */
  public synchronized String endpoint(int member) {
    return "http://127.0.0.1:" + clientPorts[member];
  }

  /**
   * Stops one member (SIGTERM); its data stays.
   *
   * @param member 0, 1 or 2
   */
  public synchronized void stopMember(int member) {
    Process process = processes[member];
    if (process != null) {
      if (suspended[member]) {
        resumeMember(member); // a frozen process would not act on SIGTERM
      }
      ServerSupport.stop(process, Duration.ofSeconds(10));
      processes[member] = null;
    }
    suspended[member] = false;
  }

  /**
   * Freezes one member (SIGSTOP) until {@link #resumeMember(int)}: its process and sockets stay,
   * so clients and peers stay connected, but it reads and answers nothing. The other two members
   * keep a quorum and go on committing writes, which the frozen member applies only after it is
   * resumed: the way to make a member lag behind the cluster. Does nothing if it is not running.
   *
   * @param member 0, 1 or 2
   * @throws IllegalStateException if the signal could not be sent
   */
  public synchronized void suspendMember(int member) {
    Process process = processes[member];
    if (process != null && !suspended[member]) {
      signal(process, "STOP");
      suspended[member] = true;
    }
  }

  /**
   * Lets a member frozen by {@link #suspendMember(int)} run again (SIGCONT); it then reads what
   * its clients and peers sent meanwhile and catches up with the cluster. Does nothing if it is
   * not frozen.
   *
   * @param member 0, 1 or 2
   * @throws IllegalStateException if the signal could not be sent
   */
  public synchronized void resumeMember(int member) {
    Process process = processes[member];
    if (process != null && suspended[member]) {
      signal(process, "CONT");
    }
    suspended[member] = false;
  }

  private static void signal(Process process, String signal) {
    try {
      Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid()))
          .redirectErrorStream(true).start();
      if (!kill.waitFor(10, java.util.concurrent.TimeUnit.SECONDS) || kill.exitValue() != 0) {
        kill.destroyForcibly();
        throw new IllegalStateException("kill -" + signal + " " + process.pid() + " failed");
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot run kill -" + signal, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while sending SIG" + signal, e);
    }
  }

  /**
   * Starts a stopped member again on the same ports with its data; does not wait for it to have a
   * leader (poll {@link #healthy(int)}). Does nothing if it runs.
   *
   * @param member 0, 1 or 2
   */
  public synchronized void restartMember(int member) {
    if (processes[member] == null) {
      launch(member);
    }
  }

  /**
   * Returns whether a member answers {@code /health} with a leader.
   *
   * @param member 0, 1 or 2
   * @return true if the member is healthy
   */
  public boolean healthy(int member) {
    return EtcdServer.healthy(http, endpoint(member));
  }

  @Override
  protected synchronized void doStart() {
    Path home = ServerSupport.tempDirectory("shepherd-etcd-cluster-", Optional.empty());
    directory = home;
    for (int m = 0; m < MEMBERS; m++) {
      clientPorts[m] = ServerSupport.freePort();
      peerPorts[m] = ServerSupport.freePort();
    }
    List<String> initial = new ArrayList<>();
    for (int m = 0; m < MEMBERS; m++) {
      initial.add("m" + m + "=http://127.0.0.1:" + peerPorts[m]);
    }
    // every member must run before any has a leader: start all, then wait for each
    commands.clear();
    for (int m = 0; m < MEMBERS; m++) {
      String client = endpoint(m);
      String peer = "http://127.0.0.1:" + peerPorts[m];
      List<String> command = List.of(binary.toString(),
          "--name", "m" + m,
          "--data-dir", home.resolve("m" + m).toString(),
          "--listen-client-urls", client, "--advertise-client-urls", client,
          "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
          "--initial-cluster", String.join(",", initial),
          "--initial-cluster-state", "new",
          "--heartbeat-interval", "100", "--election-timeout", "1000",
          "--logger", "zap", "--log-level", "warn");
      commands.add(command);
      launch(m);
    }
    for (int m = 0; m < MEMBERS; m++) {
      int member = m;
      Process process = processes[m];
      try {
        ServerSupport.await("etcd member m" + m + " on " + endpoint(m), Duration.ofSeconds(60),
            () -> process == null || !process.isAlive() || healthy(member));
      } catch (IllegalStateException e) {
        throw new IllegalStateException(e.getMessage() + "; log:\n" + ServerSupport.tail(home.resolve("m" + m + ".log")), e);
      }
      if (process == null || !process.isAlive()) {
        throw new IllegalStateException("etcd member m" + m + " exited at start; log:\n"
            + ServerSupport.tail(home.resolve("m" + m + ".log")));
      }
    }
  }

  private void launch(int member) {
    Path home = directory;
    if (home == null) {
      throw new IllegalStateException("the etcd cluster is not started");
    }
    Path log = home.resolve("m" + member + ".log");
    try {
      processes[member] = new ProcessBuilder(commands.get(member)).redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start " + binary, e);
    }
  }

  @Override
  protected synchronized void doClose() {
    for (int m = 0; m < MEMBERS; m++) {
      stopMember(m);
    }
    if (directory != null) {
      ServerSupport.deleteRecursively(directory);
      directory = null;
    }
  }
}
