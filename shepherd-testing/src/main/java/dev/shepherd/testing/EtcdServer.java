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
public final class EtcdServer extends ProcessServer {

  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
  private int clientPort;
  private int peerPort;

  private EtcdServer(Path binary) {
    super("etcd", binary, Duration.ofSeconds(30));
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
  public Path dataDirectory() {
    return home().resolve("data");
  }

  /**
   * Deletes all data; the server must be stopped. The next {@link #restart()} starts empty, at
   * revision 1.
   *
   * @throws IllegalStateException if the server is running
   */
  public synchronized void wipe() {
    if (processRunning()) {
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
  synchronized void choosePorts() {
    clientPort = ServerSupport.freePort();
    peerPort = ServerSupport.freePort();
  }

  @Override
  synchronized List<String> command(Path binary, Path directory) {
    // The data directory outlives a stop, so a restart keeps the data; wipe() deletes it.
    String client = endpoint();
    String peer = "http://127.0.0.1:" + peerPort;
    return List.of(binary.toString(),
        "--name", "shepherd",
        "--data-dir", directory.resolve("data").toString(),
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
        "--initial-cluster", "shepherd=" + peer,
        "--initial-cluster-state", "new",
        "--logger", "zap", "--log-level", "warn");
  }

  @Override
  String address() {
    return endpoint();
  }

  @Override
  void afterFailedStart() {
    ServerSupport.deleteRecursively(dataDirectory());
  }

  @Override
  boolean ready() {
    return healthy(http, endpoint());
  }

  /** Whether the etcd member at {@code endpoint} reports itself healthy (within 2 s). */
  static boolean healthy(HttpClient http, String endpoint) {
    try {
      HttpResponse<String> response = http.send(
          HttpRequest.newBuilder(URI.create(endpoint + "/health")).timeout(Duration.ofSeconds(2)).build(),
          HttpResponse.BodyHandlers.ofString());
      return response.statusCode() == 200 && response.body().contains("\"health\":\"true\"");
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
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
