package dev.shepherd.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.core.Ticker;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The tracker's scheduling (one poller, who wakes whom, hand-over between pollers) against a
 * scripted {@link FakeReplica}: the point is the interleaving, not SQL, so each test can hold the
 * poller at the exact moment a race needs.
 */
class ReplicaTrackerSchedulingTest {

  private static final Lsn FIRST = Lsn.parse("0/1000");
  private static final Lsn SECOND = Lsn.parse("0/2000");

  /**
   * A poller that has decided to stop but is still closing its connection, while a new waiter
   * arrives: the new waiter must not start a second poller that the old one then unregisters (it
   * used to clear {@code pollerThread} after the new poller had set it, so nobody could unpark the
   * new poller, not even {@link ReplicaTracker#close()}, and both counted as running at once).
   */
  @Test
  void aStoppingPollerHandsOverWithoutOverlappingTheNextOne() throws Exception {
    FakeReplica fake = new FakeReplica();
    fake.replayed = FIRST;
    CountDownLatch closing = new CountDownLatch(1);
    CountDownLatch secondConnection = new CountDownLatch(1);
    fake.onConnect = n -> {
      if (n == 2) {
        secondConnection.countDown();
      }
    };
    fake.onClose = n -> {
      if (n == 1) {
        closing.countDown();
        // Hold the stopping poller in close() until a second poller connects; with a correct
        // hand-over none does, and the bound lets the stopping poller go on by itself.
        awaitQuietly(secondConnection, Duration.ofSeconds(2));
      }
    };
    // Long sleeps: a poller that nobody can unpark stays parked for the rest of the test.
    ReplicaTracker tracker = ReplicaTracker.builder(fake).strategy(ReplayStrategy.POLLING)
        .minPollInterval(Duration.ofMinutes(10)).maxPollInterval(Duration.ofMinutes(20))
        .stallCheckAfter(Duration.ofHours(1)).build();
    ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
    try {
      assertThat(tracker.awaitReplay(FIRST, Duration.ofSeconds(30))).isInstanceOf(ReplayResult.Replayed.class);
      assertThat(closing.await(30, TimeUnit.SECONDS)).as("the first poller stops and closes its connection").isTrue();
      Future<ReplayResult> second = threads.submit(() -> tracker.awaitReplay(SECOND, Duration.ofMinutes(5)));
      await().atMost(Duration.ofSeconds(30)).until(() -> fake.polls.get() == 2 && tracker.stats().waiting() == 1);

      assertThat(tracker.stats().maxConcurrentPollers()).isEqualTo(1);
      tracker.close();
      assertThat(second.get(30, TimeUnit.SECONDS)).isInstanceOf(ReplayResult.ReplicaUnavailable.class);
      // close() woke the sleeping poller, which stopped and gave its connection back.
      await().atMost(Duration.ofSeconds(30)).until(() -> fake.closes.get() == fake.connections.get());
      await().atMost(Duration.ofSeconds(30)).until(() -> !tracker.isPolling());
    } finally {
      tracker.close(); // before the executor's close, which waits for the waiter
      threads.close();
    }
  }

  /** A tracker whose poller thread is recorded in {@code poller}, polling fast, backing off long. */
  private static ReplicaTracker trackerRecordingItsPoller(FakeReplica fake, AtomicReference<Thread> poller) {
    Executor executor = task -> poller.set(Thread.ofVirtual().name("test-poller").start(task));
    return ReplicaTracker.builder(fake).strategy(ReplayStrategy.POLLING).executor(executor)
        .minPollInterval(Duration.ofMillis(1)).maxPollInterval(Duration.ofMinutes(10))
        .stallCheckAfter(Duration.ofHours(1)).build();
  }

  /**
   * The executor running the poller interrupts it (as {@code shutdownNow} does): the poller used to
   * keep going with the interrupt status set, so every park returned at once and it queried the
   * replica without pause until its waiters timed out. It must stop and answer them now.
   */
  @Test
  void anInterruptedPollerStopsAndAnswersItsWaitersInsteadOfSpinning() throws Exception {
    FakeReplica fake = new FakeReplica();
    fake.replayed = FIRST;
    AtomicReference<Thread> poller = new AtomicReference<>();
    ReplicaTracker tracker = trackerRecordingItsPoller(fake, poller);
    ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
    try {
      Future<ReplayResult> waiting = threads.submit(() -> tracker.awaitReplay(SECOND, Duration.ofSeconds(20)));
      await().atMost(Duration.ofSeconds(30)).until(() -> fake.polls.get() >= 3 && poller.get() != null);
      poller.get().interrupt();

      ReplayResult result = waiting.get(60, TimeUnit.SECONDS);
      assertThat(result).isInstanceOf(ReplayResult.ReplicaUnavailable.class);
      assertThat(((ReplayResult.ReplicaUnavailable) result).cause()).isInstanceOf(InterruptedException.class);
      await().atMost(Duration.ofSeconds(30)).until(() -> !tracker.isPolling());
      poller.get().join();
      assertThat(tracker.status()).as("the replica did nothing wrong").isEqualTo(ReplicaTracker.Status.STREAMING);

      // The next wait starts a fresh poller.
      fake.replayed = SECOND;
      assertThat(tracker.awaitReplay(SECOND, Duration.ofSeconds(30))).isInstanceOf(ReplayResult.Replayed.class);
      assertThat(tracker.stats().pollerStarts()).isEqualTo(2);
      assertThat(tracker.stats().maxConcurrentPollers()).isEqualTo(1);
    } finally {
      tracker.close();
      threads.close();
    }
  }

