package dev.shepherd.testing;

import com.fasterxml.jackson.jr.ob.JSON;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * A real single-member {@code etcd} (Debian package {@code etcd-server}) on free ports of 127.0.0.1,
 * with its data in a temporary directory.
 *
 * <pre>{@code
 * @RegisterExtension static final EtcdServer etcd = EtcdServer.create();
 * Client client = Client.builder().endpoints(etcd.endpoint()).build();
 * }</pre>
 *
 * <p>{@link #stop()} and {@link #restart()} keep the data (a server restart); {@link #wipe()} deletes
 * it while stopped, so the next start begins at revision 1 (an index reset).
 */
public final class EtcdServer extends ServerFixture {

  private final Path binary;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
  private int clientPort;
  private int peerPort;
  private @Nullable Path directory;
  private @Nullable Process process;

  private EtcdServer(Path binary) {
    this.binary = binary;
  }

  /**
   * Returns a fixture for {@code etcd}, not yet started.
   *
   * @return the fixture
   * @throws IllegalStateException if etcd is not installed; the message says how to install it
   */
  public static EtcdServer create() {
    return new EtcdServer(ServerSupport.binary("etcd", "etcd-server", "/usr/bin", "/usr/local/bin"));
  }

  /**
   * Returns the client endpoint, {@code http://127.0.0.1:<port>}.
   *
   * @return the endpoint URL
   */
  public synchronized String endpoint() {
    return "http://127.0.0.1:" + clientPort;
  }

  /**
   * Returns the client port.
   *
   * @return the port on 127.0.0.1
   */
  public synchronized int port() {
    return clientPort;
  }

  /**
   * Returns the data directory (deleted on close).
   *
   * @return the directory
   * @throws IllegalStateException if not started
   */
  public synchronized Path dataDirectory() {
    if (directory == null) {
      throw new IllegalStateException("etcd is not started");
    }
    return directory.resolve("data");
  }

  /** Stops the server (SIGTERM); the data stays for {@link #restart()}. */
  public synchronized void stop() {
    Process running = process;
    if (running != null) {
      ServerSupport.stop(running, Duration.ofSeconds(10));
      process = null;
    }
  }

  /** Starts the server again on the same ports, with the data it had. */
  public synchronized void restart() {
    stop();
    launch();
  }

  /**
   * Deletes all data; the server must be stopped. The next {@link #restart()} starts empty, at
   * revision 1.
   *
   * @throws IllegalStateException if the server is running
   */
  public synchronized void wipe() {
    if (process != null) {
      throw new IllegalStateException("stop etcd before wiping its data");
    }
    ServerSupport.deleteRecursively(dataDirectory());
  }

  /**
   * Puts a key through etcd's JSON gateway ({@code /v3/kv/put}); for tests that need no client.
   *
   * @param key the key
   * @param value the value
   */
  public void put(String key, String value) {
    post("/v3/kv/put", "{\"key\":\"" + b64(key) + "\",\"value\":\"" + b64(value) + "\"}");
  }

  /**
   * Reads a key through etcd's JSON gateway ({@code /v3/kv/range}).
   *
   * @param key the key
   * @return the value, or empty if absent
   */
  public Optional<String> get(String key) {
    String body = post("/v3/kv/range", "{\"key\":\"" + b64(key) + "\"}");
    Map<String, Object> range;
    try {
      range = JSON.std.mapFrom(body);
    } catch (IOException e) {
      throw new IllegalStateException("etcd answered /v3/kv/range with malformed JSON: " + body, e);
    }
    if (!(range.get("kvs") instanceof List<?> kvs) || kvs.isEmpty()
        || !(kvs.get(0) instanceof Map<?, ?> kv)) {
      return Optional.empty();
    }
    Object value = kv.get("value");
    return Optional.of(value instanceof String text
        ? new String(Base64.getDecoder().decode(text), StandardCharsets.UTF_8) : "");
  }

  @Override
  protected synchronized void doStart() {
    directory = ServerSupport.tempDirectory("shepherd-etcd-", Optional.empty());
    IllegalStateException last = null;
    for (int attempt = 0; attempt < 3; attempt++) {
      clientPort = ServerSupport.freePort();
      peerPort = ServerSupport.freePort();
      try {
        launch();
        return;
      } catch (IllegalStateException e) {
        last = e;
        stop();
        ServerSupport.deleteRecursively(dataDirectory());
      }
    }
    throw last;
  }

  private void launch() {
    Path dir = Optional.ofNullable(directory).orElseThrow();
    Path log = dir.resolve("etcd.log");
    String client = "http://127.0.0.1:" + clientPort;
    String peer = "http://127.0.0.1:" + peerPort;
    try {
      process = new ProcessBuilder(List.of(binary.toString(),
          "--name", "shepherd",
          "--data-dir", dir.resolve("data").toString(),
          "--listen-client-urls", client, "--advertise-client-urls", client,
          "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
          "--initial-cluster", "shepherd=" + peer,
          "--initial-cluster-state", "new",
          "--logger", "zap", "--log-level", "warn"))
          .redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
          .start();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start " + binary, e);
    }
    Process started = process;
    try {
      ServerSupport.await("etcd on " + client, Duration.ofSeconds(30),
          () -> !started.isAlive() || healthy());
    } catch (IllegalStateException e) {
      throw new IllegalStateException(e.getMessage() + "; log:\n" + ServerSupport.tail(log), e);
    }
    if (!started.isAlive()) {
      process = null;
      throw new IllegalStateException("etcd exited at start on " + client + "; log:\n" + ServerSupport.tail(log));
    }
  }

  private boolean healthy() {
    try {
      HttpResponse<String> response = http.send(
          HttpRequest.newBuilder(URI.create(endpoint() + "/health")).timeout(Duration.ofSeconds(2)).build(),
          HttpResponse.BodyHandlers.ofString());
      return response.statusCode() == 200 && response.body().contains("\"health\":\"true\"");
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  @Override
  protected synchronized void doClose() {
    stop();
    if (directory != null) {
      ServerSupport.deleteRecursively(directory);
    }
  }

  private String post(String path, String json) {
    try {
      HttpResponse<String> response = http.send(
          HttpRequest.newBuilder(URI.create(endpoint() + path))
              .timeout(Duration.ofSeconds(10))
              .POST(HttpRequest.BodyPublishers.ofString(json))
              .build(),
          HttpResponse.BodyHandlers.ofString());
      if (response.statusCode() != 200) {
        throw new IllegalStateException("etcd " + path + " answered " + response.statusCode() + ": " + response.body());
      }
      return response.body();
    } catch (IOException e) {
      throw new UncheckedIOException("etcd at " + endpoint() + " did not answer " + path, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted calling etcd " + path, e);
    }
  }

  private static String b64(String text) {
    return Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.UTF_8));
  }
}
