package dev.shepherd.watch.etcd;

import com.google.errorprone.annotations.concurrent.GuardedBy;
import dev.shepherd.core.Backoff;
import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.ShepherdException;
import dev.shepherd.core.Ticker;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.KV;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.common.exception.CompactedException;
import io.etcd.jetcd.common.exception.ErrorCode;
import io.etcd.jetcd.common.exception.EtcdException;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.watch.WatchEvent;
import io.etcd.jetcd.watch.WatchResponse;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * The one etcd watch of one key, shared by every {@code fetch} of that key: it reads the key, keeps
 * a jetcd watch open from the next revision, and publishes the latest value with its revision to
 * the threads waiting in {@link #await(long, long)}.
 *
 * <h2>State machine</h2>
 *
 * <pre>
 *   NEW ──start()──▶ READING        a Get of the key is in flight
 *   READING  ──Get ok──────────────▶ WATCHING   (snapshot published; watch from header + 1)
 *   READING  ──Get failed──────────▶ BACKOFF
 *   READING  ──Get header &lt; seen when sent───▶ WATCHING   (reset: snapshot replaced, may go back)
 *   WATCHING ──created, header ≥ seen──▶ LIVE   (failure cleared)
 *   WATCHING ──created, header &lt; seen──▶ VERIFYING   (watch kept; a Get is sent)
 *   VERIFYING ──Get header ≥ suspectedBelow──▶ LIVE   (the member lags: no reset; failure cleared)
 *   VERIFYING ──Get header &lt; seen when sent──▶ WATCHING   (reset: watch replaced, from header + 1)
 *   VERIFYING ──Get inconclusive (older read reused)──▶ READING   (watch abandoned)
 *   VERIFYING ──Get failed──▶ BACKOFF   (watch abandoned; the retry reads)
 *   WATCHING/LIVE ──compacted / "future revision"──────────▶ READING   (re-read, go on)
 *   WATCHING/LIVE ──backlog above one gRPC message─────────▶ READING   (re-read, go on)
 *   WATCHING/LIVE ──other error, unexpected completion─────▶ BACKOFF   (failure recorded)
 *   WATCHING ──no creation notice within requestTimeout───▶ BACKOFF   (failure recorded)
 *   LIVE/VERIFYING ──events──▶ same (snapshot advanced by mod revision, duplicates dropped)
 *   BACKOFF  ──timer──▶ WATCHING from resumeRevision (or READING if never read)
 *   any      ──close()──▶ CLOSED    (terminal; waiters wake and fail)
 * </pre>
 *
 * <p>Who wakes whom: every change of the snapshot, of the failure or of the state to CLOSED
 * signals {@code changed}; fetching threads wait on it. Every transition that abandons an attempt
 * (a Get or a jetcd watcher) increments {@code generation}; callbacks carry the generation they
 * were started for and are ignored once it moved on, so a late event of an abandoned watcher can
 * never overwrite the state of its successor.
 *
 * <p>Recovery is reported: a fetch that threw "failing" is remembered by its thread (a watch
 * loop runs on one thread); once the watch is healthy again, that thread's next fetch answers at
 * once with the current value, even if unchanged, so the loop records a success and its
 * subscribers stop being stale without waiting for the next change or {@code maxWait}.
 *
 * <p>Lock rule: no jetcd method (watch, close, get) is called while {@code lock} is held. jetcd
 * calls our listener while holding its own lock, so calling into jetcd under ours could deadlock.
 * An abandoned watcher is closed from another thread, never from inside its own callback: jetcd's
 * error path ends the stream itself right after calling us.
 *
 * <p>Revisions: {@code snapshot.revision} is the key's mod revision (the revision of the put or of
 * the delete); after a Get that finds no key it is the Get's header revision, unless the key was
 * already known to be absent. {@code resumeRevision} is the first revision the next watch must
 * start from: one past the newest revision whose events for this key we have seen (or one past a
 * Get's header). {@code seenRevision} is the newest store revision observed at all.
 *
 * <p>Reset or lag: a header below {@code seenRevision} means the store went backwards (wiped, or
 * an older snapshot restored) only if the answer is linearizable. Gets are (jetcd's default): the
 * member serving one first catches up with the leader's commit index, so its header is at least
 * every revision committed before it was sent. A watch's creation notice is not: etcd answers it
 * with the applied revision of the member that took the watch, and jetcd spreads calls over the
 * cluster's members, so a follower that lags confirms a watch below the revision a Get on another
 * member already showed. Neither cluster id (a restore made with the original cluster's flags
 * keeps it) nor raft term (it changes with every election) tells the two apart, so such a notice
 * only raises the suspicion (VERIFYING, or {@code resetSuspected} after a "future revision" error)
 * and a Get decides. On a lag the watch stays: the member sends its events once it has caught up,
 * and the snapshot, advanced only by newer mod revisions, never goes back meanwhile. Outside a
 * reset the revision published for a key is monotonic, whichever member answered.
 */
final class EtcdKeyWatch {

  private static final System.Logger LOG = System.getLogger(EtcdKeyWatch.class.getName());

  /** The most threads remembered for the recovery report (see {@link #rememberToldFailing}). */
  static final int MAX_REMEMBERED = 1024;

  /** The lifecycle states; see the class comment. */
  enum State { NEW, READING, WATCHING, VERIFYING, LIVE, BACKOFF, CLOSED }

  /**
   * The latest known state of the key.
   *
   * @param value the value, or null if the key is absent
   * @param revision the mod revision of the value (see the class comment), at least 1
   */
  record Snapshot(@Nullable ByteSequence value, long revision) {}

  private final String name;
  private final ByteSequence key;
  private final KV kv;
  private final Watch watch;
  private final Backoff backoff;
  private final Duration requestTimeout;
  private final Ticker ticker;
  private final WatchCounts counter;
  private final Reconnector reconnector;
  private final Executor executor;

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();

  // All guarded by lock.
  @GuardedBy("lock") private State state = State.NEW;
  @GuardedBy("lock") private long generation;
  @GuardedBy("lock") private @Nullable Snapshot snapshot;
  @GuardedBy("lock") private long resumeRevision;
  @GuardedBy("lock") private long seenRevision;
  @GuardedBy("lock") private int failures;
  @GuardedBy("lock") private @Nullable Throwable failure;
  @GuardedBy("lock") private long failingSinceNanos;
  @GuardedBy("lock") private @Nullable Attempt attempt;
  @GuardedBy("lock") private int activeFetches;
  @GuardedBy("lock") private boolean idleCheckPending;
  @GuardedBy("lock") private long idleSinceNanos;
  @GuardedBy("lock") private long resets;
  @GuardedBy("lock") private long compactions;
  @GuardedBy("lock") private long oversized;
  @GuardedBy("lock") private long reads;
  @GuardedBy("lock") private long lags;
  /** A revision below the one seen came back; the next read decides whether etcd was reset. */
  @GuardedBy("lock") private boolean resetSuspected;
  /** In VERIFYING: {@code seenRevision} when the watch was confirmed with a header below it. */
  @GuardedBy("lock") private long suspectedBelow;
  /** The read (Get) sent last, possibly still on its way after its timeout; see {@link #read}. */
  @GuardedBy("lock") private @Nullable CompletableFuture<GetResponse> sentRead;
  /** {@code seenRevision} when {@link #sentRead} was sent. */
  @GuardedBy("lock") private long sentReadSeen;
  /** Threads that a fetch told "failing" during the current failure episode. */
  @GuardedBy("lock") private final Set<Thread> toldFailing = new HashSet<>();
  /** Threads told "failing" whose next fetch must answer at once: the watch recovered. */
  @GuardedBy("lock") private final Set<Thread> owedRecovery = new HashSet<>();

  EtcdKeyWatch(String name, ByteSequence key, KV kv, Watch watch, Backoff backoff,
      Duration requestTimeout, Ticker ticker, WatchCounts counter, Reconnector reconnector,
      Executor executor) {
    this.name = name;
    this.key = key;
    this.kv = kv;
    this.watch = watch;
    this.backoff = backoff;
    this.requestTimeout = requestTimeout;
    this.ticker = ticker;
    this.counter = counter;
    this.reconnector = reconnector;
    this.executor = executor;
    this.idleSinceNanos = ticker.read();
  }

  /** Returns the key, as the caller named it. */
  String name() {
    return name;
  }

  // ---------------------------------------------------------------- fetch side

  /** Starts reading the key if nobody did yet; idempotent. */
  void start() {
    long gen;
    lock.lock();
    try {
      if (state != State.NEW) {
        return;
      }
      gen = ++generation;
      state = State.READING;
    } finally {
      lock.unlock();
    }
    read(gen);
  }

  /**
   * Waits until the snapshot's revision differs from {@code minIndex}, the watch is failing, or
   * {@code maxWaitNanos} passed. A {@code minIndex} above the snapshot's revision (the caller
   * wrote the key, or any key, at that revision and the watch has not shown it yet) first reads
   * the key, so the answer is at least as new as that revision.
   *
   * <p>The first answer (no snapshot yet) waits for the initial read whatever {@code maxWaitNanos}
   * says; that read is bounded by the request timeout, after which the watch is failing.
   *
   * @return the snapshot, newer than (or, after a reset, older than) {@code minIndex}, or the same
   *     one when nothing changed within {@code maxWaitNanos}
   * @throws EtcdUnavailableException if the watch is failing and has nothing newer to offer
   * @throws IllegalStateException if closed
   * @throws InterruptedException if interrupted while waiting
   */
  Snapshot await(long minIndex, long maxWaitNanos) throws InterruptedException {
    long remaining = maxWaitNanos;
    // Safety net: a first read that neither answered nor failed within twice its timeout is
    // declared failed here, which also starts a new read (a late answer of the old one is ignored).
    long firstReadNanos = Durations.saturatedAdd(Durations.toNanosSaturated(requestTimeout),
        Durations.toNanosSaturated(requestTimeout));
    boolean caughtUp = false;
    lock.lockInterruptibly();
    try {
      while (true) {
        if (state == State.CLOSED) {
          throw new IllegalStateException("the etcd watch of key '" + name + "' is closed");
        }
        Snapshot current = snapshot;
        if (current != null && !caughtUp && current.revision() < minIndex && failure == null) {
          // The caller knows a revision this watch has not shown for the key (its own write,
          // its event still on the way): read the key before answering.
          caughtUp = true;
          lock.unlock();
          try {
            catchUp();
          } finally {
            lock.lock();
          }
          continue;
        }
        if (current != null && current.revision() != minIndex) {
          owedRecovery.remove(Thread.currentThread());
          return current;
        }
        Throwable cause = failure;
        if (current != null && cause == null && owedRecovery.remove(Thread.currentThread())) {
          return current; // this caller was told "failing": tell it at once that etcd is back
        }
        if (cause != null) {
          // A caller already told "failing" waits for the recovery (up to its maxWait), so a
          // watch loop is inside fetch, and answered at once, when etcd comes back.
          if (remaining > 0 && current != null && toldFailing.contains(Thread.currentThread())) {
            remaining = changed.awaitNanos(remaining);
            continue;
          }
          rememberToldFailing(Thread.currentThread());
          throw new EtcdUnavailableException(name, failures,
              Duration.ofNanos(Math.max(0, ticker.read() - failingSinceNanos)), cause);
        }
        if (current != null && remaining <= 0) {
          return current;
        }
        if (current == null) {
          if (firstReadNanos <= 0) {
            scheduleRetry(recordFailure(new java.util.concurrent.TimeoutException(
                "etcd did not answer the read of key '" + name + "' within " + requestTimeout)));
            continue;
          }
          firstReadNanos = changed.awaitNanos(firstReadNanos);
        } else {
          remaining = changed.awaitNanos(remaining);
        }
      }
    } finally {
      lock.unlock();
    }
  }

  /**
   * Reads the key (bounded by the request timeout, cancelled after it) and publishes the answer if
   * it is newer than the snapshot. Called without the lock. An answer from a store revision below
   * the newest seen is left alone: whether the store was reset is for the watch to find out.
   *
   * @throws EtcdUnavailableException if the read failed or timed out
   * @throws InterruptedException if interrupted while waiting for it
   */
  private void catchUp() throws InterruptedException {
    CompletableFuture<GetResponse> get = kv.get(key);
    GetResponse response;
    try {
      response = get.get(Durations.toNanosSaturated(requestTimeout), TimeUnit.NANOSECONDS);
    } catch (java.util.concurrent.TimeoutException e) {
      throw new EtcdUnavailableException(name, "etcd did not answer a read of key '" + name
          + "' within " + requestTimeout, e);
    } catch (java.util.concurrent.ExecutionException e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      throw new EtcdUnavailableException(name, "a read of key '" + name + "' failed: " + cause, cause);
    } finally {
      get.cancel(true); // nothing when it completed; else the call is abandoned
    }
    long header = response.getHeader().getRevision();
    lock.lock();
    try {
      Snapshot current = snapshot;
      if (state == State.CLOSED || current == null || header < seenRevision) {
        return;
      }
      seenRevision = header;
      publish(readSnapshot(response, false));
    } finally {
      lock.unlock();
    }
  }

  /**
   * Remembers a thread told "failing", at most {@link #MAX_REMEMBERED} of them: watch loops are
   * few per key, while direct callers on short-lived threads could otherwise pile up here.
   */
  @GuardedBy("lock") // callers hold it
  private void rememberToldFailing(Thread thread) {
    if (toldFailing.size() >= MAX_REMEMBERED) {
      toldFailing.removeIf(told -> !told.isAlive());
      owedRecovery.removeIf(owed -> !owed.isAlive());
    }
    if (toldFailing.size() + owedRecovery.size() < MAX_REMEMBERED) {
      toldFailing.add(thread);
    }
  }

  /** Counts a fetch in progress, so idle eviction leaves the watch alone. */
  void enter() {
    lock.lock();
    try {
      activeFetches++;
    } finally {
      lock.unlock();
    }
  }

  /**
   * Counts the end of a fetch.
   *
   * @return true if no fetch is in progress any more and no idle check is pending: the caller
   *     schedules one (so there is at most one per key, however many fetches end)
   */
  boolean exit() {
    lock.lock();
    try {
      activeFetches--;
      if (activeFetches == 0) {
        idleSinceNanos = ticker.read();
        if (!idleCheckPending && state != State.CLOSED) {
          idleCheckPending = true;
          return true;
        }
      }
      return false;
    } finally {
      lock.unlock();
    }
  }

  /**
   * After an idle check that did not evict this watch: returns in how many nanoseconds to check
   * again, or -1 if no check is needed now (closed, or a fetch is in progress: its exit schedules
   * the next one).
   *
   * @param idleNanos the idle timeout
   */
  long nextIdleCheck(long idleNanos) {
    lock.lock();
    try {
      if (state == State.CLOSED || activeFetches > 0) {
        idleCheckPending = false;
        return -1;
      }
      return Math.max(idleNanos - (ticker.read() - idleSinceNanos), TimeUnit.MILLISECONDS.toNanos(1));
    } finally {
      lock.unlock();
    }
  }

  /**
   * Returns whether no fetch is in progress and none ended within {@code idleNanos}.
   *
   * @param idleNanos the idle time required; zero means "no fetch in progress"
   */
  boolean isIdle(long idleNanos) {
    lock.lock();
    try {
      return activeFetches == 0 && ticker.read() - idleSinceNanos >= idleNanos;
    } finally {
      lock.unlock();
    }
  }

  /** Closes the etcd watch and wakes every waiter; idempotent. */
  void close() {
    Attempt abandoned;
    lock.lock();
    try {
      if (state == State.CLOSED) {
        return;
      }
      state = State.CLOSED;
      generation++;
      abandoned = attempt;
      attempt = null;
      reconnector.healthy(this);
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    if (abandoned != null) {
      abandoned.abandon();
    }
  }

  // ---------------------------------------------------------------- etcd side

  /** Runs a callback; an unexpected exception is logged and handled as a failure, never lost. */
  private void guarded(String what, Runnable callback) {
    try {
      callback.run();
    } catch (RuntimeException | Error e) {
      LOG.log(System.Logger.Level.WARNING, "etcd watch of key '" + name + "': " + what + " failed", e);
      Attempt abandoned = null;
      lock.lock();
      try {
        if (state != State.CLOSED) {
          abandoned = attempt;
          attempt = null;
          scheduleRetry(recordFailure(e));
        }
      } finally {
        lock.unlock();
      }
      if (abandoned != null) {
        abandoned.abandonLater();
      }
      if (e instanceof Error error) {
        throw error;
      }
    }
  }

  /**
   * Reads the key for generation {@code gen}, bounded by the request timeout.
   *
   * <p>jetcd cannot cancel a read: the future it returns is a stage after its own retry logic, so
   * completing or cancelling it leaves the gRPC call running, and while the channel is down the
   * call waits for it to be ready. A read whose timeout passed is therefore still on its way, and
   * if each retry sent a new one, an outage would pile up one call per retry per key. So at most
   * one read per key is in flight: while the last one sent has not answered, the next attempt
   * waits for that one (under its own timeout) instead of sending another.
   */
  private void read(long gen) {
    CompletableFuture<GetResponse> get = null;
    long seenWhenSent;
    lock.lock();
    try {
      reads++;
      CompletableFuture<GetResponse> inFlight = sentRead;
      if (inFlight != null && !inFlight.isDone()) {
        get = inFlight;
        seenWhenSent = sentReadSeen;
      } else {
        seenWhenSent = seenRevision;
      }
    } finally {
      lock.unlock();
    }
    if (get == null) {
      try {
        get = kv.get(key);
      } catch (RuntimeException e) {
        onRead(gen, null, e, seenWhenSent);
        return;
      }
      lock.lock();
      try {
        sentRead = get;
        sentReadSeen = seenWhenSent;
      } finally {
        lock.unlock();
      }
    }
    var unusedRead = get.copy().orTimeout(Durations.toNanosSaturated(requestTimeout), TimeUnit.NANOSECONDS)
        .whenCompleteAsync((response, error) -> guarded("a read", () -> onRead(gen, response, error, seenWhenSent)),
            executor);
  }

  /**
   * The answer of a read for generation {@code gen}; {@code seenWhenSent} is the newest revision
   * seen when the read was sent (a read answered late may be older than what was seen since, which
   * is no reset).
   *
   * <p>Reads are linearizable: whichever member serves one, its header is at least every revision
   * the cluster had committed when it was sent. A header below {@code seenWhenSent} is therefore a
   * store that went backwards (a reset), never a member that lags. In VERIFYING (the watch was
   * confirmed below the revision seen) an answer at or above {@link #suspectedBelow} shows the
   * member that confirmed it lags: the watch stays. An answer that shows neither (an older read
   * still in flight was reused) abandons the watch and reads again.
   */
  private void onRead(long gen, @Nullable GetResponse response, @Nullable Throwable error,
      long seenWhenSent) {
    @Nullable Attempt next = null;
    @Nullable Attempt abandoned = null;
    long from = 0;
    long readAgain = -1;
    lock.lock();
    try {
      if (gen != generation) {
        return;
      }
      boolean verifying = state == State.VERIFYING;
      if (verifying) {
        abandoned = attempt; // unless the member only lags: then the watch stays, below
      }
      if (error != null || response == null) {
        Throwable cause = error != null ? error : new ShepherdException("etcd answered no response");
        if (verifying) {
          attempt = null;
          resetSuspected = true;
        }
        scheduleRetry(recordFailure(unwrap(cause)));
        return;
      }
      long header = response.getHeader().getRevision();
      boolean reset = seenWhenSent > 0 && header < seenWhenSent;
      if (verifying && !reset) {
        if (header >= suspectedBelow) {
          abandoned = null;
          lags++;
          LOG.log(System.Logger.Level.DEBUG, "the etcd member watching key ''{0}'' lags (revision"
              + " {1} seen, a read answered {2}): no reset, the watch stays", name, suspectedBelow, header);
          publish(readSnapshot(response, false));
          seenRevision = Math.max(seenRevision, header);
          resumeRevision = Math.max(resumeRevision, header + 1);
          state = State.LIVE;
          clearFailure();
          changed.signalAll();
          return;
        }
        attempt = null;
        resetSuspected = true;
        readAgain = ++generation;
        state = State.READING;
        return;
      }
      if (verifying) {
        attempt = null;
      }
      if (reset) {
        resets++;
        LOG.log(System.Logger.Level.INFO, "etcd was reset (revision {0} seen, {1} now): key ''{2}''"
            + " read again", seenRevision, header, name);
      } else if (resetSuspected) {
        lags++;
        LOG.log(System.Logger.Level.DEBUG, "etcd answered key ''{0}'' below the revision seen, but a"
            + " read shows no reset (revision {1} seen, {2} read)", name, seenWhenSent, header);
      }
      resetSuspected = false;
      Snapshot read = readSnapshot(response, reset);
      if (reset) {
        snapshot = read;
      } else {
        publish(read);
      }
      seenRevision = reset ? header : Math.max(seenRevision, header);
      resumeRevision = header + 1;
      clearFailure();
      next = newAttempt(State.WATCHING);
      from = resumeRevision;
      changed.signalAll();
    } finally {
      lock.unlock();
      if (abandoned != null) {
        abandoned.abandonLater();
      }
    }
    if (readAgain >= 0) {
      read(readAgain);
    } else if (next != null) {
      open(next, from);
    }
  }

  /** The key's state as a read found it; an absent key keeps its index (see {@link #absentAt}). */
  @GuardedBy("lock") // callers hold it
  private Snapshot readSnapshot(GetResponse response, boolean reset) {
    return response.getKvs().isEmpty()
        ? absentAt(response.getHeader().getRevision(), reset)
        : new Snapshot(response.getKvs().get(0).getValue(), response.getKvs().get(0).getModRevision());
  }

  /**
   * Makes {@code read} the snapshot if it is newer: outside a reset the revision delivered for a
   * key never goes back, whichever member or stream answered last.
   */
  @GuardedBy("lock") // callers hold it
  private void publish(Snapshot read) {
    Snapshot current = snapshot;
    if (current == null || read.revision() > current.revision()) {
      snapshot = read;
      changed.signalAll();
    }
  }

  /** An absent key keeps the index it was deleted at, so a re-read of it delivers nothing new. */
  @GuardedBy("lock") // callers hold it
  private Snapshot absentAt(long header, boolean reset) {
    Snapshot known = snapshot;
    if (!reset && known != null && known.value() == null) {
      return known;
    }
    return new Snapshot(null, header);
  }

  private void open(Attempt next, long fromRevision) {
    Watch.Watcher watcher;
    try {
      // requireLeader: a member cut off from its cluster's quorum keeps an ordinary stream open
      // and sends nothing, so the key would look live while no write can reach it; with it, etcd
      // refuses the stream, and cancels an open one once the member has been without a leader for
      // three election timeouts, and the watch fails ("no leader") and is reopened.
      watcher = watch.watch(key, WatchOption.builder().withRevision(fromRevision)
          .withCreateNotify(true).withRequireLeader(true).build(), next);
    } catch (RuntimeException e) {
      next.onError(e);
      return;
    }
    next.attach(watcher);
    CompletableFuture.delayedExecutor(Durations.toNanosSaturated(requestTimeout), TimeUnit.NANOSECONDS, executor)
        .execute(() -> guarded("a creation deadline", () -> creationDeadline(next)));
  }

  /**
   * Fails an attempt whose watch etcd has neither confirmed nor refused within the request
   * timeout: a creation request stuck on a stalled connection (or queued behind a proxy's stream
   * limit) would otherwise leave the key waiting with no failure reported.
   */
  private void creationDeadline(Attempt pending) {
    lock.lock();
    try {
      if (pending.generation != generation || state != State.WATCHING) {
        return; // confirmed (LIVE), failed, or abandoned meanwhile
      }
      attempt = null;
      scheduleRetry(recordFailure(new java.util.concurrent.TimeoutException(
          "etcd did not confirm the watch of key '" + name + "' within " + requestTimeout)));
    } finally {
      lock.unlock();
    }
    pending.abandonUnconfirmed();
  }

  private void onResponse(Attempt from, WatchResponse response) {
    long gen;
    lock.lock();
    try {
      if (from.generation != generation) {
        return;
      }
      long header = response.getHeader().getRevision();
      if (response.isCreatedNotify()) {
        if (header < seenRevision) {
          // A reset, or a member that lags: the watch stays open while a linearizable read decides
          state = State.VERIFYING;
          suspectedBelow = seenRevision;
          gen = generation;
        } else {
          seenRevision = Math.max(seenRevision, header);
          state = State.LIVE;
          clearFailure();
          changed.signalAll();
          return;
        }
      } else {
        boolean advanced = false;
        for (WatchEvent event : response.getEvents()) {
          long revision = event.getKeyValue().getModRevision();
          seenRevision = Math.max(seenRevision, revision);
          resumeRevision = Math.max(resumeRevision, revision + 1);
          Snapshot current = snapshot;
          if (current == null || revision > current.revision()) {
            snapshot = new Snapshot(
                event.getEventType() == WatchEvent.EventType.DELETE ? null : event.getKeyValue().getValue(),
                revision);
            advanced = true;
          }
        }
        seenRevision = Math.max(seenRevision, header);
        if (advanced) {
          changed.signalAll();
        }
        return;
      }
    } finally {
      lock.unlock();
    }
    read(gen);
  }

  private void onError(Attempt from, Throwable error) {
    Throwable cause = unwrap(error);
    long gen = -1;
    lock.lock();
    try {
      if (from.generation != generation) {
        return;
      }
      attempt = null;
      if (cause instanceof CompactedException compacted) {
        compactions++;
        LOG.log(System.Logger.Level.DEBUG, "etcd compacted revision {0} of key ''{1}''; re-read",
            compacted.getCompactedRevision(), name);
        gen = ++generation;
        state = State.READING;
      } else if (isFutureRevision(cause)) {
        resetSuspected = true; // decided, counted and logged by the read that follows
        gen = ++generation;
        state = State.READING;
      } else if (isTooLarge(cause)) {
        // The events since resumeRevision do not fit in one gRPC message (after a cut, etcd sends
        // up to 1,000 revisions at once). Resuming from the same revision would fail the same way
        // until etcd compacts it; only the latest value is needed, so read it and go on from there.
        oversized++;
        LOG.log(System.Logger.Level.INFO, "the events of key ''{0}'' since revision {1} exceed one"
            + " gRPC message; the key is read again and versions in between are skipped",
            name, resumeRevision);
        gen = ++generation;
        state = State.READING;
      } else {
        scheduleRetry(recordFailure(cause));
      }
    } finally {
      lock.unlock();
    }
    from.abandonLater();
    if (gen >= 0) {
      read(gen);
    }
  }

  private void onCompleted(Attempt from) {
    lock.lock();
    try {
      if (from.generation != generation) {
        return;
      }
      attempt = null;
      scheduleRetry(recordFailure(new ShepherdException("etcd ended the watch of key '" + name + "'")));
    } finally {
      lock.unlock();
    }
    from.abandonLater();
  }

  private static boolean isTooLarge(Throwable cause) {
    return cause instanceof EtcdException etcd && etcd.getErrorCode() == ErrorCode.RESOURCE_EXHAUSTED;
  }

  private static boolean isFutureRevision(Throwable cause) {
    return cause instanceof EtcdException etcd
        && (etcd.getErrorCode() == ErrorCode.OUT_OF_RANGE
            || String.valueOf(etcd.getMessage()).contains("future revision"));
  }

  private static Throwable unwrap(Throwable error) {
    Throwable cause = error;
    while (cause instanceof java.util.concurrent.CompletionException && cause.getCause() != null) {
      cause = cause.getCause();
    }
    return cause;
  }

  /** Records a failure and moves to BACKOFF; returns the generation the retry belongs to. */
  @GuardedBy("lock") // callers hold it
  private long recordFailure(Throwable cause) {
    if (failure == null) {
      failingSinceNanos = ticker.read();
    }
    failure = cause;
    failures = failures == Integer.MAX_VALUE ? failures : failures + 1;
    state = State.BACKOFF;
    reconnector.failing(this);
    changed.signalAll();
    LOG.log(System.Logger.Level.DEBUG, "etcd watch of key ''{0}'' failed ({1} in a row): {2}",
        name, failures, cause);
    return ++generation;
  }

  @GuardedBy("lock") // callers hold it
  private void clearFailure() {
    if (failure != null) {
      LOG.log(System.Logger.Level.DEBUG, "etcd watch of key ''{0}'' recovered after {1} failures",
          name, failures);
      owedRecovery.addAll(toldFailing);
      toldFailing.clear();
      changed.signalAll();
    }
    failure = null;
    failures = 0;
    reconnector.healthy(this);
  }

  @GuardedBy("lock") // callers hold it
  private void scheduleRetry(long gen) {
    long delay = Durations.toNanosSaturated(backoff.delay(failures));
    CompletableFuture.delayedExecutor(delay, TimeUnit.NANOSECONDS, executor)
        .execute(() -> guarded("a retry", () -> retry(gen)));
  }

  private void retry(long gen) {
    @Nullable Attempt next = null; // null: read the key again instead of resuming the watch
    long from = 0;
    lock.lock();
    try {
      if (gen != generation) {
        return;
      }
      if (snapshot == null || resetSuspected) {
        state = State.READING;
      } else {
        next = newAttempt(State.WATCHING);
        from = resumeRevision;
      }
    } finally {
      lock.unlock();
    }
    if (next == null) {
      read(gen);
    } else {
      open(next, from);
    }
  }

  @GuardedBy("lock") // callers hold it
  private Attempt newAttempt(State watching) {
    Attempt next = new Attempt(++generation);
    attempt = next;
    state = watching;
    return next;
  }

  // ---------------------------------------------------------------- introspection

  State state() {
    lock.lock();
    try {
      return state;
    } finally {
      lock.unlock();
    }
  }

  /**
   * How often the key was reset, read in full, found compacted, read again because its backlog
   * exceeded one message, and answered below the revision seen by a member that only lagged (no
   * reset); one consistent reading.
   */
  record Counts(long resets, long reads, long compactions, long oversized, long lags) {}

  Counts counts() {
    lock.lock();
    try {
      return new Counts(resets, reads, compactions, oversized, lags);
    } finally {
      lock.unlock();
    }
  }

  /** How many threads are remembered for the recovery report now (for tests). */
  int rememberedThreads() {
    lock.lock();
    try {
      return toldFailing.size() + owedRecovery.size();
    } finally {
      lock.unlock();
    }
  }

  long resets() {
    return counts().resets();
  }

  long reads() {
    return counts().reads();
  }

  long compactions() {
    return counts().compactions();
  }

  long oversized() {
    return counts().oversized();
  }

  @Override
  public String toString() {
    lock.lock();
    try {
      return "EtcdKeyWatch{key=" + name + ", state=" + state + ", revision="
          + (snapshot == null ? "none" : snapshot.revision()) + ", resumeRevision=" + resumeRevision
          + ", failures=" + failures + "}";
    } finally {
      lock.unlock();
    }
  }

  /**
   * One jetcd watcher and the listener that reports to this key watch under its generation.
   *
   * <p>A watcher is closed only once etcd has confirmed its creation, or once its stream failed: an
   * abandoned attempt waits for its notice (or its error) and closes then. The rule was made for
   * jetcd 0.8.3, which closed a watcher whose notice had not arrived without a cancel request, so
   * that etcd created it anyway and kept it until the connection closed. jetcd 0.8.7, the version
   * the build uses, leaves nothing on the server whether a watcher is closed before or after its
   * notice ({@code JetcdBehaviourTest} pins both); the rule is kept as it costs only that wait.
   */
  private final class Attempt implements Watch.Listener {
    final long generation;
    private volatile Watch.@Nullable Watcher watcher;
    private volatile boolean abandoned;
    private volatile boolean closable;
    private final AtomicBoolean counted = new AtomicBoolean();

    Attempt(long generation) {
      this.generation = generation;
    }

    void attach(Watch.Watcher opened) {
      counter.opened();
      counted.set(true);
      watcher = opened;
      if (abandoned) {
        closeWatcher();
      }
    }

    /** Closes the jetcd watcher on this thread; never call from a jetcd callback. */
    void abandon() {
      abandoned = true;
      closeWatcher();
    }

    /**
     * Closes a watcher whose creation etcd never confirmed, without waiting for a notice that may
     * not come (jetcd 0.8.7 leaves nothing on the server then: see the class comment).
     */
    void abandonUnconfirmed() {
      closable = true;
      abandonLater();
    }

    /** Closes the jetcd watcher from another thread (we may be inside its callback). */
    void abandonLater() {
      abandoned = true;
      var unusedClose = CompletableFuture.runAsync(this::closeWatcher, executor);
    }

    /** Closes the watcher if it is attached and closable; else its notice or error will. */
    private void closeWatcher() {
      Watch.Watcher opened = watcher;
      if (opened == null || !closable) {
        return;
      }
      try {
        opened.close();
      } catch (RuntimeException e) {
        LOG.log(System.Logger.Level.DEBUG, "closing an etcd watcher failed", e);
      }
      if (counted.compareAndSet(true, false)) {
        counter.closed();
      }
    }

    /** The watcher may be closed from now on; closes it (off this callback) if abandoned. */
    private void becomeClosable() {
      closable = true;
      if (abandoned) {
        var unusedClose = CompletableFuture.runAsync(this::closeWatcher, executor);
      }
    }

    @Override
    public void onNext(WatchResponse response) {
      if (response.isCreatedNotify()) {
        becomeClosable();
      }
      guarded("an event", () -> onResponse(this, response));
    }

    @Override
    public void onError(Throwable error) {
      becomeClosable();
      guarded("an error", () -> EtcdKeyWatch.this.onError(this, error));
    }

    @Override
    public void onCompleted() {
      becomeClosable();
      guarded("a completion", () -> EtcdKeyWatch.this.onCompleted(this));
    }
  }
}
