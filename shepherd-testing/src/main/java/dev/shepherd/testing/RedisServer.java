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
public final class RedisServer extends ProcessServer {

  private int port;

  private RedisServer(Path binary) {
    super("redis-server", binary, Duration.ofSeconds(20));
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
  public Path directory() {
    return home();
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

  @Override
  synchronized void choosePorts() {
    port = ServerSupport.freePort();
  }

  @Override
  synchronized List<String> command(Path binary, Path directory) {
    // No persistence: a stop (SIGTERM, no save) loses the data.
    return List.of(binary.toString(),
        "--port", Integer.toString(port), "--bind", "127.0.0.1", "--dir", directory.toString(),
        "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes");
  }

  @Override
  synchronized String address() {
    return "127.0.0.1:" + port;
  }

  @Override
  boolean ready() {
    return ServerSupport.isListening(port());
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
