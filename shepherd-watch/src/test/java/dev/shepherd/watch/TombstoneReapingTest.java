package dev.shepherd.watch;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.testing.FakeTicker;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * Deleted keys' tombstones are reaped (security review W8: without it, unique keys written and
 * deleted grew the store for ever), and no watcher sees an index go backwards because of it.
 */
class TombstoneReapingTest {

  private static final Duration TTL = Duration.ofMinutes(1);

  private final FakeTicker ticker = new FakeTicker();
  private final InMemoryVersionedStore<String> store = InMemoryVersionedStore.<String>builder()
      .tombstoneTtl(TTL).ticker(ticker).build();

  @Test
  void uniqueKeysWrittenAndDeletedKeepAtMostTheMaximumOfTombstones() {
    InMemoryVersionedStore<String> plain = InMemoryVersionedStore.create();
    long firstDelete = 0L;
    for (int i = 0; i < 100_000; i++) {
      plain.put("k" + i, "v");
      long deleted = plain.delete("k" + i);
      if (i == 0) {
        firstDelete = deleted;
      }
    }
    assertThat(plain.entryCount()).isLessThanOrEqualTo(InMemoryVersionedStore.DEFAULT_MAX_TOMBSTONES);
    assertThat(plain.keys()).isEmpty();
    assertThat(plain.get("k0")).isEqualTo(new Versioned<>(Optional.empty(), plainFloor(plain)));
    assertThat(plain.get("k0").index()).isGreaterThanOrEqualTo(firstDelete);
    // The newest tombstones live: the last key still answers its own delete index.
    assertThat(plain.get("k99999").index()).isEqualTo(plain.index());
  }

  private static long plainFloor(InMemoryVersionedStore<String> s) {
    return s.get("never-written").index();
  }

  @Test
  void tombstonesOlderThanTheTtlAreReapedAFewPerLaterWrite() {
    for (int i = 0; i < 10; i++) {
      store.put("k" + i, "v");
      store.delete("k" + i);
    }
    store.put("live", "v");
    assertThat(store.entryCount()).isEqualTo(11); // younger than the TTL: kept
    ticker.advance(TTL);
    store.put("live", "w"); // each write reaps a few, never the whole graveyard
    assertThat(store.entryCount()).isBetween(2, 10);
    store.put("live", "x");
    store.put("live", "y");
    assertThat(store.entryCount()).isEqualTo(1);
    assertThat(store.get("live").value()).contains("y");
  }

  @Test
  void aBlockedReadHoldingTheDeleteIndexOfAReapedKeyIsNotWokenAndItsIndexNeverGoesBack() {
    store.put("k", "v");
    long deleted = store.delete("k");
    CompletableFuture<Versioned<Optional<String>>> waiting = store.whenChanged("k", deleted);
    ticker.advance(TTL);
    store.put("other", "1"); // reaps k's tombstone
    assertThat(store.entryCount()).isEqualTo(1);
    assertThat(store.get("k")).isEqualTo(new Versioned<>(Optional.empty(), deleted));
    assertThat(store.whenChanged("k", deleted)).isNotDone();
    assertThat(waiting).isNotDone();

    long laterDelete = store.delete("other");
    ticker.advance(TTL);
    store.put("third", "1"); // reaps other's tombstone: the floor rises past k's delete index
    assertThat(store.entryCount()).isEqualTo(1);
    assertThat(store.get("k")).isEqualTo(new Versioned<>(Optional.empty(), laterDelete));
    assertThat(waiting).as("a reap wakes nobody").isNotDone();

    long written = store.put("k", "again");
    assertThat(written).isGreaterThan(laterDelete);
    assertThat(waiting.join()).isEqualTo(new Versioned<>(Optional.of("again"), written));
    assertThat(store.createIndex("k")).isEqualTo(written);
  }

  @Test
  void aPrefixIndexDoesNotGoBackWhenTheTombstoneOfItsLastDeleteIsReaped() {
    store.put("app/a", "1");
    store.put("app/b", "2");
    long deleted = store.delete("app/b");
    assertThat(store.list("app/").index()).isEqualTo(deleted);
    CompletableFuture<Long> waiting = store.whenPrefixChanged("app/", deleted);
    ticker.advance(TTL);
    store.put("other", "1"); // reaps app/b's tombstone
    assertThat(store.entryCount()).isEqualTo(2);
    assertThat(store.list("app/").index()).isEqualTo(deleted);
    assertThat(store.list("app/").value()).extracting(InMemoryVersionedStore.Listed::key)
        .containsExactly("app/a");
    assertThat(store.whenPrefixChanged("app/", deleted)).isNotDone();
    assertThat(waiting).isNotDone();
    long written = store.put("app/c", "3");
    assertThat(waiting.join()).isEqualTo(written);
  }

  @Test
  void aRecursiveDeleteReapsAsManyAsItMadeOnceOverTheMaximum() {
    InMemoryVersionedStore<String> small = InMemoryVersionedStore.<String>builder()
        .maxTombstones(3).ticker(ticker).build();
    for (int i = 0; i < 50; i++) {
      small.put("dir/" + i, "v");
    }
    long deleted = small.deletePrefix("dir/");
    assertThat(small.entryCount()).isEqualTo(3);
    assertThat(small.list("dir/").index()).isEqualTo(deleted);
    assertThat(small.get("dir/0").index()).isEqualTo(deleted);
  }

  @Test
  void wipeForgetsTheTombstonesAndTheFloor() {
    store.put("k", "v");
    store.delete("k");
    ticker.advance(TTL);
    store.put("other", "1");
    assertThat(store.get("k").index()).isGreaterThan(1L);
    store.wipe();
    assertThat(store.entryCount()).isZero();
    assertThat(store.get("k")).isEqualTo(new Versioned<>(Optional.empty(), 1L));
    assertThat(store.list("").index()).isEqualTo(1L);
    assertThat(store.put("k", "fresh")).isEqualTo(2L);
  }

  @Test
  void theBuilderRefusesANegativeTtlOrMaximum() {
    org.assertj.core.api.Assertions.assertThatIllegalArgumentException()
        .isThrownBy(() -> InMemoryVersionedStore.builder().tombstoneTtl(Duration.ofSeconds(-1)))
        .withMessageContaining("tombstoneTtl");
    org.assertj.core.api.Assertions.assertThatIllegalArgumentException()
        .isThrownBy(() -> InMemoryVersionedStore.builder().maxTombstones(-1))
        .withMessageContaining("maxTombstones");
  }
}