  /**
   * A waiter that registers while an interrupted poller is stopping (after it answered the waiters
   * it had, before it let go of the polling flag, so the waiter starts no poller of its own) gets a
   * fresh poller and its real answer. The interrupted poller used to take the flag back and go on
   * with its interrupt status set, failing that waiter, and every later one, as interrupted.
   */
  @Test
  void aWaiterArrivingWhileAnInterruptedPollerStopsGetsAFreshPoller() throws Exception {
    FakeReplica fake = new FakeReplica();
    fake.replayed = FIRST;
    AtomicReference<Thread> poller = new AtomicReference<>();
    ReplicaTracker tracker = trackerRecordingItsPoller(fake, poller);
    ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
    try {
      Future<ReplayResult> first = threads.submit(() -> tracker.awaitReplay(SECOND, Duration.ofSeconds(30)));
      await().atMost(Duration.ofSeconds(30)).until(() -> fake.polls.get() >= 3 && poller.get() != null);
      AtomicReference<Future<ReplayResult>> late = new AtomicReference<>();
      // Inside the stopping poller's connection close: after failAll, before `polling` is released.
      // (This runs on the interrupted poller thread: no blocking waits here, they would see its
      // interrupt; the waiter registers at once, so a bounded spin is enough.)
      AtomicInteger pollsThen = new AtomicInteger();
      fake.onClose = n -> {
        late.set(threads.submit(() -> tracker.awaitReplay(SECOND, Duration.ofSeconds(30))));
        long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (tracker.waiters.isEmpty() && System.nanoTime() - giveUp < 0) {
          Thread.onSpinWait();
        }
        pollsThen.set(fake.polls.get());
      };
      Thread interrupted = poller.get();
      interrupted.interrupt();

      assertThat(first.get(60, TimeUnit.SECONDS)).isInstanceOf(ReplayResult.ReplicaUnavailable.class);
      await().atMost(Duration.ofSeconds(30)).until(() -> late.get() != null);
      fake.onClose = n -> {};
      // Polls that do not reach the target yet (the interrupted poller, had it gone on, would then
      // have failed the waiter at its next turn), then the replica replays it.
      await().atMost(Duration.ofSeconds(30))
          .until(() -> fake.polls.get() >= pollsThen.get() + 2 || late.get().isDone());
      fake.replayed = SECOND;
      assertThat(late.get().get(60, TimeUnit.SECONDS))
          .as("the waiter that arrived while the interrupted poller stopped")
          .isInstanceOf(ReplayResult.Replayed.class);
      assertThat(tracker.stats().pollerStarts()).isEqualTo(2);
      interrupted.join();
    } finally {
      tracker.close();
      threads.close();
    }
  }

  /**
   * A waiter for a fresh write arrives while the poller pauses long (an older waiter's target is not
   * being replayed): it unparks the poller, and when that poll does not see its target yet, the
   * next pause is the minimum again, because replay is about to move. The flag that asks for it used
   * to be cleared before the poll, so the poller backed off further and the new waiter waited for
   * the long pause instead of its replication lag.
   */
  @Test
  void aWaiterArrivingDuringALongPauseBringsThePollIntervalBackToTheMinimum() throws Exception {
    FakeReplica fake = new FakeReplica();
    fake.replayed = FIRST;
    long min = Duration.ofMillis(1).toNanos();
    ReplicaTracker tracker = ReplicaTracker.builder(fake).strategy(ReplayStrategy.POLLING)
        .minPollInterval(Duration.ofNanos(min)).maxPollInterval(Duration.ofMinutes(10))
        .stallCheckAfter(Duration.ofHours(1)).build();
    ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
    try {
      Future<ReplayResult> old = threads.submit(() -> tracker.awaitReplay(Lsn.parse("FF/0"), Duration.ofMinutes(5)));
      // The poller doubles its pause while nothing moves: 1, 2, 4 ... ms.
      await().atMost(Duration.ofSeconds(30)).until(() -> tracker.lastPauseNanos() >= Duration.ofMillis(256).toNanos());

      AtomicInteger pollsSinceFresh = new AtomicInteger();
      AtomicLong pauseBeforeSecondPoll = new AtomicLong(-1);
      fake.onPoll = n -> {
        if (tracker.stats().waiting() == 2 && pollsSinceFresh.incrementAndGet() == 2) {
          pauseBeforeSecondPoll.set(tracker.lastPauseNanos());
          fake.replayed = SECOND; // replay moved just after the first poll that followed the write
        }
      };
      ReplayResult fresh = tracker.awaitReplay(SECOND, Duration.ofMinutes(5));

      assertThat(fresh).isInstanceOf(ReplayResult.Replayed.class);
      assertThat(pauseBeforeSecondPoll.get()).as("pause after the first poll that saw the fresh waiter").isEqualTo(min);
      assertThat(old.isDone()).isFalse();
    } finally {
      tracker.close();
      threads.close();
    }
  }

