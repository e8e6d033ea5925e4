package dev.shepherd.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * A real {@code redis-server} (Debian package {@code redis-server}) on a free port of 127.0.0.1, with
 * no persistence, in its own temporary directory.
 *
 * <pre>{@code
 * @RegisterExtension static final RedisServer redis = RedisServer.create();
 * RedisClient client = RedisClient.create(redis.uri());
 * }</pre>
 *
 * <p>{@link #stop()} and {@link #restart()} take the server down and bring it back on the same port,
 * for fault tests; data does not survive a stop.
 */
public final class RedisServer extends ServerFixture {

  private final Path binary;
  private int port;
  private @Nullable Path directory;
  private @Nullable Process process;

  private RedisServer(Path binary) {
    this.binary = binary;
  }

  /**
   * Returns a fixture for {@code redis-server}, not yet started.
   *
   * @return the fixture
   * @throws IllegalStateException if redis-server is not installed; the message says how to install it
   */
  public static RedisServer create() {
    return new RedisServer(ServerSupport.binary("redis-server", "redis-server", "/usr/bin", "/usr/sbin"));
  }

  /**
   * Returns the port the server listens on.
   *
   * @return the port on 127.0.0.1
   */
  public synchronized int port() {
    return port;
  }

  /**
   * Returns the Lettuce/Jedis URI of the server, {@code redis://127.0.0.1:<port>}.
   *
   * @return the URI
   */
  public String uri() {
    return "redis://127.0.0.1:" + port();
  }

  /**
   * Returns the server's temporary directory (deleted on close).
   *
   * @return the directory
   * @throws IllegalStateException if not started
   */
  public synchronized Path directory() {
    if (directory == null) {
      throw new IllegalStateException("redis-server is not started");
    }
    return directory;
  }

  /**
   * Sends {@code PING} over a raw socket and returns the reply line, e.g. {@code +PONG}.
   *
   * @return the reply line
   * @throws UncheckedIOException if the server does not answer
   */
  public String ping() {
    return command("PING");
  }

  /** Stops the server (SIGTERM, no save); connections fail until {@link #restart()}. */
  public synchronized void stop() {
    Process running = process;
    if (running != null) {
      ServerSupport.stop(running, Duration.ofSeconds(10));
      process = null;
    }
  }

  /** Starts the server again on the same port after {@link #stop()}; the data is gone. */
  public synchronized void restart() {
    stop();
    launch();
  }

  @Override
  protected synchronized void doStart() {
    directory = ServerSupport.tempDirectory("shepherd-redis-", Optional.empty());
    IllegalStateException last = null;
    for (int attempt = 0; attempt < 3; attempt++) {
      port = ServerSupport.freePort();
      try {
        launch();
        return;
      } catch (IllegalStateException e) {
        last = e; // most likely the port was taken between freePort() and bind: try another
      }
    }
    throw last;
  }

  private void launch() {
    Path dir = directory();
    Path log = dir.resolve("redis.log");
    try {
      process = new ProcessBuilder(List.of(binary.toString(),
          "--port", Integer.toString(port), "--bind", "127.0.0.1", "--dir", dir.toString(),
          "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes"))
          .redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
          .start();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start " + binary, e);
    }
    Process started = process;
    try {
      ServerSupport.await("redis-server on 127.0.0.1:" + port, Duration.ofSeconds(20),
          () -> !started.isAlive() || ServerSupport.isListening(port));
    } catch (IllegalStateException e) {
      throw new IllegalStateException(e.getMessage() + "; log:\n" + ServerSupport.tail(log), e);
    }
    if (!started.isAlive()) {
      process = null;
      throw new IllegalStateException("redis-server exited at start on port " + port + "; log:\n" + ServerSupport.tail(log));
    }
  }

  @Override
  protected synchronized void doClose() {
    stop();
    if (directory != null) {
      ServerSupport.deleteRecursively(directory);
    }
  }

  private String command(String name) {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(ServerSupport.LOOPBACK, port()), 2_000);
      socket.setSoTimeout(5_000);
      OutputStream out = socket.getOutputStream();
      out.write(("*1\r\n$" + name.length() + "\r\n" + name + "\r\n").getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = socket.getInputStream();
      StringBuilder line = new StringBuilder();
      for (int c = in.read(); c != -1 && c != '\r'; c = in.read()) {
        line.append((char) c);
      }
      return line.toString();
    } catch (IOException e) {
      throw new UncheckedIOException("redis-server on port " + port() + " did not answer " + name, e);
    }
  }
}
