package dev.shepherd.watch.etcd;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/** Reads etcd's own gauges of watchers and watch streams from its /metrics endpoint. */
final class EtcdMetrics {

  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

  private EtcdMetrics() {}

  /** etcd_debugging_mvcc_watcher_total: the watchers (one per watch request) the server holds. */
  static long watchers(String endpoint) {
    return gauge(endpoint, "etcd_debugging_mvcc_watcher_total");
  }

  /** etcd_debugging_mvcc_watch_stream_total: the gRPC watch streams the server holds. */
  static long watchStreams(String endpoint) {
    return gauge(endpoint, "etcd_debugging_mvcc_watch_stream_total");
  }

  static long gauge(String endpoint, String name) {
    try {
      String body = HTTP.send(HttpRequest.newBuilder(URI.create(endpoint + "/metrics"))
          .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString()).body();
      for (String line : body.split("\n")) {
        if (line.startsWith(name + " ")) {
          return (long) Double.parseDouble(line.substring(name.length() + 1).trim());
        }
      }
      throw new IllegalStateException("etcd at " + endpoint + " has no metric " + name);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read " + endpoint + "/metrics", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }
}
