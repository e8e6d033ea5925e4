package dev.shepherd.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.testing.FakeTicker;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.Callable;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * The number of loader runs equals the number of times a key was missing, under random interleavings
 * of fetches (with and without a timeout), invalidations, timeouts and load completions.
 *
 * <p>Each generated step is applied to the real cache (callers are real virtual threads, loaders
 * block on latches the test opens) and to a small model that counts "missing key" episodes: a fetch
 * that finds the key neither stored nor being loaded starts an episode; one being loaded joins it;
 * invalidating a key detaches its load; a load that was not detached stores its value. After each
 * step the test waits until the cache reaches the state the model predicts (waiter counts, loader
 * runs, stored keys), so the interleaving is exactly the generated one. At the end every load is
 * released and the loader run count must equal the model's episode count.
 */
class LoadCountPropertyTest {

  sealed interface Step {}

  record Fetch(int key, boolean timed) implements Step {}

  record Invalidate(int key) implements Step {}

  record Finish(int key) implements Step {}

  record Advance() implements Step {}

  @Provide
  Arbitrary<List<Step>> steps() {
    Arbitrary<Integer> keys = Arbitraries.integers().between(0, 2);
    Arbitrary<Step> step =
        Arbitraries.frequencyOf(
            net.jqwik.api.Tuple.of(5, Arbitraries.lazy(() -> keys.flatMap(k -> Arbitraries.of(true, false).map(t -> (Step) new Fetch(k, t))))),
            net.jqwik.api.Tuple.of(2, keys.map(k -> (Step) new Invalidate(k))),
            net.jqwik.api.Tuple.of(2, keys.map(k -> (Step) new Finish(k))),
            net.jqwik.api.Tuple.of(1, Arbitraries.just((Step) new Advance())));
    return step.list().ofMinSize(1).ofMaxSize(14);
  }

  /** Model of one load: its waiters (timed ones leave on Advance) and whether it was detached. */
  private static final class ModelFlight {
    int untimed;
    int timed;

    int waiters() {
      return untimed + timed;
    }
  }

  @Property(tries = 60)
  void loaderRunsEqualDistinctMissingKeys(
      @ForAll("steps") List<Step> steps, @ForAll boolean cancelWhenAbandoned) throws Exception {
    FakeTicker ticker = new FakeTicker();
    CoalescingCache<Integer, String> cache =
        CoalescingCache.<Integer, String>builder()
            .ticker(ticker)
            .cancelWhenAbandoned(cancelWhenAbandoned)
            .build();
    AtomicInteger runs = new AtomicInteger();
    Map<Integer, List<CountDownLatch>> gates = new ConcurrentHashMap<>();
    Loader<Integer, String> loader =
        key -> {
          CountDownLatch gate = new CountDownLatch(1);
          gates.computeIfAbsent(key, k -> new CopyOnWriteArrayList<>()).add(gate);
          runs.incrementAndGet();
          gate.await();
          return Load.commit("v" + key);
        };
    List<Caller<Fetched<String>>> callers = new ArrayList<>();

    int expectedLoads = 0;
    Map<Integer, Boolean> stored = new HashMap<>();
    Map<Integer, ModelFlight> current = new HashMap<>();
    List<ModelFlight> detached = new ArrayList<>();

    for (Step step : steps) {
      switch (step) {
        case Fetch(int key, boolean timed) -> {
          Callable<Fetched<String>> call =
              timed
                  ? () -> cache.fetch(key, loader, Duration.ofSeconds(1))
                  : () -> cache.fetch(key, loader);
          Caller<Fetched<String>> caller = Caller.start(call);
          callers.add(caller);
          if (stored.getOrDefault(key, false)) {
            caller.result.get(30, TimeUnit.SECONDS);
          } else {
            ModelFlight flight = current.get(key);
            if (flight == null) {
              flight = new ModelFlight();
              current.put(key, flight);
              expectedLoads++;
            }
            if (timed) {
              flight.timed++;
            } else {
              flight.untimed++;
            }
          }
        }
        case Invalidate(int key) -> {
          cache.invalidate(key);
          stored.put(key, false);
          ModelFlight flight = current.remove(key);
          if (flight != null) {
            detached.add(flight);
          }
        }
        case Finish(int key) -> {
          for (CountDownLatch gate : gates.getOrDefault(key, List.of())) {
            gate.countDown();
          }
          if (current.remove(key) != null) {
            stored.put(key, true);
          }
        }
        case Advance() -> {
          ticker.advance(Duration.ofSeconds(1));
          cache.cleanUp();
          for (var it = current.entrySet().iterator(); it.hasNext(); ) {
            ModelFlight flight = it.next().getValue();
            boolean hadWaiters = flight.waiters() > 0;
            flight.timed = 0;
            if (cancelWhenAbandoned && hadWaiters && flight.waiters() == 0) {
              it.remove();
            }
          }
          for (ModelFlight flight : detached) {
            flight.timed = 0;
          }
        }
      }
      int loads = expectedLoads;
      await()
          .pollDelay(Duration.ZERO)
          .pollInterval(Duration.ofMillis(1))
          .atMost(Duration.ofSeconds(30))
          .untilAsserted(
              () -> {
                assertThat(runs).hasValue(loads);
                for (int key = 0; key <= 2; key++) {
                  ModelFlight flight = current.get(key);
                  assertThat(cache.waitingCallers(key))
                      .as("waiters of key %d", key)
                      .isEqualTo(flight == null ? 0 : flight.waiters());
                  assertThat(cache.getIfPresent(key) != null)
                      .as("key %d stored", key)
                      .isEqualTo(stored.getOrDefault(key, false));
                }
              });
    }

    for (List<CountDownLatch> list : gates.values()) {
      list.forEach(CountDownLatch::countDown);
    }
    for (Caller<Fetched<String>> caller : callers) {
      caller.thread.join();
      assertThat(caller.result)
          .satisfiesAnyOf(
              f -> assertThat(f).isCompleted(),
              f ->
                  assertThat(f)
                      .isCompletedExceptionally()
                      .failsWithin(Duration.ZERO)
                      .withThrowableThat()
                      .havingCause()
                      .isInstanceOf(FetchTimeoutException.class));
    }
    assertThat(runs).hasValue(expectedLoads);
  }
}
