package dev.shepherd.cache;

import com.google.errorprone.annotations.concurrent.GuardedBy;
import dev.shepherd.core.internal.Require;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * The one load of one missing key and the callers waiting on it: the unit of coalescing. Every
 * caller that misses the key while the flight runs waits on it; the cache's {@link Courier} (the
 * part that decides where and when the loader runs) carries the flight out as a
 * {@link Courier.Job}. Cachex keeps the same thing as a per-key list of waiting callers in its
 * courier process's map.
 *
 * <h2>State machine</h2>
 *
 * <pre>
 *   RUNNING --finish(load)-------------------> DONE(value | failure)   [stored per the rules]
 *   RUNNING --load timeout-------------------> DONE(failure)           [loader interrupted]
 *   RUNNING --last waiter leaves, cancel on--> ABANDONED               [loader interrupted,
 *                                                                        nothing stored]
 * </pre>
 *
 * <p>{@link #outcome} is null while RUNNING and is written exactly once, under {@link #lock}, by
 * whichever transition comes first; every later attempt sees it set and does nothing. Also under the
 * lock: the waiter list, the waiter count, the loader's thread and the timer. The list is doubly
 * linked so a leaving waiter unlinks itself in O(1) and no longer costs memory.
 *
 * <p>Who wakes whom: the thread that writes the outcome detaches the whole list under the lock,
 * removes the flight from the cache's map, then, outside the lock, unparks every blocking waiter and
 * completes every async waiter's future (on a new virtual thread when the shared timer thread ends
 * the flight at the load timeout, so that no future's dependent stage runs on the timer thread). A blocking waiter with a timeout parks until its own deadline
 * or the load deadline, whichever is first; one without parks untimed, and the flight's single timer
 * task (armed at dispatch, cancelled at the end) fails the flight at the load deadline. On waking it reads {@link #outcome} (volatile). If its deadline
 * passed or it was interrupted it calls {@link #leave}: under the lock, if the outcome is already set
 * it has lost the race and takes the outcome instead; otherwise it unlinks itself and goes. A joiner
 * that finds the outcome set ({@link #join} returns false) takes it at once; if that outcome is
 * ABANDONED it starts over with a new flight.
 *
 * <p>Storage is written inside the transition to DONE, while the lock is held, through a Caffeine
 * {@code compute} on the key: abandonment (under the same lock) and {@code invalidate} (which marks
 * the flight inside a {@code compute} on the same key) are therefore ordered with the write, so an
 * abandoned load never stores and a load invalidated while it ran never stores. {@code invalidate}
 * also removes the flight from the map (a detached flight: it still answers the waiters it has, and
 * a caller that had already read it from the map may still join it, but no caller that starts after
 * the invalidate finds it). Lock order is always flight lock, then Caffeine's bin lock;
 * {@code invalidate} takes only the bin lock.
 *
 * <p>A flight sees its cache only through {@link FlightOwner} (time, load settings, storage, the
 * end of the flight). A courier either calls {@link #run} (load and finish here) or
 * {@link #runLoader} and then {@link #complete} (load, share the outcome elsewhere, then finish), or
 * only {@link #complete} with an outcome from elsewhere; whichever finishes first wins. With the
 * local courier the cache may instead carry the flight out on its leader's own thread
 * ({@link #runOnCaller}); if the leader's interrupt fails that attempt, the leader leaves, the
 * flight stays RUNNING and goes to the courier for the waiters left.
 *
 * <p>The loader's thread is recorded under the lock while the loader runs (for a leader that runs
 * its own load, from just before the flight is published, so that it takes no lock that joining
 * callers contend for before its loader starts), so an interrupt is only ever sent to our loader's
 * thread; {@link #runLoader} and {@link #runOnCaller} clear the interrupt they sent, and give back
 * one they did not send (the caller's own, when the loader runs on the caller's thread).
 */
final class Flight<K, V> implements Courier.Job<K, V> {

  /** A caller waiting on this flight: a parked thread or an async future. */
  static final class Waiter<V> {
    @Nullable Waiter<V> prev;
    @Nullable Waiter<V> next;
    final @Nullable Thread thread;
    final @Nullable WaiterFuture<V> future;
    /** Whether this caller started the flight (its answer is LOADED rather than JOINED). */
    final boolean leader;

    Waiter(@Nullable Thread thread, @Nullable WaiterFuture<V> future, boolean leader) {
      this.thread = thread;
      this.future = future;
      this.leader = leader;
    }
  }

  /** How a flight ended. */
  sealed interface Outcome<V> {}

  /**
   * A value for every waiter; the leader and the joiners may see different sources. The answers
   * are made once: every joiner gets the same immutable {@link Fetched}, so waking thousands of
   * waiters allocates nothing per waiter.
   */
  record Value<V>(Fetched<V> leaderAnswer, Fetched<V> joinerAnswer) implements Outcome<V> {
    Value(V value, Fetched.Source leaderSource, Fetched.Source joinerSource) {
      this(new Fetched<>(value, leaderSource), new Fetched<>(value, joinerSource));
    }
  }

  /**
   * A failure for every waiter, with the message of their exceptions, built once per failure: each
   * waiter makes only its own exception object and stack trace.
   */
  record Failure<V>(Throwable error, String message) implements Outcome<V> {}

  /** Every waiter left and the load was cancelled; a late joiner starts a new flight. */
  record Abandoned<V>() implements Outcome<V> {}

  private final FlightOwner<K, V> cache;
  private final K key;
  private final Loader<? super K, ? extends V> loader;
  private final boolean refresh;
  private final long startedAt;
  private final ReentrantLock lock = new ReentrantLock();

  // Guarded by lock.
  @GuardedBy("lock") private @Nullable Waiter<V> head;
  @GuardedBy("lock") private int waiters;
  @GuardedBy("lock") private @Nullable Thread loaderThread;
  @GuardedBy("lock") private @Nullable ScheduledFuture<?> timer;
  /** Whether this flight interrupted its loader (load timeout, abandoned). */
  @GuardedBy("lock") private boolean interruptSent;

  /** Whether the loader failed on a thread someone else interrupted: not a failure to keep. */
  private volatile boolean loaderInterrupted;

  private volatile boolean invalidated;
  private volatile @Nullable Outcome<V> outcome;

  Flight(
      FlightOwner<K, V> cache,
      K key,
      Loader<? super K, ? extends V> loader,
      boolean refresh,
      Waiter<V> first) {
    this.cache = cache;
    this.key = key;
    this.loader = loader;
    this.refresh = refresh;
    this.startedAt = cache.now();
    this.head = first;
    this.waiters = 1;
  }

  @Nullable Outcome<V> outcome() {
    return outcome;
  }

  boolean isInvalidated() {
    return invalidated;
  }

  /**
   * Whether the loader's thread was interrupted from outside while the loader failed (the caller's
   * own interrupt, with an executor that runs the loader on the caller's thread): the failure says
   * nothing about the key, so it is not kept.
   */
  boolean loaderInterrupted() {
    return loaderInterrupted;
  }

  /** Marks that {@code invalidate} ran during this flight: its result is handed out, not stored. */
  void markInvalidated() {
    invalidated = true;
  }

  /**
   * Adds a waiter.
   *
   * @return false if the flight has already ended (read {@link #outcome()} instead)
   */
  boolean join(Waiter<V> node) {
    lock.lock();
    try {
      if (outcome != null) {
        return false;
      }
      node.next = head;
      if (head != null) {
        head.prev = node;
      }
      head = node;
      waiters++;
      return true;
    } finally {
      lock.unlock();
    }
  }

  /** Starts the load-timeout timer of this flight, once (untimed waiters park without a timer). */
  void armTimer() {
    armTimer(false);
  }

  /** Arms the timer; {@code again} replaces a timer that fired early by the ticker (a fake one). */
  void armTimer(boolean again) {
    lock.lock();
    try {
      if (outcome == null) {
        if (again) {
          timer = null;
        }
        armTimerLocked();
      }
    } finally {
      lock.unlock();
    }
  }

  @GuardedBy("lock")
  private void armTimerLocked() {
    if (timer == null && cache.loadTimeoutNanos() != Long.MAX_VALUE) {
      timer = cache.scheduleLoadTimeout(this, loadRemainingNanos());
    }
  }

  /**
   * Removes a waiter that gave up (timeout, interrupt, cancelled future).
   *
   * @return true if it left; false if the flight had already ended, so the waiter takes the outcome
   */
  boolean leave(Waiter<V> node) {
    boolean abandoned = false;
    lock.lock();
    try {
      if (outcome != null) {
        return false;
      }
      Waiter<V> prev = node.prev;
      Waiter<V> next = node.next;
      if (prev == null) {
        head = next;
      } else {
        prev.next = next;
      }
      if (next != null) {
        next.prev = prev;
      }
      node.prev = null;
      node.next = null;
      waiters--;
      if (waiters == 0 && cache.cancelWhenAbandoned()) {
        abandoned = true;
        outcome = new Abandoned<>();
        interruptLoaderLocked();
        cancelTimerLocked();
      }
    } finally {
      lock.unlock();
    }
    if (abandoned) {
      cache.ended(this, true);
    }
    return true;
  }

  int waiterCount() {
    lock.lock();
    try {
      return waiters;
    } finally {
      lock.unlock();
    }
  }

  /** Nanoseconds until the load deadline, by the cache's ticker; 0 once passed. */
  long loadRemainingNanos() {
    long limit = cache.loadTimeoutNanos();
    if (limit == Long.MAX_VALUE) {
      return Long.MAX_VALUE;
    }
    return Math.max(0L, limit - (cache.now() - startedAt));
  }

  /** Fails the flight if the loader has outlived the load timeout; returns whether it is done. */
  boolean expireIfOverdue() {
    return expireIfOverdue(false);
  }

  /**
   * Fails the flight if the loader has outlived the load timeout; returns whether it is done.
   *
   * @param onTimer whether the caller is the JVM-wide timer thread: the async waiters' futures are
   *     then completed on a new virtual thread, so their dependent stages never run on (and never
   *     block) the thread that watches every cache's load timeouts
   */
  boolean expireIfOverdue(boolean onTimer) {
    if (outcome == null && loadRemainingNanos() == 0L) {
      TimeoutException timeout =
          new TimeoutException(
              "loader of key " + key + " did not finish within " + cache.loadTimeout());
      finish(Load.fail(timeout), null, true, onTimer);
    }
    return outcome != null;
  }

  /** Unparks every blocking waiter so it reads the ticker again (see CoalescingCache.cleanUp). */
  void wakeWaiters() {
    if (expireIfOverdue()) {
      return;
    }
    lock.lock();
    try {
      for (Waiter<V> w = head; w != null; w = w.next) {
        if (w.thread != null) {
          LockSupport.unpark(w.thread);
        }
      }
    } finally {
      lock.unlock();
    }
  }

  // ---- Courier.Job ----

  @Override
  public K key() {
    return key;
  }

  @Override
  public boolean isRefresh() {
    return refresh;
  }

  @Override
  public boolean completeFromStorage() {
    if (refresh || outcome != null) {
      return outcome != null;
    }
    V fresh = cache.freshValue(key);
    if (fresh == null) {
      return outcome != null;
    }
    finish(null, new Value<>(fresh, Fetched.Source.HIT, Fetched.Source.JOINED), false, false);
    return true;
  }

  /**
   * Carries the flight out on the thread of the blocking leader that started it (the cache's
   * {@code loadOnCallingThread}): storage once more, the loader, then the end of the flight, as a
   * local courier's loader thread does with {@link #completeFromStorage()} and {@link #run()}.
   *
   * <p>If the leader's own interrupt made its loader fail, that failure is nobody's answer: it says
   * nothing about the key, and the other waiters did not ask to be interrupted. The leader then
   * leaves like any interrupted waiter, and the flight stays RUNNING for the others (the cache hands
   * it to its courier), unless leaving abandoned it or another transition ended it meanwhile.
   *
   * @param leader the leader's waiter, the caller of this method
   * @return true when the flight has ended (the leader reads {@link #outcome()}); false when the
   *     leader left after its interrupt and the flight may still need a loader elsewhere
   */
  boolean runOnCaller(Waiter<V> leader) {
    // The loader's thread was recorded and the timer armed before the flight was published
    // (claimForCaller, armTimer), so the leader takes no lock between publishing the flight and
    // starting its loader: while callers are joining, a virtual leader that waited for the lock
    // would go behind all of them.
    if (completeFromStorage() || outcome != null) {
      releaseLoaderThread();
      return true;
    }
    Load<? extends V> result = load();
    if (result == null) {
      return true; // ended while the loader ran (the load timeout)
    }
    if (loaderInterrupted && result instanceof Load.Fail<? extends V>) {
      loaderInterrupted = false; // the attempt that failed is not the flight's outcome
      return !leave(leader);
    }
    finish(result, null, false, false);
    return true;
  }

  /**
   * Records the calling thread as this flight's loader thread, before the flight is published in
   * the cache's map (so without contention), for {@link #runOnCaller}.
   */
  void claimForCaller() {
    lock.lock();
    try {
      loaderThread = Thread.currentThread();
    } finally {
      lock.unlock();
    }
  }

  /** Cancels the load-timeout timer of a flight that was never published. */
  void cancelTimer() {
    lock.lock();
    try {
      cancelTimerLocked();
    } finally {
      lock.unlock();
    }
  }

  /**
   * Forgets the loader thread recorded by {@link #claimForCaller} when the loader did not run,
   * and clears an interrupt this flight sent it meanwhile.
   */
  private void releaseLoaderThread() {
    boolean ours;
    lock.lock();
    try {
      loaderThread = null;
      ours = interruptSent;
    } finally {
      lock.unlock();
    }
    if (ours) {
      Thread.interrupted();
    }
  }

  @Override
  public void run() {
    Load<? extends V> result = runLoader();
    if (result != null) {
      finish(result, null, false, false);
    }
  }

  @Override
  public @Nullable Load<? extends V> runLoader() {
    lock.lock();
    try {
      if (outcome != null) {
        return null;
      }
      loaderThread = Thread.currentThread();
    } finally {
      lock.unlock();
    }
    return load();
  }

  /**
   * Runs the loader on {@link #loaderThread} (the calling thread, recorded already), then clears
   * it; see {@link #runLoader}.
   */
  private @Nullable Load<? extends V> load() {
    cache.loadStarted();
    Load<? extends V> result;
    boolean interrupted = false;
    try {
      result = loader.load(key);
      if (result == null) {
        result = Load.fail(new NullPointerException("loader returned null for key " + key));
      }
    } catch (InterruptedException error) {
      interrupted = true; // throwing it cleared the thread's interrupt status
      result = Load.fail(error);
    } catch (Throwable error) {
      result = Load.fail(error);
    }
    interrupted |= Thread.currentThread().isInterrupted();
    boolean lost;
    boolean ours;
    lock.lock();
    try {
      loaderThread = null;
      lost = outcome != null;
      ours = interruptSent;
    } finally {
      lock.unlock();
    }
    if (ours) {
      // Abandoned or timed out while the loader ran: we interrupted this very thread.
      Thread.interrupted();
    } else if (interrupted) {
      // Someone else's interrupt (the caller's, when the loader runs on its thread): give it back.
      Thread.currentThread().interrupt();
      if (result instanceof Load.Fail<? extends V>) {
        loaderInterrupted = true;
      }
    }
    return lost ? null : result;
  }

  @Override
  public boolean complete(Load<? extends V> load) {
    Require.nonNull(load, "outcome");
    return finish(load, null, false, false);
  }

  @Override
  public boolean isDone() {
    return outcome != null;
  }

  /**
   * Ends the flight once: settles {@code load} into storage and an outcome (or takes {@code ready}),
   * detaches the waiters, removes the flight from the map and wakes the waiters: blocking ones here,
   * async ones here too unless {@code futuresElsewhere}, then on a new virtual thread.
   */
  private boolean finish(
      @Nullable Load<? extends V> load,
      @Nullable Outcome<V> ready,
      boolean interruptLoader,
      boolean futuresElsewhere) {
    Waiter<V> detached;
    Outcome<V> result;
    lock.lock();
    try {
      if (outcome != null) {
        return false;
      }
      result = ready != null ? ready : settle(Require.nonNull(load, "load"));
      outcome = result;
      if (interruptLoader) {
        interruptLoaderLocked();
      }
      cancelTimerLocked();
      detached = head;
      head = null;
      waiters = 0;
    } finally {
      lock.unlock();
    }
    cache.ended(this, false);
    Thread self = Thread.currentThread();
    boolean futures = false;
    for (Waiter<V> w = detached; w != null; w = w.next) {
      if (w.thread != null) {
        if (w.thread != self) { // a caller that ran the loader itself is not parked
          LockSupport.unpark(w.thread);
        }
      } else if (w.future != null) {
        if (futuresElsewhere) {
          futures = true;
        } else {
          cache.deliver(w.future, result, w.leader, key);
        }
      }
    }
    if (futures) {
      Waiter<V> list = detached;
      Thread.ofVirtual()
          .name("shepherd-cache-timeout")
          .start(() -> deliverFutures(list, result));
    }
    return true;
  }

  /** Completes the futures of a detached waiter list (no longer changed by anyone). */
  private void deliverFutures(@Nullable Waiter<V> list, Outcome<V> result) {
    for (Waiter<V> w = list; w != null; w = w.next) {
      if (w.future != null) {
        cache.deliver(w.future, result, w.leader, key);
      }
    }
  }

  /**
   * Settles {@code load} into storage and an outcome; if that throws (a weigher that throws or
   * returns a negative weight, an {@code OutOfMemoryError}, a key whose {@code toString} throws),
   * the flight fails with that error instead of staying RUNNING with no outcome: it leaves the map,
   * its waiters get the error at once instead of a load timeout, and the next fetch loads again.
   */
  @GuardedBy("lock")
  private Outcome<V> settle(Load<? extends V> load) {
    try {
      return cache.settle(this, load);
    } catch (Throwable error) {
      String message;
      try {
        message = LoadFailedException.message(key, error);
      } catch (Throwable unprintable) {
        message = "load failed while storing its result: " + error.getClass().getName();
      }
      return new Failure<>(error, message);
    }
  }

  @GuardedBy("lock")
  private void interruptLoaderLocked() {
    if (loaderThread != null) {
      interruptSent = true;
      loaderThread.interrupt();
    }
  }

  @GuardedBy("lock")
  private void cancelTimerLocked() {
    if (timer != null) {
      timer.cancel(false);
      timer = null;
    }
  }

  @Override
  public String toString() {
    Outcome<V> o = outcome;
    return "Flight[key=" + key + (o == null ? ", running" : ", " + o.getClass().getSimpleName()) + "]";
  }
}
