package dev.shepherd.cache;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

/**
 * A model check of fetch, invalidate and per-caller timeouts, in the spirit of Lincheck (which the
 * build does not include): jqwik generates small concurrent programs, real threads run them against
 * the cache, and the recorded history is checked for linearizability against a sequential model by
 * exhaustive search (Wing and Gong's algorithm, with memoisation).
 *
 * <p><b>Programs.</b> Three threads, each running two to four operations on keys 0 and 1:
 * {@code fetch} (untimed, or with a timeout of a few hundred microseconds so that some callers really
 * time out) and {@code invalidate}. Each load returns a token no other load returns, after parking a
 * random few hundred microseconds, so loads overlap with the other operations. Every operation
 * records an invocation and a response stamp from one global counter; operation A precedes B in real
 * time when A's response stamp is below B's invocation stamp.
 *
 * <p><b>Sequential model</b>, per key: absent, or holding one token.
 * <ul>
 *   <li>{@code fetch} on an absent key loads: the real answer must be {@code LOADED} with a token not
 *       seen before, which the key now holds. On a key holding token t, the real answer must be t,
 *       {@code HIT} or {@code JOINED}.
 *   <li>{@code invalidate} makes the key absent.
 *   <li>A {@code fetch} that timed out either had no effect, or (on an absent key) started a load
 *       whose token nobody saw yet: the key then holds an unknown token, which the next answer from
 *       it names. Both possibilities are explored.
 * </ul>
 *
 * <p>The search looks for an order of all operations that respects real time and in which every real
 * answer is the model's answer. A history with no such order fails the property, with the history
 * printed. What this catches: a load stored after an invalidate that completed before it ended, a
 * caller that started after an invalidate being handed a value loaded before it, two loaders for a
 * key without an invalidate between them, a stored value lost, a value from nowhere.
 * {@link #theCheckerRejectsAJoinOfALoadDetachedByAnEarlierInvalidate()} shows the checker rejecting
 * such a history.
 */
class LinearizabilityTest {

  enum Kind {
    FETCH,
    FETCH_TIMED,
    INVALIDATE
  }

  record Op(Kind kind, int key) {}

  /** One completed operation: what it was, when, and what it answered. */
  record Event(
      int thread, Op op, long invoked, long responded, int token, Fetched.Source source, boolean timedOut) {}

  @Provide
  Arbitrary<List<List<Op>>> programs() {
    Arbitrary<Op> op =
        Combinators.combine(
                Arbitraries.frequency(
                    net.jqwik.api.Tuple.of(4, Kind.FETCH),
                    net.jqwik.api.Tuple.of(3, Kind.FETCH_TIMED),
                    net.jqwik.api.Tuple.of(2, Kind.INVALIDATE)),
                Arbitraries.integers().between(0, 1))
            .as(Op::new);
    return op.list().ofMinSize(2).ofMaxSize(4).list().ofSize(3);
  }

