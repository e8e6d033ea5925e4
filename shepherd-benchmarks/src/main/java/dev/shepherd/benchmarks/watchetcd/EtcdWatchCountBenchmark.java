package dev.shepherd.benchmarks.watchetcd;

import dev.shepherd.testing.EtcdServer;
import dev.shepherd.watch.Subscription;
import dev.shepherd.watch.WatchEvent;
import dev.shepherd.watch.Watcher;
import dev.shepherd.watch.etcd.EtcdWatchSource;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.options.WatchOption;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * 1,000 subscribers on 10 keys of a real etcd: how many etcd watches they cost, through Shepherd's
 * {@link Watcher} over {@link EtcdWatchSource} and with jetcd used directly (each subscriber reads
 * its key, then watches it from the read's revision + 1, the usual pattern).
 *
 * <p>One invocation: subscribe all 1,000, wait until each has the key's current value, change
 * every key once, wait until each subscriber has the new value. The time is that whole scenario.
 * The counters are read once every subscriber has the new value, so every watch is live:
 * {@code etcdWatchers} is etcd's own gauge {@code etcd_debugging_mvcc_watcher_total} (watchers the
 * server holds), {@code etcdWatchStreams} its gauge {@code etcd_debugging_mvcc_watch_stream_total}
 * (gRPC watch streams; jetcd opens one per watcher), {@code watchCalls} the {@code Watch.watch}
 * calls the client made. The counters are summed over the measured iterations (one invocation
 * each), so divide by the iteration count; each invocation also prints its own figures.
 *
 * <p>Each invocation uses a new jetcd {@link Client}, closed afterwards, and waits until etcd
 * reports zero watchers and zero streams: jetcd 0.8 closes a watcher by half-closing its gRPC
 * stream, and etcd keeps such a stream until the connection closes, so with one long-lived client
 * the stream gauge would also count the streams of earlier invocations.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 3)
@Fork(1)
public class EtcdWatchCountBenchmark {

  static final int KEYS = 10;
  static final int SUBSCRIBERS = 1_000;

  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
  private EtcdServer etcd;
  private Client client;
  private int round;
  private final List<AutoCloseable> opened = new ArrayList<>();

  /** Counts read at the end of each invocation (not per second). */
  @State(Scope.Thread)
  @AuxCounters(AuxCounters.Type.EVENTS)
  public static class Counters {
    /** etcd_debugging_mvcc_watcher_total once all subscribers have the new value. */
    public long etcdWatchers;
    /** etcd_debugging_mvcc_watch_stream_total at the same moment. */
    public long etcdWatchStreams;
    /** Watch.watch calls made by the client side. */
    public long watchCalls;

    @Setup(Level.Iteration)
    public void reset() {
      etcdWatchers = 0;
      etcdWatchStreams = 0;
      watchCalls = 0;
    }
  }

  @Setup(Level.Trial)
  public void start() {
    etcd = EtcdServer.create();
    etcd.start();
  }

  @TearDown(Level.Trial)
  public void stop() {
    etcd.close();
  }

  @Setup(Level.Invocation)
  public void writeKeys() throws Exception {
    client = Client.builder().endpoints(etcd.endpoint()).build();
    round++;
    for (int k = 0; k < KEYS; k++) {
      put("bench/" + k, "a" + round);
    }
  }

