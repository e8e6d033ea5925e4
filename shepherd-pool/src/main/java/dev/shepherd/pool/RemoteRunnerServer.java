package dev.shepherd.pool;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import org.jspecify.annotations.Nullable;

/** The parent side of the remote protocol: accepts runners, checks their proof, runs calls. */
final class RemoteRunnerServer implements AutoCloseable {

  private final ServerSocket serverSocket;
  private final String advertisedAddress;

  RemoteRunnerServer(InetAddress bindAddress, int port, @Nullable String advertisedHost)
      throws IOException {
    this.serverSocket = new ServerSocket(port, 128, bindAddress);
    String host = advertisedHost != null ? advertisedHost : bindAddress.getHostAddress();
    this.advertisedAddress = host + ":" + serverSocket.getLocalPort();
  }

  InetSocketAddress address() {
    return (InetSocketAddress) serverSocket.getLocalSocketAddress();
  }

  String advertisedAddress() {
    return advertisedAddress;
  }

  RunnerHandle boot(
      RunnerSpec spec, RunnerListener listener, RunnerLauncher launcher, String functionsClass)
      throws Exception {
    throw new UnsupportedOperationException("not yet");
  }

  @Override
  public void close() {
    try {
      serverSocket.close();
    } catch (IOException e) {
      // closing; nothing to do
    }
  }
}