  @Property(tries = 150)
  void fetchInvalidateAndTimeoutsAreLinearizable(
      @ForAll("programs") List<List<Op>> program, @ForAll boolean cancelWhenAbandoned)
      throws Exception {
    CoalescingCache<Integer, Integer> cache =
        CoalescingCache.<Integer, Integer>builder().cancelWhenAbandoned(cancelWhenAbandoned).build();
    AtomicInteger tokens = new AtomicInteger();
    AtomicLong clock = new AtomicLong();
    Map<Integer, Long> readStamps = new ConcurrentHashMap<>();
    Loader<Integer, Integer> loader =
        key -> {
          // "Reading the source": the stamp of the read is what freshness is checked against.
          long read = clock.getAndIncrement();
          int token = tokens.incrementAndGet();
          readStamps.put(token, read);
          LockSupport.parkNanos(ThreadLocalRandom.current().nextLong(50_000, 400_000));
          return Load.commit(token);
        };
    List<Event> history = java.util.Collections.synchronizedList(new ArrayList<>());
    CountDownLatch start = new CountDownLatch(1);
    List<Thread> threads = new ArrayList<>();
    for (int t = 0; t < program.size(); t++) {
      int thread = t;
      List<Op> ops = program.get(t);
      threads.add(
          Thread.ofPlatform()
              .start(
                  () -> {
                    try {
                      start.await();
                      for (Op op : ops) {
                        history.add(run(cache, loader, op, thread, clock));
                      }
                    } catch (InterruptedException e) {
                      Thread.currentThread().interrupt();
                    }
                  }));
    }
    start.countDown();
    for (Thread t : threads) {
      t.join();
    }
    // Let detached or abandoned loads finish so they cannot disturb the next try.
    org.awaitility.Awaitility.await()
        .pollInterval(Duration.ofMillis(1))
        .until(() -> cache.waitingCallers(0) == 0 && cache.waitingCallers(1) == 0);

    assertThat(history).hasSize(program.stream().mapToInt(List::size).sum());
    assertThat(isLinearizable(history)).as("linearizable: %s", history).isTrue();
    assertThat(fetchesAfterAnInvalidateReadTheSourceAfterIt(history, readStamps))
        .as("fresh after invalidate: %s, reads %s", history, readStamps)
        .isTrue();
  }

  /**
   * The guarantee the token model cannot see: an invalidate stands for "the source was written just
   * now" (at its invocation stamp); every fetch invoked after that invalidate returned must answer a
   * value whose load read the source after the write.
   */
  static boolean fetchesAfterAnInvalidateReadTheSourceAfterIt(
      List<Event> history, Map<Integer, Long> readStamps) {
    for (Event w : history) {
      if (w.op().kind() != Kind.INVALIDATE) {
        continue;
      }
      for (Event f : history) {
        if (f.op().kind() == Kind.INVALIDATE
            || f.timedOut()
            || f.op().key() != w.op().key()
            || f.invoked() < w.responded()) {
          continue;
        }
        if (readStamps.getOrDefault(f.token(), Long.MIN_VALUE) < w.invoked()) {
          return false;
        }
      }
    }
    return true;
  }

  private static Event run(
      CoalescingCache<Integer, Integer> cache,
      Loader<Integer, Integer> loader,
      Op op,
      int thread,
      AtomicLong clock)
      throws InterruptedException {
    long invoked = clock.getAndIncrement();
    switch (op.kind()) {
      case INVALIDATE -> {
        cache.invalidate(op.key());
        return new Event(thread, op, invoked, clock.getAndIncrement(), 0, Fetched.Source.HIT, false);
      }
      case FETCH -> {
        Fetched<Integer> f = cache.fetch(op.key(), loader);
        return new Event(thread, op, invoked, clock.getAndIncrement(), f.value(), f.source(), false);
      }
      case FETCH_TIMED -> {
        Duration timeout = Duration.ofNanos(ThreadLocalRandom.current().nextLong(50_000, 500_000));
        try {
          Fetched<Integer> f = cache.fetch(op.key(), loader, timeout);
          return new Event(thread, op, invoked, clock.getAndIncrement(), f.value(), f.source(), false);
        } catch (FetchTimeoutException e) {
          return new Event(thread, op, invoked, clock.getAndIncrement(), 0, Fetched.Source.HIT, true);
        }
      }
    }
    throw new AssertionError(op);
  }

  // ---- the checker ----

  private static final int ABSENT = -2;
  private static final int UNKNOWN = -1;

  static boolean isLinearizable(List<Event> history) {
    Event[] events = history.toArray(Event[]::new);
    int[] state = {ABSENT, ABSENT};
    return search(events, 0L, state, new HashSet<>());
  }

  private static boolean search(Event[] events, long done, int[] state, Set<String> failed) {
    if (Long.bitCount(done) == events.length) {
      return true;
    }
    String memo = done + ":" + Arrays.toString(state);
    if (failed.contains(memo)) {
      return false;
    }
    for (int i = 0; i < events.length; i++) {
      if ((done & (1L << i)) != 0 || !isMinimal(events, done, i)) {
        continue;
      }
      for (int[] next : apply(events[i], state)) {
        if (search(events, done | (1L << i), next, failed)) {
          return true;
        }
      }
    }
    failed.add(memo);
    return false;
  }

