package dev.shepherd.watch.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The source's fetch contract against a real etcd. */
class EtcdWatchSourceTest {

  @RegisterExtension static final EtcdServer etcd = EtcdServer.create();

  static Client client;

  @BeforeAll
  static void connect() {
    client = Client.builder().endpoints(etcd.endpoint()).build();
  }

  @AfterAll
  static void disconnect() {
    client.close();
  }

  static ByteSequence bytes(String s) {
    return ByteSequence.from(s, StandardCharsets.UTF_8);
  }

  static long put(String key, String value) throws Exception {
    return client.getKVClient().put(bytes(key), bytes(value)).get(10, TimeUnit.SECONDS).getHeader().getRevision();
  }

  static long delete(String key) throws Exception {
    return client.getKVClient().delete(bytes(key)).get(10, TimeUnit.SECONDS).getHeader().getRevision();
  }

  @Test
  void aFetchAnswersTheLatestValueAndSkipsVersionsWrittenInBetween() throws Exception {
    long first = put("latest", "v1");
    try (EtcdWatchSource<String> source = EtcdWatchSource.builder(client).build()) {
      assertThat(source.fetch("latest", 0, Duration.ofMinutes(1)).index()).isEqualTo(first);
      put("latest", "v2");
      put("latest", "v3");
      long fourth = put("latest", "v4");
      // no fetch waits meanwhile; once the watch has the last write, the next answer is that one
      await().atMost(Duration.ofSeconds(30)).until(() -> source.fetch("latest", 0, Duration.ZERO).index() == fourth);
      assertThat(source.fetch("latest", first, Duration.ofMinutes(1))).isEqualTo(Versioned.of(Optional.of("v4"), fourth));
    }
  }

  @Test
  void firstFetchAnswersTheCurrentValueAtOnceWithItsModRevision() throws Exception {
    long revision = put("first", "v1");
    put("unrelated", "x");
    try (EtcdWatchSource<String> source = EtcdWatchSource.builder(client).build()) {
      Versioned<Optional<String>> answer = source.fetch("first", 0, Duration.ofMinutes(5));
      assertThat(answer.value()).contains("v1");
      assertThat(answer.index()).isEqualTo(revision);
    }
  }

  @Test
  void anAbsentKeyAnswersEmptyAtTheReadsHeaderRevision() throws Exception {
    long revision = put("absent-other", "x");
    try (EtcdWatchSource<String> source = EtcdWatchSource.builder(client).build()) {
      Versioned<Optional<String>> answer = source.fetch("absent", 0, Duration.ofMinutes(5));
      assertThat(answer.value()).isEmpty();
      assertThat(answer.index()).isGreaterThanOrEqualTo(revision);
    }
  }

  @Test
  void fetchWaitsForTheNextChangeAndAnswersItsModRevision() throws Exception {
    put("next", "v1");
    try (EtcdWatchSource<String> source = EtcdWatchSource.builder(client).build()) {
      long index = source.fetch("next", 0, Duration.ofMinutes(5)).index();
      CompletableFuture<Versioned<Optional<String>>> waiting = CompletableFuture.supplyAsync(() -> {
        try {
          return source.fetch("next", index, Duration.ofMinutes(5));
        } catch (InterruptedException e) {
          throw new IllegalStateException(e);
        }
      }, Executors.newVirtualThreadPerTaskExecutor());
      await().until(() -> source.openEtcdWatches() == 1);
      put("unrelated", "y");
      long revision = put("next", "v2");
      Versioned<Optional<String>> answer = waiting.get(10, TimeUnit.SECONDS);
      assertThat(answer).isEqualTo(Versioned.of(Optional.of("v2"), revision));
    }
  }

  @Test
  void fetchAnswersTheSameIndexWhenNothingChangedWithinMaxWait() throws Exception {
    long revision = put("quiet", "v1");
    try (EtcdWatchSource<String> source = EtcdWatchSource.builder(client).build()) {
      source.fetch("quiet", 0, Duration.ofMinutes(5));
      put("quiet-neighbour", "x");
      Versioned<Optional<String>> answer = source.fetch("quiet", revision, Duration.ofMillis(50));
      assertThat(answer).isEqualTo(Versioned.of(Optional.of("v1"), revision));
    }
  }

