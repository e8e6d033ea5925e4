package dev.shepherd.watch;

import com.google.errorprone.annotations.concurrent.GuardedBy;
import dev.shepherd.core.internal.Durations;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * The upstream loop of one key and the set of its subscriptions.
 *
 * <h2>State machine (guarded by {@code lock})</h2>
 *
 * <pre>
 *   NEW ──first subscribe──▶ RUNNING ──last unsubscribe──▶ CANCELLING
 *                              ▲   (interrupt the loop thread)   │
 *                              └────────subscribe─────────────────┤
 *                                                                 │ loop thread at a check point
 *                                                                 ▼ finds no subscriber
 *                                                            TERMINATED (left the map, source released)
 * </pre>
 *
 * <ul>
 *   <li>Who starts the thread: the subscribe that moves NEW to RUNNING, under the lock.
 *   <li>Who wakes the thread: the unsubscribe that empties the set interrupts it (under the lock,
 *       so the interrupt is never sent to a thread that has already left, see {@code runner}).
 *   <li>Who decides to end: only the loop thread, at a check point (before every fetch, after
 *       every fetch and backoff wait), under the lock: no subscriber means TERMINATED, removal from
 *       the watcher's map and {@link WatchSource#release(String)}; otherwise it clears a stale
 *       interrupt and goes on. So a subscribe that arrives while CANCELLING simply keeps the loop,
 *       and a subscribe that finds TERMINATED retries on the map, where the next loop of the key
 *       will be (the terminated one already left it). A key therefore never has two loops, and
 *       {@code release} of an old loop never runs after a new loop of the key started.
 *   <li>Publishing: the loop sets {@code latest} and offers to every subscription under the lock;
 *       a subscribe adds itself and receives {@code latest} under the same lock. So a subscription
 *       sees each value at most once and never misses the one published after it joined. Offers
 *       never block (see WatchSubscription).
 * </ul>
 *
 * <p>Loop-local variables (index, failures) are only touched by the loop thread; fields read by
 * subscriptions ({@code lastSuccessNanos}, {@code lastError}, {@code failures}, {@code failing})
 * are volatile.
 */
final class KeyLoop<V> {

  private static final System.Logger LOG = System.getLogger(Watcher.class.getName());

  private enum State { NEW, RUNNING, CANCELLING, TERMINATED }

  private final String key;
  private final WatchSource<V> source;
  private final Watcher.Config config;
  private final ConcurrentMap<String, KeyLoop<V>> loops;
  private final ReentrantLock lock = new ReentrantLock();
  private final LinkedHashSet<WatchSubscription<V>> subscriptions = new LinkedHashSet<>();

  // Guarded by lock.
  private volatile State state = State.NEW;
  @GuardedBy("lock") private @Nullable Thread runner;
  @GuardedBy("lock") private @Nullable Versioned<V> latest;
  @GuardedBy("lock") private long publishSequence;

  // Written by the loop thread, read by anyone.
  private volatile long lastSuccessNanos;
  private volatile @Nullable Throwable lastError;
  private volatile int failures;
  private volatile boolean failing;

  KeyLoop(String key, WatchSource<V> source, Watcher.Config config,
      ConcurrentMap<String, KeyLoop<V>> loops) {
    this.key = key;
    this.source = source;
    this.config = config;
    this.loops = loops;
    this.lastSuccessNanos = config.ticker().read();
  }

  String key() {
    return key;
  }

  /** Adds a subscription; returns false if this loop has terminated (retry on the map). */
  boolean subscribe(WatchSubscription<V> subscription) {
    lock.lock();
    try {
      switch (state) {
        case TERMINATED -> {
          return false;
        }
        case NEW -> {
          state = State.RUNNING;
          subscription.attach(this);
          subscriptions.add(subscription);
          start();
          return true;
        }
        case CANCELLING, RUNNING -> {
          state = State.RUNNING;
          subscription.attach(this);
          subscriptions.add(subscription);
          Versioned<V> current = latest;
          if (current != null) {
            subscription.offerValue(current, publishSequence);
          }
          if (failing) {
            Throwable error = lastError;
            subscription.offerStatus(true, error, failures);
          }
          return true;
        }
      }
      throw new AssertionError(state);
    } finally {
      lock.unlock();
    }
  }