  /** Whether no other pending event responded before event i was invoked. */
  private static boolean isMinimal(Event[] events, long done, int i) {
    for (int j = 0; j < events.length; j++) {
      if (j != i && (done & (1L << j)) == 0 && events[j].responded() < events[i].invoked()) {
        return false;
      }
    }
    return true;
  }

  /** The model states after applying the event, if its real answer is allowed (empty if not). */
  private static List<int[]> apply(Event e, int[] state) {
    int key = e.op().key();
    int held = state[key];
    List<int[]> out = new ArrayList<>(2);
    switch (e.op().kind()) {
      case INVALIDATE -> out.add(with(state, key, ABSENT));
      case FETCH, FETCH_TIMED -> {
        if (e.timedOut()) {
          out.add(state);
          if (held == ABSENT) {
            out.add(with(state, key, UNKNOWN));
          }
        } else if (held == ABSENT) {
          if (e.source() == Fetched.Source.LOADED) {
            out.add(with(state, key, e.token()));
          }
        } else if (e.source() != Fetched.Source.LOADED && (held == UNKNOWN || held == e.token())) {
          out.add(with(state, key, e.token()));
        }
      }
    }
    return out;
  }

  private static int[] with(int[] state, int key, int value) {
    int[] copy = state.clone();
    copy[key] = value;
    return copy;
  }

  @Test
  void theCheckerRejectsAJoinOfALoadDetachedByAnEarlierInvalidate() {
    Op fetch = new Op(Kind.FETCH, 0);
    Op invalidate = new Op(Kind.INVALIDATE, 0);
    // Thread 0 loads token 1 (its loader read the source at stamp 1) over [0, 10]; thread 1
    // invalidates over [2, 3], then fetches over [4, 9] and is answered token 1 as JOINED: it joined
    // a load that read the source before the write the invalidate stands for.
    List<Event> bad =
        List.of(
            new Event(0, fetch, 0, 10, 1, Fetched.Source.LOADED, false),
            new Event(1, invalidate, 2, 3, 0, Fetched.Source.HIT, false),
            new Event(1, fetch, 4, 9, 1, Fetched.Source.JOINED, false));
    List<Event> good =
        List.of(
            new Event(0, fetch, 0, 10, 1, Fetched.Source.LOADED, false),
            new Event(1, invalidate, 2, 3, 0, Fetched.Source.HIT, false),
            new Event(1, fetch, 4, 9, 2, Fetched.Source.LOADED, false));
    Map<Integer, Long> reads = Map.of(1, 1L, 2, 5L);

    assertThat(fetchesAfterAnInvalidateReadTheSourceAfterIt(bad, reads)).isFalse();
    assertThat(fetchesAfterAnInvalidateReadTheSourceAfterIt(good, reads)).isTrue();
    assertThat(isLinearizable(good)).isTrue();
  }

  @Test
  void theCheckerRejectsAValueStoredBeforeAnInvalidateAnsweredAfterIt() {
    Op fetch = new Op(Kind.FETCH, 0);
    List<Event> bad =
        List.of(
            new Event(0, fetch, 0, 1, 1, Fetched.Source.LOADED, false),
            new Event(0, new Op(Kind.INVALIDATE, 0), 2, 3, 0, Fetched.Source.HIT, false),
            new Event(1, fetch, 4, 5, 1, Fetched.Source.HIT, false));

    assertThat(isLinearizable(bad)).isFalse();
  }

  @Test
  void theCheckerRejectsTwoLoadsOfOneKeyWithoutAnInvalidateBetween() {
    Op fetch = new Op(Kind.FETCH, 0);
    List<Event> bad =
        List.of(
            new Event(0, fetch, 0, 5, 1, Fetched.Source.LOADED, false),
            new Event(1, fetch, 1, 6, 2, Fetched.Source.LOADED, false));

    assertThat(isLinearizable(bad)).isFalse();
  }
}
