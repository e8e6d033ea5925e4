package dev.shepherd.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.shepherd.core.Ticker;
import dev.shepherd.testing.FakeTicker;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class CoalescingCacheTest {

  private final FakeTicker ticker = new FakeTicker();

  private CoalescingCache.Builder<String, String> builder() {
    return CoalescingCache.<String, String>builder().ticker(ticker);
  }

  private static Throwable failureOf(Caller<?> caller) {
    try {
      caller.result.get(30, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      return e.getCause();
    } catch (InterruptedException | TimeoutException e) {
      throw new AssertionError(e);
    }
    throw new AssertionError("expected a failure");
  }

  private static <T> T valueOf(Caller<T> caller) throws Exception {
    return caller.result.get(30, TimeUnit.SECONDS);
  }

  @Test
  void firstFetchLoadsAndTheNextIsAHitReturningTheStoredInstance() throws Exception {
    CoalescingCache<String, String> cache = builder().build();
    AtomicInteger runs = new AtomicInteger();
    Loader<String, String> loader = k -> Load.commit(k + "-" + runs.incrementAndGet());

    Fetched<String> first = cache.fetch("a", loader);
    Fetched<String> second = cache.fetch("a", loader);
    Fetched<String> third = cache.fetch("a", loader, Duration.ofSeconds(1));

    assertThat(first).isEqualTo(new Fetched<>("a-1", Fetched.Source.LOADED));
    assertThat(second).isEqualTo(new Fetched<>("a-1", Fetched.Source.HIT));
    assertThat(third).isSameAs(second);
    assertThat(runs).hasValue(1);
    assertThat(cache.stats().hits()).isEqualTo(2);
    assertThat(cache.stats().loads()).isEqualTo(1);
  }

  @Test
  void aHitAllocatesNothing() throws Exception {
    CoalescingCache<String, String> cache =
        CoalescingCache.<String, String>builder().maximumSize(100).build();
    Loader<String, String> loader = k -> Load.commit("v");
    long allocated = bytesAllocatedByHits(cache, loader);

    // 10,000 hits; a single allocated object per hit would be at least 160,000 bytes.
    assertThat(allocated).isLessThan(1_000);
  }

  @Test
  void hitsFromManyThreadsAreAllCounted() throws Exception {
    CoalescingCache<String, String> cache = builder().build();
    cache.fetch("k", k -> Load.commit("v"));
    int threads = 8;
    int perThread = 50_000;
    List<Thread> started = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      started.add(
          Thread.ofPlatform()
              .start(
                  () -> {
                    for (int i = 0; i < perThread; i++) {
                      cache.getIfPresent("k");
                      try {
                        cache.fetch("k", k -> Load.commit("other"));
                      } catch (InterruptedException e) {
                        throw new AssertionError(e);
                      }
                    }
                  }));
    }
    for (Thread t : started) {
      t.join();
    }

    long expected = (long) threads * perThread;
    assertThat(cache.stats().hits()).isEqualTo(expected);
    assertThat(cache.stats().loads()).isEqualTo(1);
  }

  @Test
  void callersOfAKeyBeingLoadedJoinTheLoadAndTheLoaderRunsOnce() throws Exception {
    CoalescingCache<String, String> cache = builder().build();
    Gate gate = new Gate();
    Loader<String, String> loader =
        k -> {
          gate.pass();
          return Load.commit("v");
        };
    Caller<Fetched<String>> leader = Caller.start(() -> cache.fetch("k", loader));
    gate.awaitStarted();
    Caller<Fetched<String>> joiner = Caller.start(() -> cache.fetch("k", loader));
    await().until(() -> cache.waitingCallers("k") == 2);
    gate.open();

    assertThat(valueOf(leader).source()).isEqualTo(Fetched.Source.LOADED);
    assertThat(valueOf(joiner)).isEqualTo(new Fetched<>("v", Fetched.Source.JOINED));
    assertThat(gate.runs).hasValue(1);
    assertThat(cache.stats().joins()).isEqualTo(1);
  }

  @Test
  void anUntimedLeaderRunsItsOwnLoadAndEveryOtherLoadRunsOnTheSharedLoaderThreads()
      throws Exception {
    CoalescingCache<String, String> byDefault = CoalescingCache.<String, String>builder().build();
    Loader<String, String> threadName = k -> Load.commit(Thread.currentThread().getName());
    assertThat(byDefault.config().loadOnCallingThread()).isTrue();

    // A platform caller without a timeout of its own: the load runs on its thread.
    Caller<String> platform =
        Caller.startOnPlatform("platform-caller", () -> byDefault.fetch("untimed", threadName).value());
    assertThat(valueOf(platform)).isEqualTo("platform-caller");
    platform.thread.join();

    // A virtual caller too from Java 24 on; before, a loader blocking in synchronized would pin it.
    String virtual = valueOf(Caller.start(() -> byDefault.fetch("virtual", threadName))).value();
    if (Runtime.version().feature() >= 24) {
      assertThat(virtual).isEmpty(); // Caller's virtual threads have no name
    } else {
      assertThat(virtual).startsWith("shepherd-cache-loader-");
    }

    // A caller with a timeout must be able to leave at it; async and refresh callers do not wait.
    assertThat(byDefault.fetch("timed", threadName, Duration.ofSeconds(30)).value())
        .startsWith("shepherd-cache-loader-");
    assertThat(byDefault.fetchAsync("async", threadName).get(30, TimeUnit.SECONDS).value())
        .startsWith("shepherd-cache-loader-");
    assertThat(byDefault.refresh("timed", threadName).get(30, TimeUnit.SECONDS).value())
        .startsWith("shepherd-cache-loader-");

    CoalescingCache<String, String> off =
        CoalescingCache.<String, String>builder().loadOnCallingThread(false).build();
    assertThat(off.fetch("untimed", threadName).value()).startsWith("shepherd-cache-loader-");
  }

  @Test
  void anExecutorOfYourOwnRunsEveryLoadUnlessTheCallingThreadIsAskedFor() throws Exception {
    AtomicInteger executed = new AtomicInteger();
    Executor ownThreads = task -> {
      executed.incrementAndGet();
      Thread.ofPlatform().name("own-executor").start(task);
    };
    Loader<String, String> threadName = k -> Load.commit(Thread.currentThread().getName());
    CoalescingCache<String, String> custom =
        CoalescingCache.<String, String>builder().executor(ownThreads).build();
    assertThat(custom.config().loadOnCallingThread()).isFalse();
    assertThat(custom.fetch("k", threadName).value()).isEqualTo("own-executor");
    assertThat(executed).hasValue(1);

    CoalescingCache<String, String> both = CoalescingCache.<String, String>builder()
        .executor(ownThreads).loadOnCallingThread(true).build();
    assertThat(both.fetch("k", threadName).value()).isEqualTo(Thread.currentThread().getName());
    assertThat(both.fetch("timed", threadName, Duration.ofSeconds(30)).value())
        .isEqualTo("own-executor");
    assertThat(executed).hasValue(2);
  }

  @Test
  void theCallingThreadNeedsTheLocalCourier() {
    Courier elsewhere = Courier.local(Runnable::run);
    CoalescingCache<String, String> cache = CoalescingCache.<String, String>builder()
        .courier(elsewhere).build();
    assertThat(cache.config().loadOnCallingThread()).isFalse();

    Courier own = new Courier() {
      @Override
      public <K, V> void dispatch(Courier.Job<K, V> job) {
        job.run();
      }
    };
    assertThatThrownBy(() -> CoalescingCache.<String, String>builder()
            .courier(own).loadOnCallingThread(true).build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("loadOnCallingThread needs the local courier");
  }

  /**
   * The leader that runs its own load is interrupted and its loader fails for it: that failure is
   * nobody else's answer. The leader leaves with InterruptedException; the joiner gets a value from
   * a second run of the loader, on a loader thread.
   */
  @Test
  void anInterruptedLeaderLeavesItsOwnLoadAndTheOthersGetALoadOnALoaderThread() throws Exception {
    CoalescingCache<String, String> cache = builder().cacheFailuresFor(Duration.ofMinutes(1)).build();
    Gate gate = new Gate();
    List<String> loaderThreads = new CopyOnWriteArrayList<>();
    Loader<String, String> loader =
        k -> {
          loaderThreads.add(Thread.currentThread().getName());
          if (loaderThreads.size() == 1) {
            gate.pass(); // the leader's run: only its interrupt ends it
          }
          return Load.commit("v" + loaderThreads.size());
        };
    CompletableFuture<Boolean> leaderInterruptStatus = new CompletableFuture<>();
    Thread leader = Thread.ofPlatform().name("leader").start(() -> {
      try {
        cache.fetch("k", loader);
        leaderInterruptStatus.completeExceptionally(new AssertionError("the leader was answered"));
      } catch (InterruptedException e) {
        leaderInterruptStatus.complete(Thread.currentThread().isInterrupted());
      } catch (Throwable t) {
        leaderInterruptStatus.completeExceptionally(t);
      }
    });
    gate.awaitStarted();
    Caller<Fetched<String>> joiner = Caller.start(() -> cache.fetch("k", loader));
    await().until(() -> cache.waitingCallers("k") == 2);

    leader.interrupt();

    assertThat(leaderInterruptStatus.get(30, TimeUnit.SECONDS))
        .as("cleared, as by any method that throws InterruptedException").isFalse();
    assertThat(valueOf(joiner)).isEqualTo(new Fetched<>("v2", Fetched.Source.JOINED));
    assertThat(loaderThreads).hasSize(2);
    assertThat(loaderThreads.get(0)).isEqualTo("leader");
    assertThat(loaderThreads.get(1)).startsWith("shepherd-cache-loader-");
    assertThat(cache.fetch("k", loader).source()).isEqualTo(Fetched.Source.HIT);
    assertThat(cache.stats().failures()).isZero();
    leader.join();
  }

  @Test
  void anInterruptedLeaderAloneLeavesAnAbandonedLoadCancelledWhenAskedAndStoredOtherwise()
      throws Exception {
    for (boolean cancel : new boolean[] {true, false}) {
      CoalescingCache<String, String> cache = builder().cancelWhenAbandoned(cancel).build();
      Gate gate = new Gate();
      AtomicInteger runs = new AtomicInteger();
      Loader<String, String> loader =
          k -> {
            if (runs.incrementAndGet() == 1) {
              gate.pass();
            }
            return Load.commit("v");
          };
      Caller<Fetched<String>> leader = Caller.startOnPlatform("leader", () -> cache.fetch("k", loader));
      gate.awaitStarted();
      leader.thread.interrupt();
      assertThat(failureOf(leader)).isInstanceOf(InterruptedException.class);
      leader.thread.join();
      if (cancel) {
        assertThat(cache.stats().abandonedLoads()).isEqualTo(1);
        assertThat(cache.waitingCallers("k")).isZero();
        assertThat(runs).as("cancelled, not run again").hasValue(1);
        assertThat(cache.getIfPresent("k")).isNull();
      } else {
        await().until(() -> "v".equals(cache.getIfPresent("k")));
        assertThat(runs).as("run again for the cache").hasValue(2);
        assertThat(cache.stats().abandonedLoads()).isZero();
      }
    }
  }

  /**
   * A leader arms its load timeout before it publishes its flight; a timeout that fires first
   * (here 1 ns, on the shared timer thread) must not leave an ended flight in the map, where every
   * later caller would join it and get its failure. Whether the timer fires before or after the
   * publication varies from iteration to iteration; every iteration checks that nothing is left.
   */
  @Test
  void aLoadTimeoutThatFiresAroundThePublicationLeavesNoFlightBehind() throws Exception {
    CoalescingCache<String, String> cache = CoalescingCache.<String, String>builder()
        .loadTimeout(Duration.ofNanos(1)).build();
    for (int i = 0; i < 1_000; i++) {
      String key = "k" + i;
      try {
        cache.fetch(key, k -> Load.commit("v"));
      } catch (LoadFailedException timedOut) {
        assertThat(timedOut).hasCauseInstanceOf(TimeoutException.class);
      }
      // The timer thread removes a flight it ended just after its waiters can see the outcome.
      await().pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(1)).atMost(Duration.ofSeconds(30))
          .until(() -> cache.toString().endsWith("loading=0]"));
    }
  }

  /** The load timeout answers the others while the leader's loader still runs on its thread. */
  @Test
  void theLoadTimeoutAnswersTheJoinersOfALoadRunningOnItsLeadersThread() throws Exception {
    CoalescingCache<String, String> cache = builder().loadTimeout(Duration.ofSeconds(5)).build();
    Gate gate = new Gate();
    AtomicBoolean interrupted = new AtomicBoolean();
    Loader<String, String> loader =
        k -> {
          try {
            gate.pass();
          } catch (InterruptedException e) {
            interrupted.set(true);
            throw e;
          }
          return Load.commit("late");
        };
    CompletableFuture<Throwable> leaderFailure = new CompletableFuture<>();
    AtomicBoolean leaderInterruptStatus = new AtomicBoolean();
    Thread leader = Thread.ofPlatform().start(() -> {
      try {
        cache.fetch("k", loader);
        leaderFailure.complete(null);
      } catch (Throwable t) {
        leaderInterruptStatus.set(Thread.currentThread().isInterrupted());
        leaderFailure.complete(t);
      }
    });
    gate.awaitStarted();
    Caller<Fetched<String>> joiner = Caller.start(() -> cache.fetch("k", loader));
    await().until(() -> cache.waitingCallers("k") == 2);

    ticker.advance(Duration.ofSeconds(5));
    cache.cleanUp();

    assertThat(failureOf(joiner)).isInstanceOf(LoadFailedException.class)
        .hasCauseInstanceOf(TimeoutException.class);
    assertThat(leaderFailure.get(30, TimeUnit.SECONDS)).isInstanceOf(LoadFailedException.class)
        .hasCauseInstanceOf(TimeoutException.class);
    assertThat(interrupted).isTrue();
    assertThat(leaderInterruptStatus).as("the flight's own interrupt is not left behind").isFalse();
    leader.join();
  }

  @Test
  void valueExpiresAfterTheDefaultTimeToLive() throws Exception {
    CoalescingCache<String, String> cache = builder().timeToLive(Duration.ofMinutes(5)).build();
    AtomicInteger runs = new AtomicInteger();
    Loader<String, String> loader = k -> Load.commit("v" + runs.incrementAndGet());
    cache.fetch("k", loader);

    ticker.advance(Duration.ofMinutes(5).minusNanos(1));
    assertThat(cache.fetch("k", loader).source()).isEqualTo(Fetched.Source.HIT);
    ticker.advance(Duration.ofNanos(1));
    assertThat(cache.fetch("k", loader)).isEqualTo(new Fetched<>("v2", Fetched.Source.LOADED));
  }

  @Test
  void commitWithTtlOverridesTheDefaultForThatEntry() throws Exception {
    CoalescingCache<String, String> cache = builder().timeToLive(Duration.ofHours(1)).build();
    cache.fetch("short", k -> Load.commit("s", Duration.ofSeconds(10)));
    cache.fetch("long", k -> Load.commit("l"));

    ticker.advance(Duration.ofSeconds(10));

    assertThat(cache.getIfPresent("short")).isNull();
    assertThat(cache.getIfPresent("long")).isEqualTo("l");
  }

  @Test
  void aLoadersOwnTtlLongerThanTheDefaultIsCutToTheDefault() throws Exception {
    CoalescingCache<String, String> cache = builder().timeToLive(Duration.ofMinutes(1)).build();
    cache.fetch("long", k -> Load.commit("l", Duration.ofHours(1)));

    ticker.advance(Duration.ofMinutes(1).minusNanos(1));
    assertThat(cache.getIfPresent("long")).isEqualTo("l");
    ticker.advance(Duration.ofNanos(1));

    assertThat(cache.getIfPresent("long")).isNull();
    assertThat(cache.fetch("long", k -> Load.commit("again")))
        .isEqualTo(new Fetched<>("again", Fetched.Source.LOADED));
  }

  /** With a default TTL (Caffeine's fixed expiry) a kept failure is checked on read. */
  @ParameterizedTest(name = "time to live {0} s, failures kept {1} s: kept {2} s")
  @CsvSource({"10, 300, 10", "300, 2, 2"})
  void aKeptFailureIsDroppedAtItsOwnTimeOrAtTheDefaultTtlWhicheverComesFirst(
      long ttlSeconds, long keepSeconds, long keptSeconds) throws Exception {
    CoalescingCache<String, String> cache = builder()
        .timeToLive(Duration.ofSeconds(ttlSeconds))
        .cacheFailuresFor(Duration.ofSeconds(keepSeconds))
        .build();
    assertThatThrownBy(() -> cache.fetch("k", k -> Load.fail(new IOException("down"))))
        .isInstanceOf(LoadFailedException.class);

    ticker.advance(Duration.ofSeconds(keptSeconds).minusNanos(1));
    assertThatThrownBy(() -> cache.fetch("k", k -> Load.commit("unused")))
        .isInstanceOf(LoadFailedException.class);
    assertThatThrownBy(() -> cache.fetchAsync("k", k -> Load.commit("unused")).join())
        .hasCauseInstanceOf(LoadFailedException.class);
    assertThat(cache.stats().cachedFailures()).isEqualTo(2);
    ticker.advance(Duration.ofNanos(1));

    assertThat(cache.fetchAsync("k", k -> Load.commit("up")).get(30, TimeUnit.SECONDS))
        .isEqualTo(new Fetched<>("up", Fetched.Source.LOADED));
  }

  @Test
  void aValueWithItsOwnTtlIsAHitCountedLikeAnyOther() throws Exception {
    CoalescingCache<String, String> cache = builder().timeToLive(Duration.ofHours(1)).build();
    cache.fetch("own", k -> Load.commit("o", Duration.ofMinutes(10)));
    cache.fetch("default", k -> Load.commit("d"));

    Fetched<String> own = cache.fetch("own", k -> Load.commit("x"));
    Fetched<String> ownAgain = cache.fetch("own", k -> Load.commit("x"), Duration.ofSeconds(1));
    Fetched<String> byDefault = cache.fetch("default", k -> Load.commit("x"));

    assertThat(own).isEqualTo(new Fetched<>("o", Fetched.Source.HIT)).isSameAs(ownAgain);
    assertThat(byDefault).isEqualTo(new Fetched<>("d", Fetched.Source.HIT));
    assertThat(cache.stats().hits()).isEqualTo(3);
  }

  @Test
  void commitWithTtlExpiresEvenWhenTheCacheHasNoDefaultTimeToLive() throws Exception {
    CoalescingCache<String, String> cache = builder().build();
    cache.fetch("k", k -> Load.commit("first", Duration.ofSeconds(10)));
    ticker.advance(Duration.ofSeconds(9));
    assertThat(cache.fetch("k", k -> Load.commit("second")).source()).isEqualTo(Fetched.Source.HIT);

    ticker.advance(Duration.ofSeconds(1));

    assertThat(cache.getIfPresent("k")).isNull();
    assertThat(cache.fetch("k", k -> Load.commit("second")))
        .isEqualTo(new Fetched<>("second", Fetched.Source.LOADED));
    assertThat(cache.fetch("k", k -> Load.commit("third")).source()).isEqualTo(Fetched.Source.HIT);
  }

  @Test
  void ignoreHandsTheValueToEveryWaiterWithoutStoringIt() throws Exception {
    CoalescingCache<String, String> cache = builder().build();
    Gate gate = new Gate();
    Loader<String, String> loader =
        k -> {
          gate.pass();
          return Load.ignore("once");
        };
    Caller<Fetched<String>> leader = Caller.start(() -> cache.fetch("k", loader));
    gate.awaitStarted();
    Caller<Fetched<String>> joiner = Caller.start(() -> cache.fetch("k", loader));
    await().until(() -> cache.waitingCallers("k") == 2);
    gate.open();

    assertThat(valueOf(leader).value()).isEqualTo("once");
    assertThat(valueOf(joiner).value()).isEqualTo("once");
    assertThat(cache.getIfPresent("k")).isNull();
    assertThat(cache.estimatedSize()).isZero();
  }

  @Test
  void nullValueFailsTheLoadWithAMessageNamingTheKey() {
    CoalescingCache<String, String> cache = builder().build();

    assertThatThrownBy(() -> cache.fetch("user-7", k -> Load.commit(null)))
        .isInstanceOf(LoadFailedException.class)
        .hasMessageContaining("user-7")
        .cause()
        .isInstanceOf(NullPointerException.class)
        .hasMessageContaining("user-7");
    assertThatThrownBy(() -> cache.fetch("user-8", k -> null))
        .isInstanceOf(LoadFailedException.class)
        .cause()
        .hasMessageContaining("user-8");
  }

  @Test
  void thrownExceptionIsTheSameAsFail() {
    CoalescingCache<String, String> cache = builder().build();
    IllegalStateException boom = new IllegalStateException("db down");

    assertThatThrownBy(
            () ->
                cache.fetch(
                    "k",
                    k -> {
                      throw boom;
                    }))
        .isInstanceOf(LoadFailedException.class)
        .hasMessageContaining("k")
        .hasCause(boom);
    assertThatThrownBy(() -> cache.fetch("k", k -> Load.fail(boom)))
        .isInstanceOf(LoadFailedException.class)
        .hasCause(boom);
  }

  @Test
  void loaderThrowingAnErrorFailsEveryWaiterInsteadOfHangingThem() throws Exception {
    CoalescingCache<String, String> cache = builder().build();
    Gate gate = new Gate();
    StackOverflowError error = new StackOverflowError("deep");
    Loader<String, String> loader =
        k -> {
          gate.pass();
          throw error;
        };
    Caller<Fetched<String>> leader = Caller.start(() -> cache.fetch("k", loader));
    gate.awaitStarted();
    Caller<Fetched<String>> joiner = Caller.start(() -> cache.fetch("k", loader));
    await().until(() -> cache.waitingCallers("k") == 2);
    gate.open();

    assertThat(failureOf(leader)).isInstanceOf(LoadFailedException.class).hasCause(error);
    assertThat(failureOf(joiner)).isInstanceOf(LoadFailedException.class).hasCause(error);
  }

  @Test
  void aFailureIsSharedByEveryWaiterEachWithItsOwnExceptionAndStack() throws Exception {
    CoalescingCache<String, String> cache = builder().build();
    Gate gate = new Gate();
    RuntimeException boom = new RuntimeException("boom");
    Loader<String, String> loader =
        k -> {
          gate.pass();
          throw boom;
        };
    Caller<Fetched<String>> leader = Caller.start(() -> cache.fetch("k", loader));
    gate.awaitStarted();
    Caller<Fetched<String>> joiner = Caller.start(() -> cache.fetch("k", loader));
    await().until(() -> cache.waitingCallers("k") == 2);
    gate.open();

    Throwable a = failureOf(leader);
    Throwable b = failureOf(joiner);
    assertThat(a).isNotSameAs(b).hasCause(boom);
    assertThat(b).hasCause(boom);
    assertThat(a.getStackTrace()).isNotEmpty();
    assertThat(a.getStackTrace()[0].getClassName()).isEqualTo(CoalescingCache.class.getName());
    // Each stack starts at the caller's own fetch call (made there, not deep in the wait), and the
    // message is the one built once for the failure.
    assertThat(a.getStackTrace()[0].getMethodName()).isEqualTo("fetch");
    assertThat(b.getStackTrace()[0].getMethodName()).isEqualTo("fetch");
    assertThat(a).hasMessage("load of key k failed: " + boom);
    assertThat(b.getMessage()).isSameAs(a.getMessage());
    assertThat(gate.runs).hasValue(1);
    assertThat(cache.stats().failures()).isEqualTo(1);
  }

  @Test
  void withoutNegativeCachingTheNextFetchAfterAFailureLoadsAgain() throws Exception {
    CoalescingCache<String, String> cache = builder().build();
    AtomicInteger runs = new AtomicInteger();
    Loader<String, String> failing =
        k -> {
          runs.incrementAndGet();
          throw new RuntimeException("no");
        };
    assertThatThrownBy(() -> cache.fetch("k", failing)).isInstanceOf(LoadFailedException.class);
    assertThatThrownBy(() -> cache.fetch("k", failing)).isInstanceOf(LoadFailedException.class);
    assertThat(runs).hasValue(2);
  }

  @Test
  void cacheFailuresForKeepsTheFailureAndAnswersWithoutALoadUntilItExpires() throws Exception {
    CoalescingCache<String, String> cache =
        builder().cacheFailuresFor(Duration.ofSeconds(5)).build();
    AtomicInteger runs = new AtomicInteger();
    RuntimeException boom = new RuntimeException("no");
    Loader<String, String> failing =
        k -> {
          runs.incrementAndGet();
          throw boom;
        };
    assertThatThrownBy(() -> cache.fetch("k", failing)).hasCause(boom);
    ticker.advance(Duration.ofSeconds(4));
    assertThatThrownBy(() -> cache.fetch("k", failing))
        .isInstanceOf(LoadFailedException.class)
        .hasCause(boom);
    assertThat(cache.fetchAsync("k", failing))
        .failsWithin(Duration.ofSeconds(5))
        .withThrowableOfType(ExecutionException.class)
        .havingCause()
        .isInstanceOf(LoadFailedException.class);
    assertThat(runs).hasValue(1);
    assertThat(cache.stats().cachedFailures()).isEqualTo(2);

    ticker.advance(Duration.ofSeconds(1));
    assertThat(cache.fetch("k", k -> Load.commit("ok")).source()).isEqualTo(Fetched.Source.LOADED);
  }

  @Test
  void aWaiterWhoseTimeoutPassesLeavesAndTheLoadIsStillStored() throws Exception {
    CoalescingCache<String, String> cache = builder().build();
    Gate gate = new Gate();
    Loader<String, String> loader =
        k -> {
          gate.pass();
          return Load.commit("v");
        };
    Caller<Fetched<String>> patient = Caller.start(() -> cache.fetch("k", loader));
    gate.awaitStarted();
    Caller<Fetched<String>> hasty =
        Caller.start(() -> cache.fetch("k", loader, Duration.ofMillis(100)));
    await().until(() -> cache.waitingCallers("k") == 2);

    ticker.advance(Duration.ofMillis(100));
    cache.cleanUp();

    assertThat(failureOf(hasty))
        .isInstanceOf(FetchTimeoutException.class)
        .hasMessageContaining("k")
        .hasMessageContaining("PT0.1S");
    assertThat(cache.waitingCallers("k")).isEqualTo(1);
    gate.open();
    assertThat(valueOf(patient).value()).isEqualTo("v");
    assertThat(cache.getIfPresent("k")).isEqualTo("v");
    assertThat(cache.stats().timeouts()).isEqualTo(1);
  }

  @Test
  void aDirectExecutorRunsTheLoadOnTheCallerThatStartsIt() throws Exception {
    CoalescingCache<String, String> cache = builder().executor(Runnable::run).build();
    List<Thread> loaderThreads = new ArrayList<>();
    Fetched<String> fetched = cache.fetch("k", k -> {
      loaderThreads.add(Thread.currentThread());
      return Load.commit("v");
    });

    assertThat(fetched).isEqualTo(new Fetched<>("v", Fetched.Source.LOADED));
    assertThat(loaderThreads).containsExactly(Thread.currentThread());
    assertThat(cache.fetch("k", k -> Load.commit("again")).source()).isEqualTo(Fetched.Source.HIT);
  }

  /** Regression: the caller's interrupt became a kept failure and its interrupt status was lost. */
  @Test
  void interruptingACallerThatRunsTheLoaderKeepsItsInterruptStatusAndTheFailureIsNotKept()
      throws Exception {
    CoalescingCache<String, String> cache =
        builder().executor(Runnable::run).cacheFailuresFor(Duration.ofMinutes(1)).build();
    Gate gate = new Gate();
    Loader<String, String> loader =
        k -> {
          gate.pass();
          return Load.commit("v");
        };
    List<Throwable> leaderCause = new ArrayList<>();
    Caller<Boolean> leader =
        Caller.start(
            () -> {
              try {
                cache.fetch("k", loader);
                return false;
              } catch (LoadFailedException e) {
                leaderCause.add(e.getCause());
                return Thread.currentThread().isInterrupted();
              }
            });
    gate.awaitStarted();
    Caller<Fetched<String>> joiner = Caller.start(() -> cache.fetch("k", loader));
    await().until(() -> cache.waitingCallers("k") == 2);

    leader.thread.interrupt();

    assertThat(valueOf(leader)).as("the leader's interrupt status").isTrue();
    assertThat(leaderCause).singleElement().isInstanceOf(InterruptedException.class);
    assertThat(failureOf(joiner)).isInstanceOf(LoadFailedException.class);
    assertThat(cache.fetch("k", k -> Load.commit("again")))
        .isEqualTo(new Fetched<>("again", Fetched.Source.LOADED));
  }

  @Test
  void aVirtualMachineErrorIsNotKeptByCacheFailuresFor() throws Exception {
    CoalescingCache<String, String> cache =
        builder().cacheFailuresFor(Duration.ofMinutes(1)).build();
    OutOfMemoryError oom = new OutOfMemoryError("simulated");

    assertThatThrownBy(
            () ->
                cache.fetch(
                    "k",
                    k -> {
                      throw oom;
                    }))
        .isInstanceOf(LoadFailedException.class)
        .cause()
        .isSameAs(oom);
    assertThat(cache.fetch("k", k -> Load.commit("v")))
        .isEqualTo(new Fetched<>("v", Fetched.Source.LOADED));
  }

  @Test
  void anExecutorsRejectionIsNotKeptByCacheFailuresFor() throws Exception {
    AtomicBoolean reject = new AtomicBoolean(true);
    CoalescingCache<String, String> cache =
        builder()
            .cacheFailuresFor(Duration.ofMinutes(1))
            .executor(
                task -> {
                  if (reject.getAndSet(false)) {
                    throw new RejectedExecutionException("full");
                  }
                  task.run();
                })
            .build();

    assertThatThrownBy(() -> cache.fetch("k", k -> Load.commit("v")))
        .isInstanceOf(LoadFailedException.class)
        .cause()
        .isInstanceOf(RejectedExecutionException.class);
    assertThat(cache.fetch("k", k -> Load.commit("v")))
        .isEqualTo(new Fetched<>("v", Fetched.Source.LOADED));
  }

  @Test
  void aFailureOfALoaderWhoseThreadWasInterruptedIsNotKept() throws Exception {
    CoalescingCache<String, String> cache =
        builder().executor(Runnable::run).cacheFailuresFor(Duration.ofMinutes(1)).build();

    boolean[] interruptedAfter = new boolean[1];
    assertThatThrownBy(
            () -> {
              try {
                cache.fetch(
                    "k",
                    k -> {
                      Thread.currentThread().interrupt(); // a loader that wraps its interrupt
                      throw new IllegalStateException("query cancelled");
                    });
              } finally {
                interruptedAfter[0] = Thread.interrupted();
              }
            })
        .isInstanceOf(LoadFailedException.class);
    assertThat(interruptedAfter[0]).isTrue();
    assertThat(cache.fetch("k", k -> Load.commit("v")))
        .isEqualTo(new Fetched<>("v", Fetched.Source.LOADED));
  }

  @Test
  void interruptingAWaitingThreadRemovesThatWaiterOnly() throws Exception {
    CoalescingCache<String, String> cache = builder().build();
    Gate gate = new Gate();
    Loader<String, String> loader =
        k -> {
          gate.pass();
          return Load.commit("v");
        };
    Caller<Fetched<String>> leader = Caller.start(() -> cache.fetch("k", loader));
    gate.awaitStarted();
    Caller<Fetched<String>> other = Caller.start(() -> cache.fetch("k", loader));
    await().until(() -> cache.waitingCallers("k") == 2);

    other.thread.interrupt();

    assertThat(failureOf(other)).isInstanceOf(InterruptedException.class).hasMessageContaining("k");
    assertThat(cache.waitingCallers("k")).isEqualTo(1);
    gate.open();
    assertThat(valueOf(leader).value()).isEqualTo("v");
    assertThat(gate.runs).hasValue(1);
  }

  @Test
  void cancelWhenAbandonedInterruptsTheLoaderWhenTheLastWaiterLeavesAndStoresNothing()
      throws Exception {
    CoalescingCache<String, String> cache = builder().cancelWhenAbandoned(true).build();
    Gate gate = new Gate();
    AtomicBoolean loaderInterrupted = new AtomicBoolean();
    Loader<String, String> loader =
        k -> {
          try {
            gate.pass();
          } catch (InterruptedException e) {
            loaderInterrupted.set(true);
            throw e;
          }
          return Load.commit("v");
        };
    Caller<Fetched<String>> a = Caller.start(() -> cache.fetch("k", loader, Duration.ofSeconds(1)));
    gate.awaitStarted();
    Caller<Fetched<String>> b = Caller.start(() -> cache.fetch("k", loader, Duration.ofSeconds(2)));
    await().until(() -> cache.waitingCallers("k") == 2);

    ticker.advance(Duration.ofSeconds(1));
    cache.cleanUp();
    assertThat(failureOf(a)).isInstanceOf(FetchTimeoutException.class);
    assertThat(loaderInterrupted).isFalse();
    b.thread.interrupt();
    assertThat(failureOf(b)).isInstanceOf(InterruptedException.class);

    await().untilTrue(loaderInterrupted);
    assertThat(cache.getIfPresent("k")).isNull();
    assertThat(cache.stats().abandonedLoads()).isEqualTo(1);
    assertThat(cache.fetch("k", k -> Load.commit("fresh")).source())
        .isEqualTo(Fetched.Source.LOADED);
  }

  @Test
  void withoutCancelWhenAbandonedALoadWhoseWaitersAllLeftIsStillStored() throws Exception {
    CoalescingCache<String, String> cache = builder().build();
    Gate gate = new Gate();
    Loader<String, String> loader =
        k -> {
          gate.pass();
          return Load.commit("v");
        };
    Caller<Fetched<String>> only = Caller.start(() -> cache.fetch("k", loader));
    gate.awaitStarted();
    only.thread.interrupt();
    assertThat(failureOf(only)).isInstanceOf(InterruptedException.class);

    gate.open();
    await().until(() -> "v".equals(cache.getIfPresent("k")));
    assertThat(cache.stats().abandonedLoads()).isZero();
  }

  @Test
  void serveStaleOnErrorAnswersTheExpiredValueMarkedStaleWhenTheLoadFails() throws Exception {
    CoalescingCache<String, String> cache =
        builder().timeToLive(Duration.ofMinutes(1)).serveStaleOnError(Duration.ofMinutes(10)).build();
    cache.fetch("k", k -> Load.commit("old"));
    ticker.advance(Duration.ofMinutes(2));
    AtomicInteger runs = new AtomicInteger();

    Fetched<String> answer =
        cache.fetch(
            "k",
            k -> {
              runs.incrementAndGet();
              throw new RuntimeException("source down");
            });

    assertThat(answer).isEqualTo(new Fetched<>("old", Fetched.Source.STALE));
    assertThat(runs).hasValue(1);
    assertThat(cache.stats().staleAnswers()).isEqualTo(1);
    assertThat(cache.getIfPresent("k")).isNull();
  }

  @Test
  void anExpiredValueIsNeverAHitEvenWithinTheStaleGrace() throws Exception {
    CoalescingCache<String, String> cache =
        builder().timeToLive(Duration.ofMinutes(1)).serveStaleOnError(Duration.ofMinutes(10)).build();
    cache.fetch("k", k -> Load.commit("old"));
    ticker.advance(Duration.ofMinutes(1));

    assertThat(cache.fetch("k", k -> Load.commit("new")))
        .isEqualTo(new Fetched<>("new", Fetched.Source.LOADED));
  }

  @Test
  void staleValueIsGoneAfterTheGraceAndTheFailureReachesTheCaller() throws Exception {
    CoalescingCache<String, String> cache =
        builder().timeToLive(Duration.ofMinutes(1)).serveStaleOnError(Duration.ofMinutes(10)).build();
    cache.fetch("k", k -> Load.commit("old"));
    ticker.advance(Duration.ofMinutes(11));

    assertThatThrownBy(() -> cache.fetch("k", k -> Load.fail(new RuntimeException("down"))))
        .isInstanceOf(LoadFailedException.class);
  }

  @Test
  void keptFailureAnswersWithTheStaleValueWithoutALoad() throws Exception {
    CoalescingCache<String, String> cache =
        builder()
            .timeToLive(Duration.ofMinutes(1))
            .serveStaleOnError(Duration.ofMinutes(10))
            .cacheFailuresFor(Duration.ofSeconds(30))
            .build();
    cache.fetch("k", k -> Load.commit("old"));
    ticker.advance(Duration.ofMinutes(2));
    AtomicInteger runs = new AtomicInteger();
    Loader<String, String> failing =
        k -> {
          runs.incrementAndGet();
          throw new RuntimeException("down");
        };

    assertThat(cache.fetch("k", failing).source()).isEqualTo(Fetched.Source.STALE);
    assertThat(cache.fetch("k", failing)).isEqualTo(new Fetched<>("old", Fetched.Source.STALE));
    assertThat(runs).hasValue(1);
  }

  @Test
  void refreshReloadsInTheBackgroundWhileCallersGetTheOldValue() throws Exception {
    CoalescingCache<String, String> cache = builder().build();
    cache.fetch("k", k -> Load.commit("old"));
    Gate gate = new Gate();
    Loader<String, String> reloader =
        k -> {
          gate.pass();
          return Load.commit("new");
        };

    CompletableFuture<Fetched<String>> refreshed = cache.refresh("k", reloader);
    gate.awaitStarted();
    assertThat(cache.fetch("k", reloader)).isEqualTo(new Fetched<>("old", Fetched.Source.HIT));
    gate.open();

    assertThat(refreshed.get(30, TimeUnit.SECONDS))
        .isEqualTo(new Fetched<>("new", Fetched.Source.LOADED));
    assertThat(cache.fetch("k", reloader).value()).isEqualTo("new");
    assertThat(gate.runs).hasValue(1);
  }

  @Test
  void refreshJoinsALoadThatIsAlreadyRunning() throws Exception {
    CoalescingCache<String, String> cache = builder().build();
    Gate gate = new Gate();
    Loader<String, String> loader =
        k -> {
          gate.pass();
          return Load.commit("v");
        };
    Caller<Fetched<String>> fetcher = Caller.start(() -> cache.fetch("k", loader));
    gate.awaitStarted();

    CompletableFuture<Fetched<String>> refreshed = cache.refresh("k", loader);
    assertThat(cache.waitingCallers("k")).isEqualTo(2);
    gate.open();

    assertThat(refreshed.get(30, TimeUnit.SECONDS))
        .isEqualTo(new Fetched<>("v", Fetched.Source.JOINED));
    assertThat(valueOf(fetcher).source()).isEqualTo(Fetched.Source.LOADED);
    assertThat(gate.runs).hasValue(1);
  }

  @Test
  void failedRefreshLeavesTheFreshValueInPlace() throws Exception {
    CoalescingCache<String, String> cache =
        builder().cacheFailuresFor(Duration.ofMinutes(1)).build();
    cache.fetch("k", k -> Load.commit("old"));

    CompletableFuture<Fetched<String>> refreshed =
        cache.refresh("k", k -> Load.fail(new RuntimeException("down")));

    assertThat(refreshed)
        .failsWithin(Duration.ofSeconds(30))
        .withThrowableOfType(ExecutionException.class)
        .havingCause()
        .isInstanceOf(LoadFailedException.class);
    assertThat(cache.getIfPresent("k")).isEqualTo("old");
  }

  /** Regression: Caffeine counted the untouched entry of a failed load as a write. */
  @ParameterizedTest(name = "failures kept: {0}")
  @CsvSource({"false", "true"})
  void aFailedRefreshDoesNotStretchTheTimeToLiveOfTheStoredValue(boolean keepFailures)
      throws Exception {
    CoalescingCache.Builder<String, String> b = builder().timeToLive(Duration.ofSeconds(60));
    if (keepFailures) {
      b.cacheFailuresFor(Duration.ofSeconds(5));
    }
    CoalescingCache<String, String> cache = b.build();
    cache.put("k", "old");
    ticker.advance(Duration.ofSeconds(50));

    assertThat(cache.refresh("k", k -> Load.fail(new IOException("down"))))
        .failsWithin(Duration.ofSeconds(30))
        .withThrowableOfType(ExecutionException.class)
        .havingCause()
        .isInstanceOf(LoadFailedException.class);
    ticker.advance(Duration.ofSeconds(20));

    assertThat(cache.getIfPresent("k")).isNull();
    assertThat(cache.fetch("k", k -> Load.commit("new")))
        .isEqualTo(new Fetched<>("new", Fetched.Source.LOADED));
  }

  /** Regression: an invalidated load's commit restarted the time to live of the newer value. */
  @ParameterizedTest(name = "invalidated load fails: {0}")
  @CsvSource({"false", "true"})
  void anInvalidatedLoadDoesNotStretchTheTimeToLiveOfANewerValue(boolean fails)
      throws Exception {
    CoalescingCache<String, String> cache =
        builder()
            .timeToLive(Duration.ofSeconds(60))
            .cacheFailuresFor(Duration.ofSeconds(30))
            .loadTimeout(Duration.ofMinutes(5))
            .build();
    Gate gate = new Gate();
    CompletableFuture<Fetched<String>> invalidated =
        cache.fetchAsync(
            "k",
            k -> {
              gate.pass();
              return fails ? Load.fail(new IOException("down")) : Load.commit("before");
            });
    gate.awaitStarted();
    cache.invalidate("k");
    cache.put("k", "newer");
    ticker.advance(Duration.ofSeconds(50));

    gate.open();
    invalidated.handle((value, error) -> null).get(30, TimeUnit.SECONDS);
    assertThat(invalidated.isCompletedExceptionally()).isEqualTo(fails);
    assertThat(cache.getIfPresent("k")).isEqualTo("newer");
    ticker.advance(Duration.ofSeconds(20));

    assertThat(cache.getIfPresent("k")).isNull();
  }

  @Test
  void invalidateDuringALoadHandsItsResultToItsWaitersButDoesNotStoreIt() throws Exception {
    CoalescingCache<String, String> cache = builder().build();
    Gate gate = new Gate();
    Loader<String, String> loader =
        k -> {
          gate.pass();
          return Load.commit("before-write");
        };
    Caller<Fetched<String>> waiter = Caller.start(() -> cache.fetch("k", loader));
    gate.awaitStarted();

    cache.invalidate("k");
    Fetched<String> afterInvalidate = cache.fetch("k", k -> Load.commit("after-write"));
    gate.open();

    assertThat(valueOf(waiter)).isEqualTo(new Fetched<>("before-write", Fetched.Source.LOADED));
    assertThat(afterInvalidate).isEqualTo(new Fetched<>("after-write", Fetched.Source.LOADED));
    await().until(() -> cache.waitingCallers("k") == 0);
    assertThat(cache.getIfPresent("k")).isEqualTo("after-write");
  }

  @Test
  void invalidateAllDuringALoadDoesNotLetItStore() throws Exception {
    CoalescingCache<String, String> cache = builder().build();
    Gate gate = new Gate();
    Caller<Fetched<String>> waiter =
        Caller.start(
            () ->
                cache.fetch(
                    "k",
                    k -> {
                      gate.pass();
                      return Load.commit("v");
                    }));
    gate.awaitStarted();
    cache.put("other", "x");

    cache.invalidateAll();
    gate.open();

    assertThat(valueOf(waiter).value()).isEqualTo("v");
    assertThat(cache.getIfPresent("k")).isNull();
    assertThat(cache.getIfPresent("other")).isNull();
  }

  @Test
  void cancellingAnAsyncFetchRemovesThatCallerOnly() throws Exception {
    CoalescingCache<String, String> cache = builder().cancelWhenAbandoned(true).build();
    Gate gate = new Gate();
    Loader<String, String> loader =
        k -> {
          gate.pass();
          return Load.commit("v");
        };
    CompletableFuture<Fetched<String>> first = cache.fetchAsync("k", loader);
    CompletableFuture<Fetched<String>> second = cache.fetchAsync("k", loader);
    gate.awaitStarted();
    assertThat(cache.waitingCallers("k")).isEqualTo(2);

    assertThat(first.cancel(true)).isTrue();

    assertThat(cache.waitingCallers("k")).isEqualTo(1);
    gate.open();
    assertThat(second.get(30, TimeUnit.SECONDS))
        .isEqualTo(new Fetched<>("v", Fetched.Source.JOINED));
    assertThatThrownBy(first::join).isInstanceOf(CancellationException.class);
    assertThat(cache.getIfPresent("k")).isEqualTo("v");
  }

  /** Three async callers of "k" on one held load: index 0 started it, 1 and 2 joined it. */
  private static List<CompletableFuture<Fetched<String>>> threeAsyncCallers(
      CoalescingCache<String, String> cache, Gate gate) throws InterruptedException {
    Loader<String, String> loader =
        k -> {
          gate.pass();
          return Load.commit("v");
        };
    List<CompletableFuture<Fetched<String>>> callers = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      callers.add(cache.fetchAsync("k", loader));
    }
    gate.awaitStarted();
    assertThat(cache.waitingCallers("k")).isEqualTo(3);
    return callers;
  }

  /** The two callers that stayed get the one load's value, and it is stored. */
  private static void theOthersGetTheValueOfOneLoad(
      CoalescingCache<String, String> cache,
      Gate gate,
      CompletableFuture<Fetched<String>> loaded,
      CompletableFuture<Fetched<String>> joined)
      throws Exception {
    gate.open();
    assertThat(loaded.get(30, TimeUnit.SECONDS)).isEqualTo(new Fetched<>("v", Fetched.Source.LOADED));
    assertThat(joined.get(30, TimeUnit.SECONDS)).isEqualTo(new Fetched<>("v", Fetched.Source.JOINED));
    assertThat(gate.runs).hasValue(1);
    assertThat(cache.stats().loads()).isEqualTo(1);
    assertThat(cache.getIfPresent("k")).isEqualTo("v");
  }

  @Test
  void completingAnAsyncFetchRemovesThatCallerOnly() throws Exception {
    CoalescingCache<String, String> cache = builder().cancelWhenAbandoned(true).build();
    Gate gate = new Gate();
    List<CompletableFuture<Fetched<String>>> callers = threeAsyncCallers(cache, gate);
    Fetched<String> own = new Fetched<>("mine", Fetched.Source.HIT);

    assertThat(callers.get(1).complete(own)).isTrue();

    assertThat(cache.waitingCallers("k")).isEqualTo(2);
    theOthersGetTheValueOfOneLoad(cache, gate, callers.get(0), callers.get(2));
    assertThat(callers.get(1)).isCompletedWithValue(own);
  }

  @Test
  void completingAnAsyncFetchExceptionallyRemovesThatCallerOnly() throws Exception {
    CoalescingCache<String, String> cache = builder().cancelWhenAbandoned(true).build();
    Gate gate = new Gate();
    List<CompletableFuture<Fetched<String>>> callers = threeAsyncCallers(cache, gate);
    IllegalStateException own = new IllegalStateException("given up");

    assertThat(callers.get(1).completeExceptionally(own)).isTrue();

    assertThat(cache.waitingCallers("k")).isEqualTo(2);
    theOthersGetTheValueOfOneLoad(cache, gate, callers.get(0), callers.get(2));
    assertThat(callers.get(1)).isCompletedExceptionally();
    assertThatThrownBy(callers.get(1)::join).hasCause(own);
  }

  @Test
  void orTimeoutOnAnAsyncFetchRemovesThatCallerOnly() throws Exception {
    CoalescingCache<String, String> cache = builder().cancelWhenAbandoned(true).build();
    Gate gate = new Gate();
    List<CompletableFuture<Fetched<String>>> callers = threeAsyncCallers(cache, gate);

    // The load is held until the gate opens, so this timeout passes first whatever the machine does.
    CompletableFuture<Fetched<String>> timedOut = callers.get(1).orTimeout(1, TimeUnit.MILLISECONDS);

    await().until(() -> cache.waitingCallers("k") < 3);
    assertThat(cache.waitingCallers("k")).isEqualTo(2);
    theOthersGetTheValueOfOneLoad(cache, gate, callers.get(0), callers.get(2));
    assertThatThrownBy(timedOut::join).hasCauseInstanceOf(TimeoutException.class);
  }

  @Test
  void fetchAsyncOnAHitIsAlreadyComplete() throws Exception {
    CoalescingCache<String, String> cache = builder().build();
    cache.put("k", "v");

    CompletableFuture<Fetched<String>> future = cache.fetchAsync("k", k -> Load.commit("other"));

    assertThat(future).isCompletedWithValue(new Fetched<>("v", Fetched.Source.HIT));
  }

  @Test
  void cancellingTheLastAsyncCallerAbandonsTheLoad() throws Exception {
    CoalescingCache<String, String> cache = builder().cancelWhenAbandoned(true).build();
    Gate gate = new Gate();
    AtomicBoolean interrupted = new AtomicBoolean();
    CompletableFuture<Fetched<String>> only =
        cache.fetchAsync(
            "k",
            k -> {
              try {
                gate.pass();
              } catch (InterruptedException e) {
                interrupted.set(true);
                throw e;
              }
              return Load.commit("v");
            });
    gate.awaitStarted();

    only.cancel(false);

    await().untilTrue(interrupted);
    assertThat(cache.getIfPresent("k")).isNull();
    assertThat(cache.stats().abandonedLoads()).isEqualTo(1);
  }

  @Test
  void aLoaderThatNeverReturnsFailsItsWaitersAtTheLoadTimeout() throws Exception {
    CoalescingCache<String, String> cache = builder().loadTimeout(Duration.ofSeconds(10)).build();
    Gate gate = new Gate();
    Loader<String, String> stuck =
        k -> {
          gate.pass();
          return Load.commit("never");
        };
    Caller<Fetched<String>> blocking = Caller.start(() -> cache.fetch("k", stuck));
    gate.awaitStarted();
    CompletableFuture<Fetched<String>> async = cache.fetchAsync("k", stuck);
    await().until(() -> cache.waitingCallers("k") == 2);

    ticker.advance(Duration.ofSeconds(10));
    cache.cleanUp();

    assertThat(failureOf(blocking))
        .isInstanceOf(LoadFailedException.class)
        .cause()
        .isInstanceOf(TimeoutException.class)
        .hasMessageContaining("PT10S");
    assertThat(async)
        .failsWithin(Duration.ofSeconds(30))
        .withThrowableOfType(ExecutionException.class)
        .havingCause()
        .isInstanceOf(LoadFailedException.class);
    assertThat(cache.fetch("k", k -> Load.commit("next")).source())
        .isEqualTo(Fetched.Source.LOADED);
  }

  /**
   * Regression: the shared timer thread completed the futures of a timed-out load, so a dependent
   * that blocked there held up the load timeouts of every cache. Each cache has its own fake
   * ticker; the timer polls it (a load timeout of 50 ms re-checks every 50 ms of real time), so
   * advancing a ticker lets the timer, and only the timer, end that cache's load.
   */
  @Test
  void aBlockingDependentOfATimedOutLoadDoesNotDelayAnotherCachesLoadTimeout() throws Exception {
    FakeTicker tickerA = new FakeTicker();
    FakeTicker tickerB = new FakeTicker();
    CoalescingCache<String, String> a =
        CoalescingCache.<String, String>builder()
            .ticker(tickerA)
            .loadTimeout(Duration.ofMillis(50))
            .build();
    CoalescingCache<String, String> b =
        CoalescingCache.<String, String>builder()
            .ticker(tickerB)
            .loadTimeout(Duration.ofMillis(50))
            .build();
    Gate gateA = new Gate();
    Gate gateB = new Gate();
    CountDownLatch inDependent = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    List<String> dependentThread = new CopyOnWriteArrayList<>();
    CompletableFuture<Fetched<String>> fromA =
        a.fetchAsync(
            "k",
            k -> {
              gateA.pass();
              return Load.commit("never");
            });
    CompletableFuture<Void> blockingDependent =
        fromA.handle(
            (value, error) -> {
              dependentThread.add(Thread.currentThread().getName());
              inDependent.countDown();
              try {
                release.await();
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
              return null;
            });
    gateA.awaitStarted();
    tickerA.advance(Duration.ofMillis(50));
    assertThat(inDependent.await(30, TimeUnit.SECONDS)).as("A's dependent runs").isTrue();

    try {
      CompletableFuture<Fetched<String>> fromB =
          b.fetchAsync(
              "k",
              k -> {
                gateB.pass();
                return Load.commit("never");
              });
      gateB.awaitStarted();
      tickerB.advance(Duration.ofMillis(50));

      assertThat(fromB)
          .failsWithin(Duration.ofSeconds(30))
          .withThrowableOfType(ExecutionException.class)
          .havingCause()
          .isInstanceOf(LoadFailedException.class)
          .havingCause()
          .isInstanceOf(TimeoutException.class);
      assertThat(dependentThread).singleElement().isNotEqualTo("shepherd-cache-timer");
    } finally {
      release.countDown();
    }
    blockingDependent.get(30, TimeUnit.SECONDS);
  }

  @Test
  void aBlockingWaiterEnforcesTheLoadTimeoutItselfWithoutCleanUp() throws Exception {
    CoalescingCache<String, String> cache = builder().loadTimeout(Duration.ofSeconds(10)).build();
    Gate gate = new Gate();
    Loader<String, String> stuck =
        k -> {
          gate.pass();
          return Load.commit("never");
        };
    Caller<Fetched<String>> first = Caller.start(() -> cache.fetch("k", stuck));
    gate.awaitStarted();
    ticker.advance(Duration.ofSeconds(10));

    // A caller arriving after the deadline finds the load overdue and fails it.
    assertThatThrownBy(() -> cache.fetch("k", stuck)).isInstanceOf(LoadFailedException.class);
    assertThat(failureOf(first)).isInstanceOf(LoadFailedException.class);
  }

  /**
   * The write-through race: a load reads the source, the application writes a newer value and
   * puts it, then the load commits what it read. The put must win: the load's waiters get what it
   * loaded, and the cache keeps the newer value. The load used to overwrite it.
   */
  @Test
  void aValuePutWhileALoadRunsIsNotOverwrittenByTheLoad() throws Exception {
    CoalescingCache<String, String> cache = builder().build();
    CountDownLatch loading = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    CompletableFuture<Fetched<String>> load = new CompletableFuture<>();
    Thread.ofVirtual().start(() -> {
      try {
        load.complete(cache.fetch("k", k -> {
          loading.countDown();
          release.await();
          return Load.commit("read before the write");
        }));
      } catch (Throwable t) {
        load.completeExceptionally(t);
      }
    });
    assertThat(loading.await(30, TimeUnit.SECONDS)).isTrue();

    cache.put("k", "written");
    release.countDown();

    assertThat(load.get(30, TimeUnit.SECONDS).value()).as("the load's own caller").isEqualTo("read before the write");
    assertThat(cache.getIfPresent("k")).isEqualTo("written");
    assertThat(cache.fetch("k", k -> Load.commit("loaded again")).value()).isEqualTo("written");
  }

  @Test
  void theCourierTakesAValueStoredMeanwhileInsteadOfLoadingAgain() throws Exception {
    AtomicInteger runs = new AtomicInteger();
    CoalescingCache<String, String>[] holder = newArray();
    Courier storesFirst =
        new Courier() {
          @Override
          public <K, V> void dispatch(Courier.Job<K, V> job) {
            // A load that finished between this caller's miss and its flight: simulate with put.
            holder[0].put("k", "stored-meanwhile");
            Courier.local(Runnable::run).dispatch(job);
          }
        };
    CoalescingCache<String, String> cache = builder().courier(storesFirst).build();
    holder[0] = cache;

    Fetched<String> fetched =
        cache.fetch(
            "k",
            k -> {
              runs.incrementAndGet();
              return Load.commit("loaded");
            });

    assertThat(fetched).isEqualTo(new Fetched<>("stored-meanwhile", Fetched.Source.HIT));
    assertThat(runs).hasValue(0);
  }

  @Test
  void aCourierMayCompleteAJobWithAResultObtainedElsewhere() throws Exception {
    Courier remote =
        new Courier() {
          @Override
          @SuppressWarnings("unchecked") // this test's cache holds strings
          public <K, V> void dispatch(Courier.Job<K, V> job) {
            assertThat(job.isRefresh()).isFalse();
            job.complete((Load<V>) Load.commit("from-another-jvm:" + job.key()));
          }
        };
    CoalescingCache<String, String> cache = builder().courier(remote).build();

    assertThat(cache.fetch("k", k -> Load.commit("local")))
        .isEqualTo(new Fetched<>("from-another-jvm:k", Fetched.Source.LOADED));
    assertThat(cache.getIfPresent("k")).isEqualTo("from-another-jvm:k");
  }

  @Test
  void aCourierThatThrowsFailsTheLoadInsteadOfHangingTheCaller() {
    Courier broken =
        new Courier() {
          @Override
          public <K, V> void dispatch(Courier.Job<K, V> job) {
            throw new IllegalStateException("no capacity");
          }
        };
    CoalescingCache<String, String> cache = builder().courier(broken).build();

    assertThatThrownBy(() -> cache.fetch("k", k -> Load.commit("v")))
        .isInstanceOf(LoadFailedException.class)
        .hasRootCauseMessage("no capacity");
  }

  @Test
  void statsCountEachKindOfAnswer() throws Exception {
    CoalescingCache<String, String> cache = builder().build();
    cache.fetch("a", k -> Load.commit("1"));
    cache.fetch("a", k -> Load.commit("1"));
    assertThatThrownBy(() -> cache.fetch("b", k -> Load.fail(new RuntimeException())))
        .isInstanceOf(LoadFailedException.class);

    assertThat(cache.stats()).isEqualTo(new CacheStats(1, 2, 0, 1, 0, 0, 0, 0));
  }

  @Test
  void withStatsOffNothingIsCounted() throws Exception {
    CoalescingCache<String, String> cache = builder().recordStats(false).build();
    cache.fetch("a", k -> Load.commit("1"));
    Fetched<String> hit = cache.fetch("a", k -> Load.commit("1"));
    cache.fetchAsync("a", k -> Load.commit("1")).join();
    assertThatThrownBy(() -> cache.fetch("b", k -> Load.fail(new RuntimeException())))
        .isInstanceOf(LoadFailedException.class);

    assertThat(hit).isEqualTo(new Fetched<>("1", Fetched.Source.HIT));
    assertThat(cache.stats()).isEqualTo(new CacheStats(0, 0, 0, 0, 0, 0, 0, 0));
  }

  @Test
  void withStatsOnEveryHitIsCounted() throws Exception {
    CoalescingCache<String, String> cache = builder().recordStats(true).build();
    cache.fetch("a", k -> Load.commit("1"));
    for (int i = 0; i < 1_000; i++) {
      cache.fetch("a", k -> Load.commit("1"));
      cache.fetch("a", k -> Load.commit("1"), Duration.ofSeconds(1));
      cache.fetchAsync("a", k -> Load.commit("1")).join();
    }

    assertThat(cache.stats().hits()).isEqualTo(3_000);
    assertThat(cache.stats().loads()).isEqualTo(1);
  }

  /** Bytes this thread allocates for 10,000 hits of one key, after 20,000 to warm the path up. */
  private static long bytesAllocatedByHits(
      CoalescingCache<String, String> cache, Loader<String, String> loader) throws Exception {
    cache.fetch("hot", loader);
    com.sun.management.ThreadMXBean threads =
        (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
    long self = Thread.currentThread().threadId();
    for (int i = 0; i < 20_000; i++) {
      cache.fetch("hot", loader);
    }
    long before = threads.getThreadAllocatedBytes(self);
    for (int i = 0; i < 10_000; i++) {
      cache.fetch("hot", loader);
    }
    return threads.getThreadAllocatedBytes(self) - before;
  }

  @Test
  void aHitWithStatsOffAllocatesNothing() throws Exception {
    CoalescingCache<String, String> cache =
        CoalescingCache.<String, String>builder().maximumSize(100).recordStats(false).build();
    Loader<String, String> loader = k -> Load.commit("v");
    long allocated = bytesAllocatedByHits(cache, loader);

    assertThat(allocated).isLessThan(1_000);
  }

  @Test
  void aHitWithTheDefaultTimeToLiveAllocatesNothing() throws Exception {
    CoalescingCache<String, String> cache =
        CoalescingCache.<String, String>builder()
            .maximumSize(100)
            .timeToLive(Duration.ofHours(1))
            .build();
    Loader<String, String> loader = k -> Load.commit("v");
    long allocated = bytesAllocatedByHits(cache, loader);

    assertThat(cache.fetch("hot", loader).source()).isEqualTo(Fetched.Source.HIT);
    assertThat(allocated).isLessThan(1_000);
  }

  /** A ticker that counts its reads, over the test's fake one. */
  private Ticker countingReads(AtomicLong reads) {
    return () -> {
      reads.incrementAndGet();
      return ticker.read();
    };
  }

  /** Hits "k" 1,000 times each by fetch, fetch with a timeout and fetchAsync. */
  private static void hitThreeThousandTimes(CoalescingCache<String, String> cache) throws Exception {
    Loader<String, String> loader = k -> Load.commit("other");
    for (int i = 0; i < 1_000; i++) {
      assertThat(cache.fetch("k", loader).source()).isEqualTo(Fetched.Source.HIT);
      assertThat(cache.fetch("k", loader, Duration.ofSeconds(1)).source()).isEqualTo(Fetched.Source.HIT);
      assertThat(cache.fetchAsync("k", loader).join().source()).isEqualTo(Fetched.Source.HIT);
    }
  }

  @Test
  void withoutExpiryAHitReadsNoClock() throws Exception {
    AtomicLong reads = new AtomicLong();
    CoalescingCache<String, String> cache =
        builder().maximumSize(100).ticker(countingReads(reads)).executor(Runnable::run).build();
    assertThat(cache.fetch("k", k -> Load.commit("v")).source()).isEqualTo(Fetched.Source.LOADED);
    long afterLoad = reads.get();

    hitThreeThousandTimes(cache);

    assertThat(reads.get() - afterLoad).isZero();
    assertThat(cache.stats().hits()).isEqualTo(3_000);
  }

  @Test
  void withoutExpiryAHitOnAValueWithItsOwnTtlReadsTheClockOnce() throws Exception {
    AtomicLong reads = new AtomicLong();
    CoalescingCache<String, String> cache =
        builder().maximumSize(100).ticker(countingReads(reads)).executor(Runnable::run).build();
    cache.fetch("k", k -> Load.commit("v", Duration.ofHours(1)));
    long afterLoad = reads.get();

    hitThreeThousandTimes(cache);

    assertThat(reads.get() - afterLoad).isEqualTo(3_000);
  }

  @Test
  void weigherBoundsTheTotalWeight() throws Exception {
    CoalescingCache<String, String> cache =
        CoalescingCache.<String, String>builder()
            .weigher(10, (k, v) -> v.length())
            .executor(Runnable::run)
            .build();
    for (int i = 0; i < 20; i++) {
      cache.fetch("k" + i, k -> Load.commit("12345"));
    }
    cache.cleanUp();
    assertThat(cache.estimatedSize()).isLessThanOrEqualTo(2);
  }

  /** Regression: a throwing weigher left the flight without an outcome and its waiters parked. */
  @Test
  void aWeigherThatThrowsFailsTheWaitersAtOnceAndTheNextFetchLoadsAgain() throws Exception {
    IllegalStateException weighing = new IllegalStateException("cannot weigh");
    CoalescingCache<String, String> cache =
        builder()
            .weigher(
                100,
                (k, v) -> {
                  if (v.equals("bad")) {
                    throw weighing;
                  }
                  return 1;
                })
            .build();
    Gate gate = new Gate();
    Loader<String, String> loader =
        k -> {
          gate.pass();
          return Load.commit("bad");
        };
    Caller<Fetched<String>> leader = Caller.start(() -> cache.fetch("k", loader));
    gate.awaitStarted();
    Caller<Fetched<String>> joiner = Caller.start(() -> cache.fetch("k", loader));
    CompletableFuture<Fetched<String>> async = cache.fetchAsync("k", loader);
    await().until(() -> cache.waitingCallers("k") == 3);

    gate.open();

    assertThat(failureOf(leader)).isInstanceOf(LoadFailedException.class).cause().isSameAs(weighing);
    assertThat(failureOf(joiner)).isInstanceOf(LoadFailedException.class).cause().isSameAs(weighing);
    assertThat(async)
        .failsWithin(Duration.ofSeconds(30))
        .withThrowableOfType(ExecutionException.class)
        .havingCause()
        .isInstanceOf(LoadFailedException.class)
        .havingCause()
        .isSameAs(weighing);
    assertThat(cache.waitingCallers("k")).isZero();
    assertThat(cache.fetch("k", k -> Load.commit("good")))
        .isEqualTo(new Fetched<>("good", Fetched.Source.LOADED));
  }

  @Test
  void nullKeyOrLoaderIsANullPointerException() {
    CoalescingCache<String, String> cache = builder().build();
    Loader<String, String> loader = k -> Load.commit("v");

    assertThatThrownBy(() -> cache.fetch(null, loader)).isInstanceOf(NullPointerException.class).hasMessageContaining("key");
    assertThatThrownBy(() -> cache.fetch("k", null)).isInstanceOf(NullPointerException.class).hasMessageContaining("loader");
    assertThatThrownBy(() -> cache.fetchAsync(null, loader)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> cache.fetchAsync("k", null)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> cache.refresh("k", null)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> cache.invalidate(null)).isInstanceOf(NullPointerException.class);
  }

  @Test
  void zeroOrNegativeTimeoutOrTtlIsAnIllegalArgumentNamingTheValue() {
    CoalescingCache<String, String> cache = builder().build();
    Loader<String, String> loader = k -> Load.commit("v");

    assertThatThrownBy(() -> cache.fetch("k", loader, Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("timeout must be positive, was PT0S");
    assertThatThrownBy(() -> cache.fetch("k", loader, Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("timeout must be positive, was PT-1S");
    assertThatThrownBy(() -> Load.commit("v", Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("ttl must be positive, was PT0S");
    assertThatThrownBy(() -> builder().timeToLive(Duration.ofMillis(-5)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("timeToLive must be positive, was PT-0.005S");
    assertThatThrownBy(() -> builder().cacheFailuresFor(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("cacheFailuresFor");
    assertThatThrownBy(() -> builder().serveStaleOnError(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("serveStaleOnError");
    assertThatThrownBy(() -> builder().loadTimeout(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("loadTimeout");
    assertThatThrownBy(() -> builder().maximumSize(-1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maximumSize must be at least 0, was -1");
  }

  @SuppressWarnings("unchecked") // a one-slot holder for a cache referenced by its own courier
  private static CoalescingCache<String, String>[] newArray() {
    return (CoalescingCache<String, String>[]) new CoalescingCache<?, ?>[1];
  }
}