  /** Removes a subscription; the last one cancels the loop. */
  void unsubscribe(WatchSubscription<V> subscription) {
    lock.lock();
    try {
      if (subscriptions.remove(subscription) && subscriptions.isEmpty()
          && state == State.RUNNING) {
        state = State.CANCELLING;
        Thread thread = runner;
        if (thread != null) {
          thread.interrupt();
        }
      }
    } finally {
      lock.unlock();
    }
  }

  int subscriberCount() {
    lock.lock();
    try {
      return subscriptions.size();
    } finally {
      lock.unlock();
    }
  }

  /** Closes every subscription (the watcher is closing). */
  void closeAll() {
    List<WatchSubscription<V>> all;
    lock.lock();
    try {
      all = new ArrayList<>(subscriptions);
    } finally {
      lock.unlock();
    }
    for (WatchSubscription<V> subscription : all) {
      subscription.close();
    }
  }

  @Nullable Versioned<V> latest() {
    lock.lock();
    try {
      return latest;
    } finally {
      lock.unlock();
    }
  }

  long lastSuccessNanos() {
    return lastSuccessNanos;
  }

  @Nullable Throwable lastError() {
    return lastError;
  }

  int failures() {
    return failures;
  }

  boolean failing() {
    return failing;
  }

  private void start() {
    try {
      config.executor().execute(this::run);
    } catch (RuntimeException e) {
      // The executor refused: leave the map so a later watch can try again, and fail this one.
      state = State.TERMINATED;
      subscriptions.clear();
      loops.remove(key, this);
      throw e;
    }
  }

  // ---------------------------------------------------------------- the loop (runner thread only)

  private void run() {
    lock.lock();
    try {
      if (!keepRunning()) {
        return;
      }
      runner = Thread.currentThread();
    } finally {
      lock.unlock();
    }
    long index = 0L;
    int consecutiveFailures = 0;
    long firstFailureNanos = 0L;
    long lastFetchStart = 0L;
    // Whether the last fetch brought no new index (same index, an index that went backwards, a
    // failure): only then is the next fetch paced. The first fetch is never paced.
    boolean paceNext = false;
    try {
      while (checkPoint()) {
        Versioned<V> result = null;
        Throwable error = null;
        if (paceNext && !paceWait(lastFetchStart)) {
          continue; // interrupted: the check point decides
        }
        lastFetchStart = config.ticker().read();
        paceNext = true; // until this fetch proves progress
        try {
          // After a failure, block only briefly: an upstream that is back but unchanged would
          // otherwise hold the query for a whole maxWait before we could call it recovered.
          Duration wait = consecutiveFailures == 0 ? config.maxWait() : config.recoveryWait();
          result = source.fetch(key, index, wait);
          if (result == null) { // a source written without the null checker
            error = new NullPointerException("source " + source + " returned null for key '" + key + "'");
          }
        } catch (InterruptedException e) {
          continue; // cancelled, or a stale interrupt: the check point decides
        } catch (VirtualMachineError e) {
          throw e;
        } catch (Throwable e) {
          error = e;
        }
        if (!checkPoint()) {
          return;
        }
        if (result != null) {
          long answered = result.index();
          // Progress: a new index, beyond the last one. Only progress is followed at once.
          paceNext = answered <= index;
          if (answered < index) {
            LOG.log(Level.INFO, () -> "watch of '" + key + "': index went backwards from "
                + "upstream reset; restarting from 0");
            index = 0L;
          }
          if (answered > 0L) {
            // Success first: Recovered reaches the sinks before the update of this fetch, and
            // that update's staleness is measured from this fetch, not from before the outage.
            consecutiveFailures = 0;
            recordSuccess();
          }
          if (answered > index) {
            publishValue(result);
            index = answered;
          }
          if (answered > 0L) {
            index = Math.max(index, 1L);
            continue;
          }
          error = new ZeroIndexException(key);
        }
        consecutiveFailures = consecutiveFailures == Integer.MAX_VALUE
            ? Integer.MAX_VALUE : consecutiveFailures + 1;
        long now = config.ticker().read();
        if (consecutiveFailures == 1) {
          firstFailureNanos = now;
        }
        recordFailure(error, consecutiveFailures, now - firstFailureNanos);
        long backoffNanos = Durations.toNanosSaturated(config.backoff().delay(consecutiveFailures));
        // false: interrupted while backing off; the check point at the top of the loop decides
        boolean unusedCompleted =
            backoffWait(now, backoffNanos, firstFailureNanos, consecutiveFailures);
      }
    } finally {
      Thread.interrupted(); // never leak our interrupt into an executor's pooled thread
    }
  }

