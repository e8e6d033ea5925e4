package dev.shepherd.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class FaultProxyTest {

  private ServerSocket echo;
  private FaultProxy proxy;

  @BeforeEach
  void startEchoServer() throws IOException {
    echo = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread.ofVirtual().start(() -> {
      while (!echo.isClosed()) {
        try {
          Socket s = echo.accept();
          Thread.ofVirtual().start(() -> {
            try (s; InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
              in.transferTo(out);
            } catch (IOException ignored) {
              // client went away
            }
          });
        } catch (IOException e) {
          return;
        }
      }
    });
    proxy = FaultProxy.to(echo.getLocalPort());
  }

  @AfterEach
  void stop() throws IOException {
    proxy.close();
    echo.close();
  }

  private Socket connect() throws IOException {
    Socket socket = new Socket(proxy.host(), proxy.port());
    socket.setSoTimeout(5_000);
    return socket;
  }

  private static String roundTrip(Socket socket, String text) throws IOException {
    byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
    socket.getOutputStream().write(bytes);
    socket.getOutputStream().flush();
    return new String(socket.getInputStream().readNBytes(bytes.length), StandardCharsets.UTF_8);
  }

  @Test
  void forwardsBothWays() throws IOException {
    try (Socket socket = connect()) {
      assertThat(roundTrip(socket, "hello")).isEqualTo("hello");
      assertThat(proxy.openConnections()).isEqualTo(1);
    }
    await().untilAsserted(() -> assertThat(proxy.openConnections()).isZero());
  }

  @Test
  void stoppedProxyHoldsBytesUntilRestored() throws IOException {
    try (Socket socket = connect()) {
      assertThat(roundTrip(socket, "a")).isEqualTo("a");
      proxy.stopForwarding();
      socket.setSoTimeout(300);
      socket.getOutputStream().write('b');
      assertThatThrownBy(() -> socket.getInputStream().read())
          .isInstanceOf(SocketTimeoutException.class);
      proxy.restore();
      socket.setSoTimeout(5_000);
      assertThat(socket.getInputStream().read()).isEqualTo('b');
    }
  }

  @Test
  void cutConnectionsResetsOpenOnesAndAcceptsNewOnes() throws IOException {
    try (Socket socket = connect()) {
      assertThat(roundTrip(socket, "x")).isEqualTo("x");
      proxy.cutConnections();
      assertThatThrownBy(() -> {
        socket.getOutputStream().write('y');
        if (socket.getInputStream().read() < 0) {
          throw new IOException("end of stream");
        }
      }).isInstanceOf(IOException.class);
    }
    try (Socket again = connect()) {
      assertThat(roundTrip(again, "z")).isEqualTo("z");
    }
  }

  @Test
  void refusedConnectionsAreClosedAtOnce() throws IOException {
    proxy.refuseConnections();
    try (Socket socket = connect()) {
      assertThatThrownBy(() -> {
        socket.getOutputStream().write('q');
        if (socket.getInputStream().read() < 0) {
          throw new IOException("end of stream");
        }
      }).isInstanceOf(IOException.class);
    }
    proxy.restore();
    try (Socket socket = connect()) {
      assertThat(roundTrip(socket, "ok")).isEqualTo("ok");
    }
  }

  @Test
  void delayHoldsEveryChunk() throws IOException {
    proxy.delay(Duration.ofMillis(200));
    try (Socket socket = connect()) {
      socket.setSoTimeout(100);
      socket.getOutputStream().write('d');
      // not there within 100 ms: the chunk waits 200 ms on the way in and 200 ms on the way back
      assertThatThrownBy(() -> socket.getInputStream().read())
          .isInstanceOf(SocketTimeoutException.class);
      socket.setSoTimeout(5_000);
      assertThat(socket.getInputStream().read()).isEqualTo('d');
    }
  }

  @Test
  void rejectsBadArguments() {
    assertThatThrownBy(() -> FaultProxy.to(0)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("port");
    assertThatThrownBy(() -> proxy.delay(Duration.ofMillis(-1)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("delay");
  }
}
