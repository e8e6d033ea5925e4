package dev.shepherd.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * How a process backend's children reach it: a Unix domain socket in an owner-only directory by
 * default, TCP on loopback when chosen; and the runner's own deadline while it connects, now
 * that its connection is a socket channel without read timeouts.
 */
class UnixSocketTransportTest {

  private static final Duration LONG = Duration.ofSeconds(60);

  @Test
  void childrenConnectThroughAUnixSocketInADirectoryOnlyThisUserCanEnter() throws Exception {
    ProcessBackend backend = ProcessBackend.builder().functions(TestFunctions.class).build();
    Path socket = unixPathOf(backend);
    Path home = socket.getParent();
    try (ElasticPool pool = ElasticPool.builder().name("uds").backend(backend).build()) {
      assertThat(Files.getPosixFilePermissions(home))
          .containsExactlyInAnyOrderElementsOf(
              EnumSet.of(
                  PosixFilePermission.OWNER_READ,
                  PosixFilePermission.OWNER_WRITE,
                  PosixFilePermission.OWNER_EXECUTE));
      assertThat(Files.getOwner(home).getName()).isEqualTo(System.getProperty("user.name"));
      assertThat(pool.call("square", 7L, LONG)).isEqualTo(49L);
      assertThat(pool.call("pid", null, LONG)).isNotEqualTo(ProcessHandle.current().pid());
    }
    assertThat(home).doesNotExist();
  }

  /** A parent killed with kill -9 cannot delete its socket's directory; the next one does. */
  @Test
  void directoriesLeftByParentsThatAreGoneAreDeletedByTheNextBackend(@TempDir Path temp)
      throws Exception {
    Process gone = new ProcessBuilder("true").start();
    gone.waitFor();
    Path stale = Files.createDirectory(
        temp.resolve(RemoteRunnerServer.SOCKET_HOME_PREFIX + gone.pid() + "-123"));
    Files.writeString(stale.resolve(RemoteRunnerServer.SOCKET_NAME), "left by a killed parent");
    Path live = Files.createDirectory(
        temp.resolve(RemoteRunnerServer.SOCKET_HOME_PREFIX + ProcessHandle.current().pid() + "-456"));
    Path other = Files.createDirectory(temp.resolve("shepherd-runners-notapid"));
    try (ProcessBackend backend =
        ProcessBackend.builder().functions(TestFunctions.class).socketDirectory(temp).build()) {
      assertThat(unixPathOf(backend).getParent().getParent()).isEqualTo(temp);
      assertThat(stale).doesNotExist();
      assertThat(live).exists();
      assertThat(other).exists();
    }
  }

  @Test
  void tcpLoopbackServesWhenChosen() throws Exception {
    ProcessBackend backend =
        ProcessBackend.builder()
            .functions(TestFunctions.class)
            .transport(ProcessBackend.Transport.TCP_LOOPBACK)
            .build();
    try (ElasticPool pool = ElasticPool.builder().name("tcp").backend(backend).build()) {
      assertThat(backend.toString()).contains("127.0.0.1:");
      assertThat(pool.call("square", 8L, LONG)).isEqualTo(64L);
    }
  }

