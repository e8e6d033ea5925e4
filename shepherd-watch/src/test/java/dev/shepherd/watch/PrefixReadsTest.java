package dev.shepherd.watch;

import static dev.shepherd.watch.TestAwait.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.watch.InMemoryVersionedStore.Listed;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Reads of a prefix scan without the store's lock (security review W7: a flood of recursive
 * reads of a large prefix held the lock for every scan and stalled every write), yet each answers
 * a list and an index that are one snapshot.
 */
class PrefixReadsTest {

  private static final int FILLERS = 500;

  private final InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();

  private void fill(String prefix, int n) {
    for (int i = 0; i < n; i++) {
      store.put(prefix + String.format("%04d", i), "v");
    }
  }

  /** Runs {@code read} on its own thread, stopped in its scan until the returned gate opens. */
  private <T> CompletableFuture<T> readStoppedInItsScan(Supplier<T> read, CountDownLatch inScan,
      CountDownLatch release) {
    AtomicBoolean first = new AtomicBoolean(true);
    store.scanHook(() -> {
      if (first.compareAndSet(true, false)) {
        inScan.countDown();
        try {
          release.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    });
    CompletableFuture<T> result = new CompletableFuture<>();
    Thread.ofPlatform().start(() -> {
      try {
        result.complete(read.get());
      } catch (Throwable t) {
        result.completeExceptionally(t);
      }
    });
    return result;
  }

  /** Writes on its own thread and waits until the write completed while the scan is stopped. */
  private long writeWhileTheScanIsStopped(String key, CountDownLatch release) {
    CompletableFuture<Long> write = new CompletableFuture<>();
    Thread.ofPlatform().start(() -> write.complete(store.put(key, "new")));
    try {
      // Under the old store the scan held the lock, and this write could not complete.
      await().atMost(Duration.ofSeconds(20)).until(write::isDone);
    } finally {
      release.countDown();
    }
    return write.join();
  }

  @Test
  void aWriteCompletesWhileARecursiveReadIsInTheMiddleOfItsScanAndTheReadThenIncludesIt()
      throws Exception {
    fill("app/", 1_000);
    CountDownLatch inScan = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    CompletableFuture<Versioned<List<Listed<String>>>> read =
        readStoppedInItsScan(() -> store.list("app/"), inScan, release);
    inScan.await();
    long written = writeWhileTheScanIsStopped("app/zzzz", release);
    Versioned<List<Listed<String>>> listed = read.get();
    // The scan saw the write sequence move, so it scanned again: one snapshot, after the write.
    assertThat(listed.index()).isEqualTo(written);
    assertThat(listed.value()).hasSize(1_001).last().extracting(Listed::key).isEqualTo("app/zzzz");
  }

  @Test
  void aWriteCompletesWhileABlockingPrefixQueryScansAndThatQueryIsAnsweredWithTheWrite()
      throws Exception {
    fill("app/", 1_000);
    long before = store.list("app/").index();
    CountDownLatch inScan = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    CompletableFuture<CompletableFuture<Long>> query =
        readStoppedInItsScan(() -> store.whenPrefixChanged("app/", before), inScan, release);
    inScan.await();
    long written = writeWhileTheScanIsStopped("app/0500", release);
    // Neither lost (registered after the write, waiting for ever) nor answered with the old index.
    assertThat(query.get().join()).isEqualTo(written);
    assertThat(store.waitingQueries()).isZero();
  }

  @Test
  void concurrentWritersAndRecursiveReadersNeverSeeAListInconsistentWithItsIndex()
      throws Exception {
    InMemoryVersionedStore<String> shared = InMemoryVersionedStore.<String>builder()
        .maxTombstones(8).build(); // the churn writer's tombstones are reaped as it goes
    int writers = 2;
    int pairs = 5_000;
    int readers = 2;
    int reads = 1_000;
    // Writer w writes p/w/a = i, then p/w/z = i, for i = 1..pairs; FILLERS keys lie between them,
    // so a scan that is not one snapshot reads a before and z after many writes.
    AtomicLongArray[] aIndex = new AtomicLongArray[writers];
    AtomicLongArray[] zIndex = new AtomicLongArray[writers];
    for (int w = 0; w < writers; w++) {
      shared.put("p/" + w + "/a", "0");
      for (int f = 0; f < FILLERS; f++) {
        shared.put("p/" + w + "/m/" + String.format("%04d", f), "filler");
      }
      shared.put("p/" + w + "/z", "0");
      aIndex[w] = new AtomicLongArray(pairs + 2);
      zIndex[w] = new AtomicLongArray(pairs + 2);
    }
    Queue<String> violations = new ConcurrentLinkedQueue<>();
    CountDownLatch start = new CountDownLatch(1);
    List<Thread> threads = new ArrayList<>();
    for (int w = 0; w < writers; w++) {
      int writer = w;
      threads.add(Thread.ofPlatform().unstarted(() -> {
        awaitStart(start);
        for (int i = 1; i <= pairs; i++) {
          aIndex[writer].set(i, shared.put("p/" + writer + "/a", Integer.toString(i)));
          zIndex[writer].set(i, shared.put("p/" + writer + "/z", Integer.toString(i)));
        }
      }));
    }
    threads.add(Thread.ofPlatform().unstarted(() -> {
      awaitStart(start);
      for (int i = 0; i < pairs; i++) {
        shared.put("p/churn/" + i, "x");
        shared.delete("p/churn/" + i);
      }
    }));
    for (int r = 0; r < readers; r++) {
      threads.add(Thread.ofPlatform().unstarted(() -> {
        awaitStart(start);
        long last = 0L;
        for (int n = 0; n < reads; n++) {
          Versioned<List<Listed<String>>> listed = shared.list("p/");
          long index = listed.index();
          if (index < last) {
            violations.add("index went back from " + last + " to " + index);
          }
          last = index;
          Map<String, Listed<String>> byKey = listed.value().stream()
              .collect(Collectors.toMap(Listed::key, l -> l));
          for (int w = 0; w < writers; w++) {
            Listed<String> a = byKey.get("p/" + w + "/a");
            Listed<String> z = byKey.get("p/" + w + "/z");
            int va = Integer.parseInt(a.value());
            int vz = Integer.parseInt(z.value());
            if (va != vz && va != vz + 1) {
              violations.add("torn list: a=" + va + " z=" + vz + " at index " + index);
            }
            // Every write of the prefix at or below the index is in the list (all writes of this
            // store are under p/, so the prefix index is the store index of the snapshot).
            if (missed(aIndex[w], va, pairs, index) || missed(zIndex[w], vz, pairs, index)) {
              violations.add("a write at or below index " + index + " is missing: a=" + va
                  + " z=" + vz);
            }
            if (a.modifyIndex() > index || z.modifyIndex() > index) {
              violations.add("an entry is newer than the index " + index);
            }
          }
          CompletableFuture<Long> changed = shared.whenPrefixChanged("p/", index);
          long answered = changed.getNow(-1L);
          if (answered == -1L) {
            changed.cancel(false);
          } else if (answered < index) {
            violations.add("whenPrefixChanged went back from " + index + " to " + answered);
          }
        }
      }));
    }
    threads.forEach(Thread::start);
    start.countDown();
    for (Thread t : threads) {
      t.join();
    }
    assertThat(violations).isEmpty();
    assertThat(shared.waitingQueries()).isZero();
    assertThat(shared.list("p/0/").value()).extracting(Listed::value)
        .startsWith(Integer.toString(pairs)).endsWith(Integer.toString(pairs));
  }

  /** Whether the write of value {@code seen + 1} was recorded at an index at or below the list's. */
  private static boolean missed(AtomicLongArray indexes, int seen, int pairs, long listIndex) {
    if (seen >= pairs) {
      return false;
    }
    long next = indexes.get(seen + 1);
    return next != 0L && next <= listIndex;
  }

  private static void awaitStart(CountDownLatch start) {
    try {
      start.await();
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void aWriteWakesTheWaitersOfEveryPrefixOfItsKeyAndNoOther() {
    long index = store.put("seed", "v");
    List<String> prefixes = List.of("", "a", "a/", "a/b", "a/b/c", "b", "a/c", "a/b/c/d", "x");
    Map<String, CompletableFuture<Long>> waiting = prefixes.stream()
        .collect(Collectors.toMap(p -> p, p -> store.whenPrefixChanged(p, p.isEmpty() ? index : 1L)));
    waiting.values().forEach(f -> assertThat(f).isNotDone());
    waiting.get("x").cancel(false); // "b" has the same length and must still be found
    long written = store.put("a/b/c", "v");
    for (String p : List.of("", "a", "a/", "a/b", "a/b/c")) {
      assertThat(waiting.get(p)).as(p).isCompletedWithValue(written);
    }
    for (String p : List.of("b", "a/c", "a/b/c/d")) {
      assertThat(waiting.get(p)).as(p).isNotDone();
    }
    long other = store.put("b1", "v");
    assertThat(waiting.get("b")).isCompletedWithValue(other);
    waiting.get("a/c").cancel(false);
    waiting.get("a/b/c/d").cancel(false);
    assertThat(store.waitingQueries()).isZero();
  }
}
