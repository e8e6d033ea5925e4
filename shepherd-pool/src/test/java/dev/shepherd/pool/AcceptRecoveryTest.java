package dev.shepherd.pool;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * A failed {@code accept} (out of file descriptors, as a busy parent can be for a moment) must
 * not stop the runner server for good: every later boot would wait out its boot timeout.
 */
class AcceptRecoveryTest {

  @Test
  void aConnectionWaitingWhileAcceptFailsIsAcceptedWhenItWorksAgain() throws Exception {
    AtomicInteger failuresLeft = new AtomicInteger(3);
    RemoteRunnerServer.Options options =
        new RemoteRunnerServer.Options(
            InetAddress.getLoopbackAddress(), 0, null, Duration.ofSeconds(5), 64, 4096,
            CodecLimits.defaults(), Duration.ofSeconds(30), null);
    try (RemoteRunnerServer server =
            new RemoteRunnerServer(
                options,
                listening -> {
                  if (failuresLeft.getAndDecrement() > 0) {
                    throw new IOException("Too many open files");
                  }
                  return listening.accept();
                });
        Socket runner = new Socket()) {
      runner.connect(server.address(), 5_000);
      runner.setSoTimeout(30_000);
      // A first frame that is not a KNOCK: only a server that accepted the connection reads it
      // and hangs up; one that stopped accepting leaves it in the backlog and the read times out.
      DataOutputStream out = new DataOutputStream(runner.getOutputStream());
      out.writeInt(1);
      out.writeByte(99);
      out.flush();

      int read = runner.getInputStream().read();

      assertThat(read).isEqualTo(-1);
      assertThat(failuresLeft.get()).isNegative(); // all three failures were met
    }
  }
}