  @Test
  void aDeletionIsDeliveredAsAnAbsentValueAtTheDeleteRevision() throws Exception {
    put("deleted", "v1");
    try (EtcdWatchSource<String> source = EtcdWatchSource.builder(client).build()) {
      long index = source.fetch("deleted", 0, Duration.ofMinutes(5)).index();
      long deletedAt = delete("deleted");
      Versioned<Optional<String>> answer = source.fetch("deleted", index, Duration.ofSeconds(30));
      assertThat(answer).isEqualTo(Versioned.of(Optional.empty(), deletedAt));
      long recreatedAt = put("deleted", "v2");
      assertThat(source.fetch("deleted", deletedAt, Duration.ofSeconds(30)))
          .isEqualTo(Versioned.of(Optional.of("v2"), recreatedAt));
    }
  }

  @Test
  void concurrentFetchesOfOneKeyShareOneEtcdWatch() throws Exception {
    long first = put("shared", "v1");
    CountingWatch counting = new CountingWatch(client.getWatchClient());
    try (EtcdWatchSource<String> source = EtcdWatchSource.builder(client).watchClient(counting).build();
        ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<Versioned<Optional<String>>>> answers = new ArrayList<>();
      for (int i = 0; i < 500; i++) {
        answers.add(threads.submit(() -> source.fetch("shared", first, Duration.ofMinutes(1))));
      }
      await().until(() -> source.openEtcdWatches() == 1);
      long second = put("shared", "v2");
      for (Future<Versioned<Optional<String>>> answer : answers) {
        assertThat(answer.get(30, TimeUnit.SECONDS)).isEqualTo(Versioned.of(Optional.of("v2"), second));
      }
      assertThat(counting.calls).hasValue(1);
      assertThat(source.keyWatch("shared").reads()).isEqualTo(1);
    }
  }

  @Test
  void releaseClosesTheKeysEtcdWatchAndALaterFetchReadsAgain() throws Exception {
    long revision = put("released", "v1");
    CountingWatch counting = new CountingWatch(client.getWatchClient());
    try (EtcdWatchSource<String> source = EtcdWatchSource.builder(client).watchClient(counting).build()) {
      source.fetch("released", 0, Duration.ofMinutes(1));
      await().until(() -> counting.open.get() == 1);
      source.release("released");
      assertThat(counting.open).hasValue(0);
      assertThat(source.watchedKeys()).isZero();
      assertThat(source.fetch("released", 0, Duration.ofMinutes(1)).index()).isEqualTo(revision);
      await().until(() -> counting.open.get() == 1);
      assertThat(counting.calls).hasValue(2);
    }
  }

  @Test
  void releaseLeavesAWatchAloneWhileAFetchOfItIsInProgress() throws Exception {
    long revision = put("busy", "v1");
    try (EtcdWatchSource<String> source = EtcdWatchSource.builder(client).build();
        ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      source.fetch("busy", 0, Duration.ofMinutes(1));
      Future<Versioned<Optional<String>>> waiting =
          threads.submit(() -> source.fetch("busy", revision, Duration.ofMinutes(1)));
      await().until(() -> !source.keyWatch("busy").isIdle(0));
      source.release("busy");
      long next = put("busy", "v2");
      assertThat(waiting.get(30, TimeUnit.SECONDS).index()).isEqualTo(next);
      assertThat(source.openEtcdWatches()).isEqualTo(1);
    }
  }

  @Test
  void anUnusedKeyWatchIsClosedAfterTheIdleTimeout() throws Exception {
    put("idle", "v1");
    try (EtcdWatchSource<String> source =
        EtcdWatchSource.builder(client).idleTimeout(Duration.ofMillis(200)).build()) {
      source.fetch("idle", 0, Duration.ofMinutes(1));
      await().atMost(Duration.ofSeconds(10)).until(() -> source.watchedKeys() == 0 && source.openEtcdWatches() == 0);
    }
  }

  @Test
  void aKeyFetchedManyTimesIsClosedOnceIdleForTheTimeout() throws Exception {
    long revision = put("busy-then-idle", "v1");
    try (EtcdWatchSource<String> source =
        EtcdWatchSource.builder(client).idleTimeout(Duration.ofMillis(200)).build()) {
      for (int i = 0; i < 2_000; i++) { // one pending idle check at a time, re-armed while busy
        assertThat(source.fetch("busy-then-idle", revision, Duration.ZERO).index()).isEqualTo(revision);
      }
      await().atMost(Duration.ofSeconds(10)).until(() -> source.watchedKeys() == 0 && source.openEtcdWatches() == 0);
      assertThat(source.fetch("busy-then-idle", 0, Duration.ZERO).index()).isEqualTo(revision);
    }
  }