  @TearDown(Level.Invocation)
  public void closeAll() throws Exception {
    for (AutoCloseable closeable : opened.reversed()) {
      closeable.close();
    }
    opened.clear();
    client.close();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (gauge("etcd_debugging_mvcc_watcher_total") != 0
        || gauge("etcd_debugging_mvcc_watch_stream_total") != 0) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("etcd still holds watchers after closing everything");
      }
      Thread.sleep(50); // between invocations, not measured
    }
  }

  @Benchmark
  public void shepherd(Counters counters) throws Exception {
    String initial = "a" + round;
    String changed = "b" + round;
    CountDownLatch first = new CountDownLatch(SUBSCRIBERS);
    CountDownLatch second = new CountDownLatch(SUBSCRIBERS);
    EtcdWatchSource<String> source = EtcdWatchSource.builder(client).build();
    opened.add(source);
    Watcher<Optional<String>> watcher = Watcher.builder(source).build();
    opened.add(watcher);
    for (int i = 0; i < SUBSCRIBERS; i++) {
      Subscription<Optional<String>> subscription = watcher.watch("bench/" + (i % KEYS), "s" + i, event -> {
        if (event instanceof WatchEvent.Update<Optional<String>> update) {
          String value = update.value().orElse("");
          if (value.equals(initial)) {
            first.countDown();
          } else if (value.equals(changed)) {
            second.countDown();
          }
        }
      });
      opened.add(subscription);
    }
    await(first, "initial values");
    for (int k = 0; k < KEYS; k++) {
      put("bench/" + k, changed);
    }
    await(second, "changed values");
    counters.etcdWatchers = gauge("etcd_debugging_mvcc_watcher_total");
    counters.etcdWatchStreams = gauge("etcd_debugging_mvcc_watch_stream_total");
    counters.watchCalls = source.etcdWatchesOpened();
    report("shepherd", counters);
  }

  @Benchmark
  public void jetcdDirect(Counters counters) throws Exception {
    String initial = "a" + round;
    String changed = "b" + round;
    CountDownLatch first = new CountDownLatch(SUBSCRIBERS);
    CountDownLatch second = new CountDownLatch(SUBSCRIBERS);
    int calls = 0;
    for (int i = 0; i < SUBSCRIBERS; i++) {
      ByteSequence key = bytes("bench/" + (i % KEYS));
      GetResponse read = client.getKVClient().get(key).get(30, TimeUnit.SECONDS);
      if (read.getKvs().get(0).getValue().toString(StandardCharsets.UTF_8).equals(initial)) {
        first.countDown();
      }
      calls++;
      Watch.Watcher watcher = client.getWatchClient().watch(key,
          WatchOption.builder().withRevision(read.getHeader().getRevision() + 1).build(),
          response -> response.getEvents().forEach(event -> {
            if (event.getKeyValue().getValue().toString(StandardCharsets.UTF_8).equals(changed)) {
              second.countDown();
            }
          }));
      opened.add(watcher);
    }
    await(first, "initial values");
    for (int k = 0; k < KEYS; k++) {
      put("bench/" + k, changed);
    }
    await(second, "changed values");
    counters.etcdWatchers = gauge("etcd_debugging_mvcc_watcher_total");
    counters.etcdWatchStreams = gauge("etcd_debugging_mvcc_watch_stream_total");
    counters.watchCalls = calls;
    report("jetcdDirect", counters);
  }

  private static void report(String peer, Counters counters) {
    System.out.println(peer + ": etcdWatchers=" + counters.etcdWatchers + " etcdWatchStreams="
        + counters.etcdWatchStreams + " watchCalls=" + counters.watchCalls);
  }

  private static void await(CountDownLatch latch, String what) throws InterruptedException {
    if (!latch.await(120, TimeUnit.SECONDS)) {
      throw new IllegalStateException(latch.getCount() + " subscribers never received the " + what);
    }
  }

  private void put(String key, String value) throws Exception {
    client.getKVClient().put(bytes(key), bytes(value)).get(30, TimeUnit.SECONDS);
  }

  private static ByteSequence bytes(String s) {
    return ByteSequence.from(s, StandardCharsets.UTF_8);
  }

  private long gauge(String name) throws IOException, InterruptedException {
    String body = http.send(HttpRequest.newBuilder(URI.create(etcd.endpoint() + "/metrics"))
        .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString()).body();
    for (String line : body.split("\n", -1)) {
      if (line.startsWith(name + " ")) {
        return (long) Double.parseDouble(line.substring(name.length() + 1).trim());
      }
    }
    throw new IllegalStateException("etcd has no metric " + name);
  }
}
