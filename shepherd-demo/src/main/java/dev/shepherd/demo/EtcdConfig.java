package dev.shepherd.demo;

import dev.shepherd.watch.Versioned;
import dev.shepherd.watch.etcd.EtcdWatchSource;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.Serial;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.jspecify.annotations.Nullable;

/**
 * {@code /config/{key}} when the service runs with {@code --etcd}: the same Consul-style blocking
 * query ({@code ?index=&wait=}, the key's etcd mod revision as {@code X-Consul-Index}) answered by
 * {@link EtcdWatchSource}, which keeps one etcd watch per key for every query and event stream;
 * {@code PUT} writes the key to etcd.
 */
final class EtcdConfig extends HttpServlet {

  @Serial private static final long serialVersionUID = 1L;
  private static final Duration MAX_WAIT = Duration.ofMinutes(10);

  private final transient Client client;
  private final transient EtcdWatchSource<String> source;

  EtcdConfig(Client client, EtcdWatchSource<String> source) {
    this.client = client;
    this.source = source;
  }

  @Override
  protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
    String key = key(req);
    if (key == null) {
      Json.problem(resp, 400, "Bad Request", "missing key: request /config/<key>");
      return;
    }
    long index;
    Duration wait;
    try {
      index = req.getParameter("index") == null ? 0 : Long.parseLong(req.getParameter("index"));
      wait = parseWait(req.getParameter("wait"));
      if (index < 0) {
        throw new NumberFormatException();
      }
    } catch (IllegalArgumentException e) {
      Json.problem(resp, 400, "Bad Request", "index must be a non-negative integer and wait like 30s or 5m");
      return;
    }
    try {
      Versioned<Optional<String>> value = source.fetch(key, index, wait);
      resp.setHeader("X-Consul-Index", Long.toString(value.index()));
      if (value.value().isEmpty()) {
        resp.setStatus(404);
        return;
      }
      Json.write(resp, 200, List.of(Map.of(
          "Key", key, "Flags", 0, "LockIndex", 0,
          "Value", Base64.getEncoder().encodeToString(value.value().get().getBytes(StandardCharsets.UTF_8)),
          "ModifyIndex", value.index())));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      Json.problem(resp, 503, "Service Unavailable", "interrupted");
    } catch (RuntimeException e) {
      Json.problem(resp, 503, "Service Unavailable", "etcd: " + e.getMessage());
    }
  }

  @Override
  protected void doPut(HttpServletRequest req, HttpServletResponse resp) throws IOException {
    String key = key(req);
    if (key == null) {
      Json.problem(resp, 400, "Bad Request", "missing key: request /config/<key>");
      return;
    }
    byte[] body = req.getInputStream().readAllBytes();
    try {
      long revision = client.getKVClient()
          .put(ByteSequence.from(key, StandardCharsets.UTF_8), ByteSequence.from(body))
          .get(10, TimeUnit.SECONDS).getHeader().getRevision();
      resp.setHeader("X-Consul-Index", Long.toString(revision));
      Json.write(resp, 200, true);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      Json.problem(resp, 503, "Service Unavailable", "interrupted");
    } catch (ExecutionException | TimeoutException e) {
      Json.problem(resp, 503, "Service Unavailable", "etcd did not take the write: " + e.getMessage());
    }
  }

  private static @Nullable String key(HttpServletRequest req) {
    String path = req.getPathInfo();
    return path == null || path.length() <= 1 ? null : path.substring(1);
  }

  private static Duration parseWait(String text) {
    if (text == null || text.isEmpty()) {
      return Duration.ofMinutes(5);
    }
    Duration wait = DemoOptions.parseDuration(text, "wait");
    return wait.compareTo(MAX_WAIT) > 0 ? MAX_WAIT : wait;
  }

}
