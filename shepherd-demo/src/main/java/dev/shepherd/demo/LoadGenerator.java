package dev.shepherd.demo;

import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Drives realistic traffic at a running reference service so its dashboard moves
 * ({@code ./shepherd demo --load}). Bounded in time and concurrency; only ever talks to the base URL
 * it is given (loopback by default).
 *
 * <p>The mix: customers place orders with an Idempotency-Key (one in ten retried with the same key,
 * one in fifty reusing a key with another payload), read their order back at once with the
 * consistency token, browse products with a few hot ones (so the cache coalesces), watchers
 * long-poll a config key that an operator changes now and then, and reports run on the pool.
 */
final class LoadGenerator {

  static final String CONSISTENCY_HEADER = dev.shepherd.replica.ConsistencyTokenFilter.DEFAULT_HEADER;

  private final URI base;
  private final HttpClient http;
  private final Map<String, AtomicLong> answers = new ConcurrentHashMap<>();

  private LoadGenerator(URI base) {
    this.base = base;
    this.http = HttpClient.newBuilder()
        .connectTimeout(Duration.ofSeconds(2))
        .executor(Executors.newVirtualThreadPerTaskExecutor())
        .build();
  }

  static void run(URI base, Duration duration, PrintStream out) throws InterruptedException {
    LoadGenerator load = new LoadGenerator(base);
    out.println("shepherd demo: driving load at " + base + " for " + duration + " ...");
    long end = System.nanoTime() + duration.toNanos();
    List<Runnable> actors = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      actors.add(load::customer);
    }
    for (int i = 0; i < 6; i++) {
      actors.add(load::browser);
    }
    for (int i = 0; i < 3; i++) {
      actors.add(load::watcher);
    }
    actors.add(load::operator);
    actors.add(load::analyst);
    try (ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor()) {
      for (Runnable actor : actors) {
        executor.execute(() -> {
          while (System.nanoTime() - end < 0 && !Thread.currentThread().isInterrupted()) {
            try {
              actor.run();
            } catch (RuntimeException e) {
              load.count("error " + e.getClass().getSimpleName());
            }
          }
        });
      }
      long lastReport = System.nanoTime();
      while (System.nanoTime() - end < 0) {
        Thread.sleep(200);
        if (System.nanoTime() - lastReport > Duration.ofSeconds(10).toNanos()) {
          out.println("shepherd demo: load so far " + new java.util.TreeMap<>(load.answers));
          lastReport = System.nanoTime();
        }
      }
      executor.shutdownNow();
    }
    out.println("shepherd demo: load done " + new java.util.TreeMap<>(load.answers));
  }

  private void customer() {
    ThreadLocalRandom random = ThreadLocalRandom.current();
    String key = UUID.randomUUID().toString();
    String body = "{\"customer\":\"c" + random.nextInt(50) + "\",\"product\":\"p" + random.nextInt(20)
        + "\",\"quantity\":" + (1 + random.nextInt(5)) + "}";
    Optional<HttpResponse<String>> created = send(HttpRequest.newBuilder(base.resolve("orders"))
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", "\"" + key + "\"")
        .POST(HttpRequest.BodyPublishers.ofString(body)), "POST /orders");
    if (random.nextInt(10) == 0) {
      send(HttpRequest.newBuilder(base.resolve("orders"))
          .header("Content-Type", "application/json")
          .header("Idempotency-Key", "\"" + key + "\"")
          .POST(HttpRequest.BodyPublishers.ofString(body)), "POST /orders retry");
    }
    if (random.nextInt(50) == 0) {
      send(HttpRequest.newBuilder(base.resolve("orders"))
          .header("Content-Type", "application/json")
          .header("Idempotency-Key", "\"" + key + "\"")
          .POST(HttpRequest.BodyPublishers.ofString(body.replace("quantity", "quantity\":9,\"x"))),
          "POST /orders other payload");
    }
    if (created.isPresent() && created.get().statusCode() == 201) {
      String location = created.get().headers().firstValue("Location").orElse(null);
      if (location != null) {
        HttpRequest.Builder read = HttpRequest.newBuilder(base.resolve(location));
        created.get().headers().firstValue(CONSISTENCY_HEADER).ifPresent(t -> read.header(CONSISTENCY_HEADER, t));
        send(read, "GET /orders/{id}");
      }
    }
    pause(40);
  }

  private void browser() {
    ThreadLocalRandom random = ThreadLocalRandom.current();
    // Eight hot products take most reads; the long tail keeps missing (and expiring).
    int product = random.nextInt(10) < 8 ? random.nextInt(8) : 8 + random.nextInt(400);
    send(HttpRequest.newBuilder(base.resolve("products/" + product)), "GET /products/{id}");
    pause(15);
  }

  private void watcher() {
    send(HttpRequest.newBuilder(base.resolve("config/feature-flags?wait=5s&index=" + lastIndex.get()))
        .timeout(Duration.ofSeconds(15)), "GET /config (blocking)")
        .flatMap(r -> r.headers().firstValue("X-Consul-Index"))
        .ifPresent(i -> lastIndex.set(Long.parseLong(i)));
  }

  private final AtomicLong lastIndex = new AtomicLong(0);

  private void operator() {
    send(HttpRequest.newBuilder(base.resolve("config/feature-flags"))
        .PUT(HttpRequest.BodyPublishers.ofString("{\"checkout-v2\":" + ThreadLocalRandom.current().nextBoolean() + "}")),
        "PUT /config");
    pause(2_000);
  }

  private void analyst() {
    send(HttpRequest.newBuilder(base.resolve("reports"))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString("{\"upTo\":" + (200_000 + ThreadLocalRandom.current().nextInt(300_000)) + "}")),
        "POST /reports");
    pause(300);
  }

  private Optional<HttpResponse<String>> send(HttpRequest.Builder request, String what) {
    try {
      // The URL is the user's: the answer is bounded in size and time (BoundedHttp), and only its
      // status is ever printed (in the counts), never its text.
      HttpResponse<String> response = BoundedHttp.send(http, request.timeout(Duration.ofSeconds(30)).build(),
          BoundedHttp.MAX_BODY, Duration.ofSeconds(45));
      count(what + " " + response.statusCode());
      return Optional.of(response);
    } catch (java.io.IOException e) {
      count(what + " " + e.getClass().getSimpleName());
      pause(200);
      return Optional.empty();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Optional.empty();
    }
  }

  private void count(String what) {
    answers.computeIfAbsent(what, k -> new AtomicLong()).incrementAndGet();
  }

  private static void pause(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
