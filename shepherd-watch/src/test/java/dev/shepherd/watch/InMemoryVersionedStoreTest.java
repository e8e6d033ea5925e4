package dev.shepherd.watch;

import static dev.shepherd.watch.TestAwait.await;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** Requirement 7: the in-memory store whose reads block on an index. */
class InMemoryVersionedStoreTest {

  private final InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();

  @Test
  void aKeyNeverWrittenIsAbsentAtIndexOne() throws Exception {
    assertThat(store.fetch("k", 0, Duration.ZERO)).isEqualTo(new Versioned<>(Optional.empty(), 1));
  }

  @Test
  void writesStampTheKeyWithTheNextStoreIndex() {
    assertThat(store.put("a", "1")).isEqualTo(2);
    assertThat(store.put("b", "1")).isEqualTo(3);
    assertThat(store.put("a", "2")).isEqualTo(4);
    assertThat(store.get("a")).isEqualTo(new Versioned<>(Optional.of("2"), 4));
    assertThat(store.get("b").index()).isEqualTo(3);
    assertThat(store.createIndex("a")).isEqualTo(2);
    assertThat(store.delete("a")).isEqualTo(5);
    assertThat(store.get("a")).isEqualTo(new Versioned<>(Optional.empty(), 5));
    assertThat(store.createIndex("a")).isZero();
  }

  @Test
  void aFetchWithTheCurrentIndexBlocksUntilTheKeyIsWritten() throws Exception {
    long index = store.put("k", "v1");
    AtomicReference<Versioned<Optional<String>>> result = new AtomicReference<>();
    Thread reader = Thread.ofVirtual().start(() -> {
      try {
        result.set(store.fetch("k", index, Duration.ofMinutes(5)));
      } catch (InterruptedException e) {
        throw new AssertionError(e);
      }
    });
    await().until(() -> store.waitingQueries() == 1);
    store.put("other", "x"); // another key does not wake it
    assertThat(store.waitingQueries()).isEqualTo(1);
    long next = store.put("k", "v2");
    reader.join();
    assertThat(result.get()).isEqualTo(new Versioned<>(Optional.of("v2"), next));
    assertThat(store.waitingQueries()).isZero();
  }

  @Test
  void aFetchWithTheCurrentIndexAnswersTheSameValueAfterMaxWait() throws Exception {
    long index = store.put("k", "v1");
    assertThat(store.fetch("k", index, Duration.ofMillis(20)))
        .isEqualTo(new Versioned<>(Optional.of("v1"), index));
    assertThat(store.waitingQueries()).isZero();
  }

  @Test
  void anInterruptedFetchLeavesNoWaiterBehind() throws Exception {
    long index = store.put("k", "v1");
    Thread reader = Thread.ofVirtual().start(() -> {
      try {
        store.fetch("k", index, Duration.ofMinutes(5));
      } catch (InterruptedException expected) {
        // the point of the test
      }
    });
    await().until(() -> store.waitingQueries() == 1);
    reader.interrupt();
    reader.join();
    assertThat(store.waitingQueries()).isZero();
  }

  @Test
  void wipeSendsEveryKeyBackToIndexOneAndWakesItsWaiters() {
    long index = store.put("k", "v1");
    CompletableFuture<Versioned<Optional<String>>> waiting = store.whenChanged("k", index);
    assertThat(waiting).isNotDone();
    store.wipe();
    assertThat(waiting.join()).isEqualTo(new Versioned<>(Optional.empty(), 1));
    assertThat(store.index()).isEqualTo(1);
    assertThat(store.put("k", "fresh")).isEqualTo(2);
  }

  @Test
  void aFetchAboveTheKeysIndexAnswersAtOnceSoAClientAfterAWipeResets() throws Exception {
    assertThat(store.fetch("k", 500, Duration.ofMinutes(5)).index()).isEqualTo(1);
  }
}
