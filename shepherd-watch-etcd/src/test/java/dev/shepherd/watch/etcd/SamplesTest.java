package dev.shepherd.watch.etcd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.core.Backoff;
import dev.shepherd.testing.EtcdServer;
import dev.shepherd.watch.Subscription;
import dev.shepherd.watch.Versioned;
import dev.shepherd.watch.WatchEvent;
import dev.shepherd.watch.Watcher;
import io.etcd.jetcd.Client;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The code samples of the README and the javadoc, copied verbatim, run against a real etcd. */
class SamplesTest {

  @RegisterExtension static final EtcdServer etcd = EtcdServer.create();

  @Test
  void readmeSample() throws Exception {
    String endpoint = etcd.endpoint();
    etcd.put("config/checkout", "on");
    Versioned<Optional<String>> seen;
    long deletedAt;

    // --- README sample, verbatim ---
    BlockingQueue<WatchEvent<Optional<String>>> events = new LinkedBlockingQueue<>();
    try (Client client = Client.builder().endpoints(endpoint).build();
        EtcdWatchSource<String> source = EtcdWatchSource.builder(client).build();
        Watcher<Optional<String>> watcher = Watcher.builder(source)
            .backoff(Backoff.exponential().initial(Duration.ofMillis(100)).max(Duration.ofSeconds(5)).build())
            .build();
        Subscription<Optional<String>> checkout = watcher.watch("config/checkout", "checkout", events::add)) {
      // events receives Update(value=Optional[on], index=<mod revision>) at once, then an Update with
      // the latest value after changes (versions written in quick succession may be skipped); a
      // deleted key arrives as Update(value=Optional.empty, index=<delete revision>)
      // --- end of README sample ---
      WatchEvent<Optional<String>> first = events.poll(30, TimeUnit.SECONDS);
      assertThat(first).isInstanceOfSatisfying(WatchEvent.Update.class,
          update -> assertThat(update.value()).isEqualTo(Optional.of("on")));
      seen = checkout.latest().orElseThrow();
      deletedAt = client.getKVClient().delete(io.etcd.jetcd.ByteSequence.from("config/checkout",
          java.nio.charset.StandardCharsets.UTF_8)).get(10, TimeUnit.SECONDS).getHeader().getRevision();
      WatchEvent<Optional<String>> deleted = events.poll(30, TimeUnit.SECONDS);
      assertThat(deleted).isInstanceOfSatisfying(WatchEvent.Update.class, update -> {
        assertThat(update.value()).isEqualTo(Optional.empty());
        assertThat(update.index()).isEqualTo(deletedAt);
      });
    }
    assertThat(seen.index()).isLessThan(deletedAt);
  }

  @Test
  void javadocSample() throws Exception {
    String endpoint = etcd.endpoint();
    etcd.put("config/flag", "a");
    Versioned<Optional<String>> firstSeen;
    Versioned<Optional<String>> nextSeen;

    // --- EtcdWatchSource javadoc sample, verbatim ---
    try (Client client = Client.builder().endpoints(endpoint).build();
        EtcdWatchSource<String> source = EtcdWatchSource.builder(client).build()) {
      Versioned<Optional<String>> first = source.fetch("config/flag", 0, Duration.ofSeconds(5));
      // blocks until the key changes, or 5 s passed
      Versioned<Optional<String>> next = source.fetch("config/flag", first.index(), Duration.ofSeconds(5));
      // --- end of javadoc sample ---
      firstSeen = first;
      nextSeen = next;
    }
    assertThat(firstSeen.value()).contains("a");
    assertThat(nextSeen).isEqualTo(firstSeen); // nothing changed within 5 s
  }
}