  /**
   * Something unexpected is thrown in the poller (here by the ticker, user code): the tracker used
   * to keep its "a poller runs" flag set, so no poller ever started again and every wait, then and
   * later, ran to its timeout. The current waiters are answered at once and the next wait polls.
   */
  @Test
  void aPollerDyingUnexpectedlyDoesNotLeaveTheTrackerWithoutAPoller() throws Exception {
    FakeReplica fake = new FakeReplica();
    fake.replayed = FIRST;
    AtomicBoolean armed = new AtomicBoolean();
    Ticker ticker = () -> {
      if (Thread.currentThread().getName().startsWith("shepherd-replica-poller") && armed.getAndSet(false)) {
        throw new IllegalStateException("simulated failure in the poller");
      }
      return System.nanoTime();
    };
    ReplicaTracker tracker = ReplicaTracker.builder(fake).strategy(ReplayStrategy.POLLING).ticker(ticker)
        .minPollInterval(Duration.ofMillis(1)).maxPollInterval(Duration.ofMillis(10))
        .stallCheckAfter(Duration.ofHours(1)).build();
    ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
    try {
      Future<ReplayResult> waiting = threads.submit(() -> tracker.awaitReplay(SECOND, Duration.ofSeconds(20)));
      await().atMost(Duration.ofSeconds(30)).until(() -> fake.polls.get() >= 2);
      armed.set(true);

      ReplayResult result = waiting.get(60, TimeUnit.SECONDS);
      assertThat(result).isInstanceOf(ReplayResult.ReplicaUnavailable.class);
      assertThat(((ReplayResult.ReplicaUnavailable) result).cause()).hasMessageContaining("simulated failure");
      await().atMost(Duration.ofSeconds(30)).until(() -> !tracker.isPolling());

      fake.replayed = SECOND;
      assertThat(tracker.awaitReplay(SECOND, Duration.ofSeconds(30))).isInstanceOf(ReplayResult.Replayed.class);
      assertThat(tracker.stats().pollerStarts()).isEqualTo(2);
    } finally {
      tracker.close();
      threads.close();
    }
  }

  /**
   * An executor that refuses the poller (saturated, or shut down): the wait is answered
   * {@code ReplicaUnavailable} naming the rejection, as any other reason the replica cannot be
   * polled, instead of throwing {@link RejectedExecutionException} out of {@code awaitReplay}; the
   * replica's health is not blamed, and the next wait starts a poller once the executor accepts.
   */
  @Test
  void anExecutorRejectingThePollerAnswersTheWaitInsteadOfThrowing() throws Exception {
    FakeReplica fake = new FakeReplica();
    fake.replayed = FIRST;
    AtomicBoolean reject = new AtomicBoolean(true);
    Executor executor = task -> {
      if (reject.get()) {
        throw new RejectedExecutionException("executor saturated");
      }
      Thread.ofVirtual().start(task);
    };
    try (ReplicaTracker tracker = ReplicaTracker.builder(fake).strategy(ReplayStrategy.POLLING).executor(executor).build()) {
      ReplayResult rejected = tracker.awaitReplay(SECOND, Duration.ofSeconds(30));
      assertThat(rejected).isInstanceOf(ReplayResult.ReplicaUnavailable.class);
      assertThat(((ReplayResult.ReplicaUnavailable) rejected).cause())
          .isInstanceOf(RejectedExecutionException.class).hasMessage("executor saturated");
      assertThat(tracker.isPolling()).isFalse();
      assertThat(tracker.stats().waiting()).isZero();
      assertThat(tracker.status()).isEqualTo(ReplicaTracker.Status.UNKNOWN);

      reject.set(false);
      fake.replayed = SECOND;
      assertThat(tracker.awaitReplay(SECOND, Duration.ofSeconds(30))).isInstanceOf(ReplayResult.Replayed.class);
    }
  }