  @Test
  void aTcpOptionAloneChoosesTcpAndContradictionsAreNamed() {
    try (ProcessBackend tcp =
        ProcessBackend.builder()
            .functions(TestFunctions.class)
            .bindAddress(InetAddress.getLoopbackAddress())
            .build()) {
      assertThat(tcp.toString()).contains("127.0.0.1:");
    }
    assertThatThrownBy(
            () ->
                ProcessBackend.builder()
                    .functions(TestFunctions.class)
                    .transport(ProcessBackend.Transport.UNIX_DOMAIN_SOCKET)
                    .port(0)
                    .advertisedHost("localhost")
                    .build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("apply to Transport.TCP_LOOPBACK");
    assertThatThrownBy(
            () ->
                ProcessBackend.builder()
                    .functions(TestFunctions.class)
                    .transport(ProcessBackend.Transport.TCP_LOOPBACK)
                    .socketDirectory(Path.of("/tmp"))
                    .build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("socketDirectory applies to Transport.UNIX_DOMAIN_SOCKET");
  }

  @Test
  void aSocketDirectoryTooDeepForAUnixSocketIsNamed(@TempDir Path temp) throws Exception {
    Path deep = Files.createDirectories(temp.resolve("d".repeat(60)).resolve("e".repeat(60)));
    assertThatThrownBy(
            () -> ProcessBackend.builder().functions(TestFunctions.class).socketDirectory(deep).build())
        .isInstanceOf(UncheckedIOException.class)
        .hasMessageContaining("choose a shorter socketDirectory");
    try (var left = Files.list(deep)) {
      assertThat(left).as("nothing left behind").isEmpty();
    }
  }

  @Test
  void aMissingSocketDirectoryIsNamed(@TempDir Path temp) {
    Path missing = temp.resolve("missing");
    assertThatThrownBy(
            () -> ProcessBackend.builder().functions(TestFunctions.class).socketDirectory(missing).build())
        .isInstanceOf(UncheckedIOException.class)
        .hasMessageContaining("cannot listen on a Unix domain socket under " + missing);
  }

  @Test
  void theParentAddressIsParsedOrNamedAsWrong() {
    assertThat(RemoteRunner.parentAddress("unix:/run/x/socket"))
        .isEqualTo(UnixDomainSocketAddress.of("/run/x/socket"));
    assertThat(RemoteRunner.parentAddress("127.0.0.1:4000"))
        .isEqualTo(new InetSocketAddress("127.0.0.1", 4000));
    assertThatThrownBy(() -> RemoteRunner.parentAddress("unix:"))
        .hasMessageContaining("no path after unix:");
    assertThatThrownBy(() -> RemoteRunner.parentAddress("host:http"))
        .hasMessageContaining("the port is not a number");
    assertThatThrownBy(() -> RemoteRunner.parentAddress("host:70000"))
        .hasMessageContaining("not from 1 to 65535");
    assertThatThrownBy(() -> RemoteRunner.parentAddress("nohost"))
        .hasMessageContaining("host:port or unix:<path>");
  }

  /**
   * A listener that accepts and then says nothing (a hung parent, or something else listening
   * where the parent was): before, the runner's reads had a socket timeout; on a socket channel
   * only its deadline thread ends the wait, for both transports.
   */
  @Test
  @Timeout(60)
  void aRunnerWhoseParentNeverAnswersGivesUpAtItsDeadline(@TempDir Path temp) throws Exception {
    Path path = temp.resolve("silent");
    try (ServerSocketChannel unix = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        ServerSocketChannel tcp = ServerSocketChannel.open()) {
      unix.bind(UnixDomainSocketAddress.of(path));
      tcp.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
      int port = ((InetSocketAddress) tcp.getLocalAddress()).getPort();
      List<SocketChannel> held = new ArrayList<>();
      Thread acceptUnix = holdEvery(unix, held);
      Thread acceptTcp = holdEvery(tcp, held);
      ByteArrayOutputStream err = new ByteArrayOutputStream();
      PrintStream before = System.err;
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      CompletableFuture<Integer> overUnix;
      CompletableFuture<Integer> overTcp;
      try {
        overUnix = runRunner("unix:" + path, "silent-unix");
        overTcp = runRunner("127.0.0.1:" + port, "silent-tcp");
        assertThat(overUnix.get()).isEqualTo(3);
        assertThat(overTcp.get()).isEqualTo(3);
      } finally {
        System.setErr(before);
      }
      String said = err.toString(StandardCharsets.UTF_8);
      assertThat(said)
          .contains("shepherd runner silent-unix: cannot reach parent unix:" + path)
          .contains("shepherd runner silent-tcp: cannot reach parent 127.0.0.1:" + port)
          .contains("(the last timed out");
      assertThat(said.split("the last timed out", -1)).hasSize(3);
      acceptUnix.interrupt();
      acceptTcp.interrupt();
      synchronized (held) {
        assertThat(held).as("each runner connected once and stayed until its deadline").hasSize(2);
        for (SocketChannel c : held) {
          c.close();
        }
      }
    }
  }

  private static Thread holdEvery(ServerSocketChannel server, List<SocketChannel> held) {
    return Thread.ofPlatform()
        .daemon()
        .start(
            () -> {
              try {
                while (true) {
                  SocketChannel accepted = server.accept();
                  synchronized (held) {
                    held.add(accepted);
                  }
                }
              } catch (java.io.IOException e) {
                // closed at the end of the test
              }
            });
  }

  private static CompletableFuture<Integer> runRunner(String parent, String id) {
    CompletableFuture<Integer> status = new CompletableFuture<>();
    Map<String, String> env =
        Map.of(
            RunnerEnvironment.PARENT, parent,
            RunnerEnvironment.RUNNER_ID, id,
            RunnerEnvironment.SECRET, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            RunnerEnvironment.FUNCTIONS, TestFunctions.class.getName());
    Thread.ofPlatform().daemon().start(() -> status.complete(RemoteRunner.run(env)));
    return status;
  }

  private static Path unixPathOf(ProcessBackend backend) {
    String text = backend.toString();
    int at = text.indexOf("unix:");
    assertThat(at).as("%s listens on a Unix domain socket", text).isNotNegative();
    SocketAddress address = RemoteRunner.parentAddress(text.substring(at, text.length() - 1));
    return ((UnixDomainSocketAddress) address).getPath();
  }
}