  /**
   * Waits the rest of the minimum interval since the last fetch started (nothing if it has
   * passed); returns false if interrupted. Called only after a fetch that brought no new index, so
   * a burst of real changes is followed fetch after fetch without a pause, while an upstream that
   * answers at once without progress (it ignores the index, its index went backwards, it fails at
   * once) is asked at most once per interval. A fetch that blocked for longer than the interval
   * is followed at once either way.
   */
  private boolean paceWait(long lastFetchStart) {
    try {
      Sleeps.sleep(config.ticker(), lastFetchStart, config.minFetchIntervalNanos());
      return true;
    } catch (InterruptedException e) {
      return false;
    }
  }

  /**
   * Waits out a backoff measured from the reading {@code start} the failure was recorded at (see
   * Sleeps); returns false if interrupted. Wakes at the failing threshold.
   */
  private boolean backoffWait(long start, long waitNanos, long firstFailureNanos,
      int consecutiveFailures) {
    while (true) {
      long now = config.ticker().read();
      long elapsed = now - start;
      if (elapsed >= waitNanos) {
        return true;
      }
      long remaining = waitNanos - elapsed;
      if (!failing) {
        long untilFailing = config.failingThresholdNanos() - (now - firstFailureNanos);
        if (untilFailing <= 0L) {
          recordFailure(lastError, consecutiveFailures, now - firstFailureNanos);
        } else {
          remaining = Math.min(remaining, untilFailing);
        }
      }
      try {
        Sleeps.sleep(config.ticker(), now, remaining);
      } catch (InterruptedException e) {
        return false;
      }
    }
  }

  /** Before and after each step: true to go on; false once terminated. Clears stale interrupts. */
  private boolean checkPoint() {
    if (state == State.RUNNING && !Thread.currentThread().isInterrupted()) {
      return true; // racy read, but an unsubscribe always interrupts, so we come back here
    }
    lock.lock();
    try {
      return keepRunning();
    } finally {
      lock.unlock();
    }
  }

  /** Under the lock: terminate if nobody subscribes, else clear a stale interrupt. */
  @GuardedBy("lock")
  private boolean keepRunning() {
    if (subscriptions.isEmpty()) {
      state = State.TERMINATED;
      runner = null;
      loops.remove(key, this);
      try {
        source.release(key);
      } catch (RuntimeException e) {
        LOG.log(Level.WARNING, "source.release('" + key + "') failed", e);
      }
      return false;
    }
    state = State.RUNNING;
    Thread.interrupted();
    return true;
  }

  private void publishValue(Versioned<V> value) {
    lock.lock();
    try {
      latest = value;
      long sequence = ++publishSequence;
      for (WatchSubscription<V> subscription : subscriptions) {
        subscription.offerValue(value, sequence);
      }
    } finally {
      lock.unlock();
    }
  }

  private void recordSuccess() {
    lastSuccessNanos = config.ticker().read();
    lastError = null;
    failures = 0;
    if (failing) {
      lock.lock();
      try {
        failing = false;
        for (WatchSubscription<V> subscription : subscriptions) {
          subscription.offerStatus(false, null, 0);
        }
      } finally {
        lock.unlock();
      }
      LOG.log(Level.INFO, () -> "watch of '" + key + "' recovered");
    }
  }

  private void recordFailure(@Nullable Throwable error, int consecutiveFailures,
      long failingForNanos) {
    lastError = error;
    failures = consecutiveFailures;
    if (!failing && failingForNanos >= config.failingThresholdNanos() && error != null) {
      lock.lock();
      try {
        failing = true;
        for (WatchSubscription<V> subscription : subscriptions) {
          subscription.offerStatus(true, error, consecutiveFailures);
        }
      } finally {
        lock.unlock();
      }
      LOG.log(Level.WARNING, () -> "watch of '" + key + "' failing for "
          + Duration.ofNanos(failingForNanos) + " (" + consecutiveFailures + " failures)", error);
    } else {
      LOG.log(Level.DEBUG, () -> "watch of '" + key + "' failed (" + consecutiveFailures
          + " in a row)", error);
    }
  }
}