  /**
   * Waiters come and go from many threads, so the poller stops and restarts all the time: every
   * reachable wait is released, unreachable ones time out, none is left registered, and no two
   * pollers ever run at once (the stop/start hand-over is where a lost wake-up would hide).
   */
  @Test
  void churningWaitersAreAllAnsweredByOnePollerAtATime() throws Exception {
    FakeReplica fake = new FakeReplica();
    AtomicLong written = new AtomicLong(0x1000);
    fake.onPoll = n -> fake.replayed = Lsn.of(written.get()); // a replica that is always caught up
    ReplicaTracker tracker = ReplicaTracker.builder(fake).strategy(ReplayStrategy.POLLING)
        .minPollInterval(Duration.ofNanos(100_000)).maxPollInterval(Duration.ofMillis(5))
        .stallCheckAfter(Duration.ofHours(1)).build();
    int threadsCount = 16;
    int iterations = 500;
    AtomicInteger wrong = new AtomicInteger();
    AtomicInteger timedOut = new AtomicInteger();
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<?>> runs = new ArrayList<>();
      for (int t = 0; t < threadsCount; t++) {
        int thread = t;
        runs.add(threads.submit(() -> {
          for (int i = 0; i < iterations; i++) {
            if ((i + thread) % 10 == 0) {
              // A position nobody will write: must time out, and must not stay registered.
              ReplayResult r = tracker.awaitReplay(Lsn.parse("FF/0"), Duration.ofMillis(1));
              if (r instanceof ReplayResult.TimedOut) {
                timedOut.incrementAndGet();
              } else {
                wrong.incrementAndGet();
              }
            } else {
              Lsn target = Lsn.of(written.incrementAndGet());
              if (!(tracker.awaitReplay(target, Duration.ofMinutes(1)) instanceof ReplayResult.Replayed)) {
                wrong.incrementAndGet();
              }
            }
          }
          return null;
        }));
      }
      for (Future<?> run : runs) {
        run.get(5, TimeUnit.MINUTES);
      }
    } finally {
      tracker.close();
    }
    assertThat(wrong.get()).isZero();
    assertThat(timedOut.get()).isEqualTo(threadsCount * iterations / 10);
    assertThat(tracker.stats().waiting()).isZero();
    assertThat(tracker.stats().maxConcurrentPollers()).isEqualTo(1);
    assertThat(tracker.stats().pollerStarts()).isGreaterThan(1);
    await().atMost(Duration.ofSeconds(30)).until(() -> !tracker.isPolling() && fake.closes.get() == fake.connections.get());
  }

  /**
   * close() races waiters that are registering: each one is answered ReplicaUnavailable or refused
   * with IllegalStateException, none waits for its timeout, none stays registered, and the poller
   * stops and gives its connection back.
   */
  @Test
  void closeRacingRegisteringWaitersAnswersEveryOne() throws Exception {
    for (int iteration = 0; iteration < 100; iteration++) {
      FakeReplica fake = new FakeReplica();
      ReplicaTracker tracker = ReplicaTracker.builder(fake).strategy(ReplayStrategy.POLLING)
          .minPollInterval(Duration.ofNanos(100_000)).maxPollInterval(Duration.ofMillis(5))
          .stallCheckAfter(Duration.ofHours(1)).build();
      AtomicInteger answered = new AtomicInteger();
      AtomicInteger refused = new AtomicInteger();
      AtomicInteger wrong = new AtomicInteger();
      try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
        List<Future<?>> runs = new ArrayList<>();
        for (int t = 0; t < 20; t++) {
          runs.add(threads.submit(() -> {
            try {
              if (tracker.awaitReplay(Lsn.parse("FF/0"), Duration.ofMinutes(5)) instanceof ReplayResult.ReplicaUnavailable) {
                answered.incrementAndGet();
              } else {
                wrong.incrementAndGet();
              }
            } catch (IllegalStateException e) {
              refused.incrementAndGet();
            }
            return null;
          }));
          if (t == 5) {
            int registeredBefore = t;
            await().pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(1)).atMost(Duration.ofSeconds(30))
                .until(() -> tracker.stats().waiting() + refused.get() >= registeredBefore);
            threads.submit(tracker::close);
          }
        }
        for (Future<?> run : runs) {
          run.get(60, TimeUnit.SECONDS);
        }
      } finally {
        tracker.close();
      }
      assertThat(wrong.get()).as("iteration %d", iteration).isZero();
      assertThat(answered.get() + refused.get()).isEqualTo(20);
      assertThat(tracker.stats().waiting()).isZero();
      await().pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(1)).atMost(Duration.ofSeconds(30))
          .until(() -> !tracker.isPolling() && fake.closes.get() == fake.connections.get());
    }
  }

  private static void awaitQuietly(CountDownLatch latch, Duration bound) {
    try {
      latch.await(bound.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