  @Test
  void theDecoderTurnsBytesIntoValues() throws Exception {
    long revision = put("number", "42");
    try (EtcdWatchSource<Integer> source =
        EtcdWatchSource.builder(client).decoder(b -> Integer.valueOf(b.toString(StandardCharsets.UTF_8))).build()) {
      assertThat(source.fetch("number", 0, Duration.ofMinutes(1))).isEqualTo(Versioned.of(Optional.of(42), revision));
    }
  }

  @Test
  void aDecoderThatReturnsNullIsReportedAsNullPointerException() throws Exception {
    put("null-decoded", "x");
    try (EtcdWatchSource<Object> source = EtcdWatchSource.builder(client).decoder(b -> null).build()) {
      assertThatThrownBy(() -> source.fetch("null-decoded", 0, Duration.ofMinutes(1)))
          .isInstanceOf(NullPointerException.class)
          .hasMessageContaining("null-decoded");
    }
  }

  @Test
  void anInterruptedFetchThrowsInterruptedExceptionPromptly() throws Exception {
    long revision = put("interrupted", "v1");
    try (EtcdWatchSource<String> source = EtcdWatchSource.builder(client).build();
        ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      source.fetch("interrupted", 0, Duration.ofMinutes(1));
      Future<Versioned<Optional<String>>> waiting =
          threads.submit(() -> source.fetch("interrupted", revision, Duration.ofMinutes(10)));
      await().until(() -> !source.keyWatch("interrupted").isIdle(0));
      waiting.cancel(true);
      await().until(() -> source.keyWatch("interrupted").isIdle(0));
    }
  }

  @Test
  void badArgumentsAreRejectedWithMessagesNamingThem() {
    try (EtcdWatchSource<String> source = EtcdWatchSource.builder(client).build()) {
      assertThatThrownBy(() -> source.fetch(null, 0, Duration.ofSeconds(1)))
          .isInstanceOf(NullPointerException.class).hasMessage("key must not be null");
      assertThatThrownBy(() -> source.fetch("", 0, Duration.ofSeconds(1)))
          .isInstanceOf(IllegalArgumentException.class).hasMessage("key must not be empty");
      assertThatThrownBy(() -> source.fetch("k", -1, Duration.ofSeconds(1)))
          .isInstanceOf(IllegalArgumentException.class).hasMessage("minIndex must be at least 0, was -1");
      assertThatThrownBy(() -> source.fetch("k", 0, Duration.ofSeconds(-1)))
          .isInstanceOf(IllegalArgumentException.class).hasMessage("maxWait must not be negative, was PT-1S");
      assertThatThrownBy(() -> source.fetch("k", 0, null))
          .isInstanceOf(NullPointerException.class).hasMessage("maxWait must not be null");
      assertThatThrownBy(() -> source.release(null))
          .isInstanceOf(NullPointerException.class).hasMessage("key must not be null");
    }
    assertThatThrownBy(() -> EtcdWatchSource.builder(null))
        .isInstanceOf(NullPointerException.class).hasMessage("client must not be null");
    var builder = EtcdWatchSource.builder(client);
    assertThatThrownBy(() -> builder.requestTimeout(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("requestTimeout must be positive, was PT0S");
    assertThatThrownBy(() -> builder.idleTimeout(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("idleTimeout must be positive, was PT-1S");
    assertThatThrownBy(() -> builder.reconnectBackoff(null))
        .isInstanceOf(NullPointerException.class).hasMessage("backoff must not be null");
    assertThatThrownBy(() -> builder.decoder(null))
        .isInstanceOf(NullPointerException.class).hasMessage("decoder must not be null");
    assertThatThrownBy(() -> builder.ticker(null))
        .isInstanceOf(NullPointerException.class).hasMessage("ticker must not be null");
  }

  @Test
  void aClosedSourceRefusesFetchesAndWakesWaitingOnes() throws Exception {
    long revision = put("closing", "v1");
    EtcdWatchSource<String> source = EtcdWatchSource.builder(client).build();
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      source.fetch("closing", 0, Duration.ofMinutes(1));
      Future<Versioned<Optional<String>>> waiting =
          threads.submit(() -> source.fetch("closing", revision, Duration.ofMinutes(10)));
      await().until(() -> !source.keyWatch("closing").isIdle(0));
      source.close();
      assertThatThrownBy(() -> waiting.get(10, TimeUnit.SECONDS))
          .hasCauseInstanceOf(IllegalStateException.class);
      assertThatThrownBy(() -> source.fetch("closing", 0, Duration.ofSeconds(1)))
          .isInstanceOf(IllegalStateException.class).hasMessage("the EtcdWatchSource is closed");
      assertThat(source.openEtcdWatches()).isZero();
    }
  }
}
