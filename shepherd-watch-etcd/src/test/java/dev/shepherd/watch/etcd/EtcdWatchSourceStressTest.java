package dev.shepherd.watch.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.testing.EtcdServer;
import dev.shepherd.watch.Versioned;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Many threads fetch a few keys while others write them and release their watches, a fixed number
 * of times: answers never go backwards for a thread, and once everything is released no etcd
 * watch is left open, neither in the source nor in etcd.
 */
class EtcdWatchSourceStressTest {

  @RegisterExtension static final EtcdServer etcd = EtcdServer.create();

  static final int KEYS = 4;
  static final int FETCHERS = 200;
  static final int FETCHES = 40;
  static final int RELEASERS = 4;
  static final int ROUNDS = 60;

  static ByteSequence bytes(String s) {
    return ByteSequence.from(s, StandardCharsets.UTF_8);
  }

  @Test
  void concurrentFetchesWritesAndReleasesKeepAnswersMonotonicAndLeakNoWatch() throws Exception {
    try (Client client = Client.builder().endpoints(etcd.endpoint()).build()) {
      for (int k = 0; k < KEYS; k++) {
        client.getKVClient().put(bytes("stress/" + k), bytes("v0")).get(10, TimeUnit.SECONDS);
      }
      CountingWatch counting = new CountingWatch(client.getWatchClient());
      try (EtcdWatchSource<String> source = EtcdWatchSource.builder(client).watchClient(counting).build();
          ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
        List<Future<?>> tasks = new ArrayList<>();
        for (int t = 0; t < FETCHERS; t++) {
          int thread = t;
          tasks.add(threads.submit(() -> {
            long[] last = new long[KEYS];
            for (int i = 0; i < FETCHES; i++) {
              int k = (thread + i) % KEYS;
              // half the fetches answer at once, so keys go idle and releases really close watches
              Duration wait = i % 2 == 0 ? Duration.ZERO : Duration.ofMillis(20);
              Versioned<Optional<String>> answer = source.fetch("stress/" + k, last[k], wait);
              assertThat(answer.index()).as("answers for one key never go backwards").isGreaterThanOrEqualTo(last[k]);
              assertThat(answer.value()).isPresent();
              last[k] = answer.index();
            }
            return null;
          }));
        }
        for (int r = 0; r < RELEASERS; r++) {
          int releaser = r;
          tasks.add(threads.submit(() -> {
            // paced by the writes: each round writes a key and releases another one's watch
            for (int i = 0; i < ROUNDS; i++) {
              client.getKVClient().put(bytes("stress/" + ((releaser + i) % KEYS)), bytes("r" + releaser + "-" + i))
                  .get(10, TimeUnit.SECONDS);
              source.release("stress/" + ((releaser + i + 1) % KEYS));
            }
            return null;
          }));
        }
        for (Future<?> task : tasks) {
          task.get(120, TimeUnit.SECONDS);
        }
        for (int k = 0; k < KEYS; k++) {
          source.release("stress/" + k);
        }
        assertThat(source.watchedKeys()).isZero();
        await().atMost(Duration.ofSeconds(30)).until(() -> counting.open.get() == 0 && source.openEtcdWatches() == 0);
        await().atMost(Duration.ofSeconds(30)).until(() -> EtcdMetrics.watchers(etcd.endpoint()) == 0);
        assertThat(counting.calls.get()).as("releases really closed watches").isGreaterThan(KEYS);
      }
    }
  }
}
