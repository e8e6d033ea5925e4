package dev.shepherd.pool;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.DataInputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * A failed {@code accept} (out of file descriptors, as a busy parent can be for a moment) must
 * not stop the runner server for good: every later boot would wait out its boot timeout.
 */
class AcceptRecoveryTest {

  /** A real listening socket whose first accepts fail as they do when no descriptor is free. */
  private static final class ExhaustedServerSocket extends ServerSocket {
    final AtomicInteger failuresLeft;

    ExhaustedServerSocket(int failures) throws IOException {
      super(0, 128, InetAddress.getLoopbackAddress());
      this.failuresLeft = new AtomicInteger(failures);
    }

    @Override
    public Socket accept() throws IOException {
      if (failuresLeft.getAndDecrement() > 0) {
        throw new IOException("Too many open files");
      }
      return super.accept();
    }
  }

  @Test
  void aConnectionWaitingWhileAcceptFailsIsAcceptedWhenItWorksAgain() throws Exception {
    ExhaustedServerSocket listening = new ExhaustedServerSocket(3);
    RemoteRunnerServer.Options options =
        new RemoteRunnerServer.Options(
            InetAddress.getLoopbackAddress(), 0, null, Duration.ofSeconds(5), 64, 4096,
            CodecLimits.defaults(), Duration.ofSeconds(30));
    try (RemoteRunnerServer server = new RemoteRunnerServer(options, listening);
        Socket runner = new Socket()) {
      runner.connect(server.address(), 5_000);
      runner.setSoTimeout(30_000);

      int challengeLength = new DataInputStream(runner.getInputStream()).readInt();

      assertThat(challengeLength).isPositive(); // the handshake's first frame
      assertThat(listening.failuresLeft.get()).isNegative(); // all three failures were met
    }
  }
}
