package dev.shepherd.idempotency;

import dev.shepherd.core.Deadline;
import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.Require;
import dev.shepherd.core.Ticker;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.jspecify.annotations.Nullable;

/**
 * Tracks idempotency keys so that a request runs at most once per key, across threads and, with a
 * shared {@link IdempotencyStore}, across JVMs.
 *
 * <pre>{@code
 * IdempotencyTracker tracker = IdempotencyTracker.builder()
 *     .store(InMemoryIdempotencyStore.create()) // or JdbcIdempotencyStore, RedisIdempotencyStore
 *     .lease(Duration.ofSeconds(60))            // default 60 s
 *     .retention(Duration.ofHours(24))          // default 24 h
 *     .build();
 *
 * static StoredResponse handle(
 *     IdempotencyTracker tracker, String key, String fingerprint, Supplier<StoredResponse> handler) {
 *   return switch (tracker.track(key, fingerprint)) {
 *     case Tracked.Claimed claim -> {
 *       StoredResponse response;
 *       try {
 *         response = handler.get();
 *       } catch (RuntimeException e) {
 *         tracker.fail(claim, e); // Halted by default; FailurePolicy.RELEASE lets a retry run
 *         throw e;
 *       }
 *       tracker.complete(claim, response); // ClaimLostException if the key was taken over
 *       yield response;
 *     }
 *     case Tracked.Completed done -> done.response(); // replay, byte for byte
 *     case Tracked.InProgress busy ->
 *         problem(409, "in progress; retry in " + busy.leaseRemaining().toSeconds() + " s");
 *     case Tracked.Halted halted -> problem(500, "the first attempt failed: " + halted.reason());
 *     case Tracked.Mismatch mismatch -> problem(422, "key reused with another payload");
 *   };
 * }
 * }</pre>
 *
 * (This sample runs in the module's {@code UsageSampleTest}.)
 *
 * <h2>Keys and fingerprints</h2>
 *
 * The key is an already-scoped string (an HTTP filter builds it from the principal, the method,
 * the path and the {@code Idempotency-Key} header): 1 to {@value #MAX_KEY_LENGTH} characters and at
 * most {@value #MAX_KEY_BYTES} bytes in UTF-8, no U+0000 and no unpaired surrogate, so that it is
 * stored unchanged by every store (PostgreSQL refuses an index entry over 2,704 bytes: a limit in
 * characters alone let 1,024 CJK characters, 3,072 bytes, through to a store error on every try). The fingerprint
 * is an opaque string the caller computes (for example a hex SHA-256 of the request), with the same
 * rules and at most {@value #MAX_FINGERPRINT_LENGTH} characters.
 *
 * <h2>Lifecycle of a key's record (in the store)</h2>
 *
 * <pre>
 *   ABSENT ──track──▶ IN_PROGRESS(token t, lease) ──complete(t)──▶ COMPLETED(response) ─┐
 *                       │  ▲ heartbeat renew(t)     ──fail(t)/halt(t)──▶ HALTED(reason) ─┤
 *                       │  └──┘                     ──release(t)/fail(t) RELEASE──▶ ABSENT
 *                       │ lease ran out, then track:                                     │
 *                       ├─ TAKE_OVER ──▶ IN_PROGRESS(token t' &gt; t, tookOver)           │
 *                       └─ HALT ──────▶ HALTED("owner vanished")                       │
 *   retention ran out (COMPLETED, HALTED, or IN_PROGRESS whose lease ran out) ─▶ ABSENT ◀┘
 * </pre>
 *
 * An operation with a token that is no longer the record's changes nothing: a former owner never
 * overwrites its successor. Every transition is one atomic store operation; the tracker holds no
 * lock across a store call, and two trackers that share a store need no other coordination.
 *
 * <h2>Two lifetimes</h2>
 *
 * A claim holds for {@link Builder#lease(Duration) lease} (default 60 s); while the claim is
 * held, a heartbeat in this tracker renews it every {@link Builder#heartbeatInterval(Duration)
 * heartbeat interval} (default a third of the lease). If this JVM dies, renewals stop and the key
 * can be taken over once the lease runs out, not after retention. Completed and halted records are
 * kept for {@link Builder#retention(Duration) retention} (default 24 h) and then pruned in the
 * background every {@link Builder#pruneInterval(Duration) prune interval} (default 60 s), at most
 * {@link Builder#pruneBatchSize(int) batch size} (default 1,000) records per store call, never on
 * the caller's thread.
 *
 * <h2>When the store fails</h2>
 *
 * A claim is never given back because storing its outcome failed: {@link #complete} and
 * {@link #halt} keep the claim held and renewed while they retry for
 * {@link Builder#completionRetry(Duration) completionRetry} (default 5 s), and after that the
 * heartbeat keeps trying until the outcome is stored or the claim is lost. Renewals run at most a
 * third of the lease apart, one per claim at a time, each bounded by the store's timeouts; if none
 * confirms the lease in time, {@link #isHeld} turns false and the
 * {@link Builder#claimListener(ClaimListener) listener} is told, no later than the moment another
 * owner could claim the key. Only a store unreachable for longer than the lease (or a dead JVM)
 * lets the key change hands; {@link Tracked.Claimed#fencingToken()} then keeps the former owner's
 * writes out, and {@link JdbcClaimTransaction} makes writes to the same PostgreSQL database
 * exactly once.
 *
 * <p>Thread-safe. {@link #close()} stops the heartbeat and pruning; it does not close the store.
 * Outcomes still waiting to be stored (a {@link #complete} or {@link #halt} that threw) are tried
 * once more by {@code close()}, retrying for up to {@code completionRetry}; those still not stored
 * then are logged and their leases run out, as do the leases of claims whose requests are still
 * running (they are no longer renewed), so their keys can be taken over after the lease.
 */
public final class IdempotencyTracker implements AutoCloseable {

  /*
   * State of a claim this tracker holds (one Holding per claim in `held`):
   *
   *   CONFIRMED ──renew ok──▶ CONFIRMED (confirmedUntil moves forward)
   *     │  no renewal confirmed before confirmedUntil ──▶ UNCONFIRMED (isHeld() false; listener
   *     │                                                  told once; renewals go on, and a later
   *     │                                                  successful renewal confirms it again)
   *     │  renew answered "not yours" ──────────────────▶ LOST (removed; listener told)
   *     │  complete/halt stored ─────────────────────────▶ FINISHED (removed)
   *     └  complete/halt failed past completionRetry ─────▶ PENDING (still held and renewed; each
   *                                                         heartbeat tries the outcome again until
   *                                                         it is stored or the claim is LOST;
   *                                                         a halt, fail or release meanwhile
   *                                                         changes nothing and returns false)
   *
   * confirmedUntil is a ticker reading: the instant a renewal (or the claim) was SENT plus the
   * lease. The store starts the lease when it executes the call, which is after it was sent, so
   * no other owner can claim the key before confirmedUntil (clocks running at the same rate):
   * isHeld() turns false before anyone else can hold the key.
   *
   * Who wakes whom. One timer thread ticks the heartbeat every heartbeatInterval (at most a third
   * of the lease) and hands each held claim's renewal to the executor, unless that claim's previous
   * renewal is still in flight (`Holding.busy`): a hung store never piles up renewals, threads or
   * connections, and every renewal is bounded by the store's own timeouts. The same thread runs,
   * for each held claim, one check armed for its confirmedUntil, which tells the listener the
   * moment the lease is unconfirmed (a heartbeat tick would be up to an interval late) and arms
   * itself again while renewals keep moving confirmedUntil, and is cancelled (and leaves the
   * timer's queue) when the claim is let go; the heartbeat checks too, as a fallback. complete/halt keep the
   * claim in `held` while they retry, so it is renewed throughout; release removes it first (a
   * release that fails is harmless: the key becomes claimable when the lease runs out, which is what
   * release asked for).
   *
   * Waiters in track(key, fp, maxWait) poll the store with growing pauses (a store shared across
   * JVMs cannot notify us), parked between polls and registered in `waiting` under their key; an
   * owner in this JVM that finishes a claim unparks the waiters of that key only, so they re-poll
   * at once instead of after their pause, and a finish never wakes the waiters of other keys.
   *
   * A claim whose store call failed may still have been written (its reply lost to a timeout):
   * nobody would renew or finish it, and it would block its key for a lease, or under
   * OrphanPolicy.HALT halt it. Every claim carries a random claim id, and a failed one goes to
   * `orphans`, whose entries are released by that id at once and on each heartbeat (one call per
   * entry at a time) until released or past their lease. Not finding the claim does not end the
   * attempts: a statement the caller gave up on may still be on its way to the store (a
   * connection closed at its network timeout does not stop a statement the server already has
   * in its buffer), and it can write the claim after the first release found nothing.
   *
   * Pruning runs on the executor, one run at a time (`pruning`), in batches of pruneBatchSize,
   * so no store call holds a table or a lock for long and track() never waits for it.
   */

  /** The longest key accepted, in characters. */
  public static final int MAX_KEY_LENGTH = 1024;

  /**
   * The longest key accepted, in bytes of its UTF-8 form: every store indexes the key, and
   * PostgreSQL's btree index takes at most 2,704 bytes per entry.
   */
  public static final int MAX_KEY_BYTES = 2048;

  /** The longest fingerprint accepted, in characters. */
  public static final int MAX_FINGERPRINT_LENGTH = 1024;

  /** The longest halted reason stored, in characters; longer reasons are cut. */
  public static final int MAX_REASON_LENGTH = 1024;

  /** The reason of a record halted because its owner vanished under {@link OrphanPolicy#HALT}. */
  public static final String OWNER_VANISHED =
      "owner vanished: its lease ran out without a response";

  private static final System.Logger LOG = System.getLogger(IdempotencyTracker.class.getName());
  private static final int MAX_PRUNE_BATCHES_PER_RUN = 1000;
  private static final long MIN_POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(5);
  private static final long MAX_POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(500);
  private static final long FIRST_RETRY_NANOS = TimeUnit.MILLISECONDS.toNanos(20);
  private static final long MAX_RETRY_NANOS = TimeUnit.SECONDS.toNanos(1);
  private static final int MAX_ORPHANS = 1024;

  private final Config config;
  private final IdempotencyStore store;
  private final Duration lease;
  private final long leaseNanos;
  private final Duration retention;
  private final OrphanPolicy orphanPolicy;
  private final FailurePolicy failurePolicy;
  private final long completionRetryNanos;
  private final Executor executor;
  private final @Nullable ExecutorService ownedExecutor;
  private final Ticker ticker;
  private final ClaimListener listener;
  private final ScheduledExecutorService timer;

  /** Claims whose reply never came, to release by their claim id; see releaseOrphanLater. */
  private final ConcurrentHashMap<String, Orphan> orphans = new ConcurrentHashMap<>();

  /** Held claims; see the state machine above. */
  private final ConcurrentHashMap<Tracked.Claimed, Holding> held = new ConcurrentHashMap<>();
  private final @Nullable ReplayCache replayCache;
  private final AtomicBoolean pruning = new AtomicBoolean();
  private final AtomicBoolean closed = new AtomicBoolean();
  private final AtomicLong renewals = new AtomicLong();
  /** Threads in track(key, fp, maxWait), by the key they wait for; a key's set, never empty. */
  private final ConcurrentHashMap<String, Set<Thread>> waiting = new ConcurrentHashMap<>();

  /** The outcome a claim is to be finished with once the store takes it. */
  private sealed interface Outcome {
    record Complete(StoredResponse response) implements Outcome {}

    record Halt(String reason) implements Outcome {}
  }

  /** A claim that may have been written although its call failed: released by its claim id. */
  private static final class Orphan {
    final String key;
    final String claimId;
    /** Past this ticker reading its lease ran out: another owner may have it, stop trying. */
    final long until;
    /** A release is in flight: never two at once. */
    final AtomicBoolean busy = new AtomicBoolean();

    Orphan(String key, String claimId, long until) {
      this.key = key;
      this.claimId = claimId;
      this.until = until;
    }
  }

  /** A claim this tracker holds and renews. */
  private static final class Holding {
    final Tracked.Claimed claim;
    final String fingerprint;
    /** A renewal or a pending outcome's store call is in flight: never start a second one. */
    final AtomicBoolean busy = new AtomicBoolean();
    /** Told the listener that the lease is unconfirmed; reset when a renewal confirms it. */
    final AtomicBoolean reportedUnconfirmed = new AtomicBoolean();
    volatile long confirmedUntil;
    /** The check armed for confirmedUntil; cancelled when the claim is no longer held. */
    volatile @Nullable ScheduledFuture<?> check;
    volatile @Nullable Outcome pending;
    /**
     * A complete or halt of this claim is in a store call on the caller's thread: a renewal that
     * finds the claim gone may have run after that call finished the record (see renew).
     */
    volatile boolean finishing;

    Holding(Tracked.Claimed claim, String fingerprint, long confirmedUntil) {
      this.claim = claim;
      this.fingerprint = fingerprint;
      this.confirmedUntil = confirmedUntil;
    }

    /**
     * Moves confirmedUntil forward.
     *
     * @return true if the listener had been told the lease was unconfirmed (the check that tells
     *     it must be armed again)
     */
    boolean confirm(long until) {
      // Only forward: a slow renewal answered after a faster later one must not shorten it.
      long current;
      do {
        current = confirmedUntil;
        if (until - current <= 0) {
          return false;
        }
      } while (!CONFIRMED.compareAndSet(this, current, until));
      return reportedUnconfirmed.getAndSet(false);
    }

    private static final java.lang.invoke.VarHandle CONFIRMED;

    static {
      try {
        CONFIRMED = java.lang.invoke.MethodHandles.lookup()
            .findVarHandle(Holding.class, "confirmedUntil", long.class);
      } catch (ReflectiveOperationException e) {
        throw new ExceptionInInitializerError(e);
      }
    }
  }

  private IdempotencyTracker(Builder b, IdempotencyStore store, Config config) {
    this.config = config;
    this.store = store;
    this.lease = config.lease();
    this.leaseNanos = Durations.toNanosSaturated(lease);
    this.retention = config.retention();
    this.orphanPolicy = config.orphanPolicy();
    this.failurePolicy = config.failurePolicy();
    this.completionRetryNanos = Durations.toNanosSaturated(config.completionRetry());
    this.ticker = b.ticker;
    this.listener = b.listener;
    this.replayCache =
        config.replayCacheSize() > 0
            ? new ReplayCache(
                config.replayCacheSize(),
                Durations.toNanosSaturated(
                    config.replayCacheTtl().compareTo(retention) < 0
                        ? config.replayCacheTtl()
                        : retention))
            : null;
    if (b.executor != null) {
      this.executor = b.executor;
      this.ownedExecutor = null;
    } else {
      ExecutorService virtual =
          Executors.newThreadPerTaskExecutor(
              Thread.ofVirtual().name("shepherd-idempotency-", 0).factory());
      this.executor = virtual;
      this.ownedExecutor = virtual;
    }
    ScheduledThreadPoolExecutor scheduler =
        new ScheduledThreadPoolExecutor(
            1, Thread.ofPlatform().daemon().name("shepherd-idempotency-timer").factory());
    // Each held claim has a check armed for its lease; a claim finished long before its lease
    // ends takes its check out of the queue instead of leaving it there until it comes due.
    scheduler.setRemoveOnCancelPolicy(true);
    this.timer = scheduler;
  }

  private void start() {
    long beat = Math.max(1, Durations.toNanosSaturated(config.heartbeatInterval()));
    // The futures are not kept: both tasks run until the timer is shut down, and each catches
    // its own failures.
    var unusedHeartbeat =
        timer.scheduleWithFixedDelay(this::heartbeat, beat, beat, TimeUnit.NANOSECONDS);
    long prune = Durations.toNanosSaturated(config.pruneInterval());
    var unusedPrune =
        timer.scheduleWithFixedDelay(this::schedulePrune, prune, prune, TimeUnit.NANOSECONDS);
  }

  /**
   * Returns a builder with every default.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Returns the settings this tracker was built with.
   *
   * @return the immutable settings
   */
  public Config config() {
    return config;
  }

  /**
   * Claims a key, or reports what became of the request that owns it.
   *
   * <p>On {@link Tracked.Claimed} the caller owns the key: this tracker renews its lease until
   * {@link #complete}, {@link #release}, {@link #fail} or {@link #halt} is called with the claim,
   * and the caller must call one of them (in a {@code finally}).
   *
   * @param key the already-scoped key, 1 to {@value #MAX_KEY_LENGTH} characters and at most
   *     {@value #MAX_KEY_BYTES} bytes in UTF-8
   * @param fingerprint the request's fingerprint, 1 to {@value #MAX_FINGERPRINT_LENGTH} characters
   * @return the key's state for this caller
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if the key or fingerprint is empty, too long, or holds U+0000
   *     or an unpaired surrogate
   * @throws IllegalStateException if the tracker is closed
   * @throws IdempotencyStoreException if the store fails; if it wrote the claim all the same (the
   *     reply was lost), the tracker releases that claim in the background by its claim id (see
   *     {@link IdempotencyStore#releaseClaim}), so a retry after that runs the request
   */
  public Tracked track(String key, String fingerprint) {
    checkKey(key);
    checkText(fingerprint, "fingerprint", MAX_FINGERPRINT_LENGTH);
    Require.state(!closed.get(), "tracker is closed");
    long start = ticker.read();
    if (replayCache != null) {
      Tracked.Completed cached = replayCache.get(key, fingerprint, start);
      if (cached != null) {
        return cached;
      }
    }
    String claimId = newClaimId();
    Tracked tracked;
    try {
      tracked = storeCall("claim", key, () -> store.claim(key, fingerprint, lease, retention,
          orphanPolicy, claimId));
    } catch (IdempotencyStoreException e) {
      releaseOrphanLater(key, claimId, start); // the claim may have been written all the same
      throw e;
    }
    if (tracked instanceof Tracked.Claimed claim) {
      Holding h = new Holding(claim, fingerprint, start + leaseNanos);
      held.put(claim, h);
      armUnconfirmedCheck(h);
    } else if (replayCache != null && tracked instanceof Tracked.Completed done) {
      replayCache.put(key, fingerprint, done, start);
    }
    return tracked;
  }

  /**
   * Claims a key like {@link #track(String, String)}, and while another owner holds it, waits up
   * to {@code maxWait} for that owner to finish; then returns what it finished with (or
   * {@link Tracked.Claimed} if it released the key or vanished and this caller took it over).
   *
   * @param key the already-scoped key
   * @param fingerprint the request's fingerprint
   * @param maxWait how long to wait at most; zero means do not wait
   * @return the key's state; {@link Tracked.InProgress} only if {@code maxWait} ran out
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if the key or fingerprint is invalid, or {@code maxWait} is
   *     negative
   * @throws IllegalStateException if the tracker is closed
   * @throws IdempotencyStoreException if the store fails
   * @throws InterruptedException if the thread is interrupted while waiting
   */
  public Tracked track(String key, String fingerprint, Duration maxWait)
      throws InterruptedException {
    Require.nonNegative(maxWait, "maxWait");
    Deadline deadline = Deadline.after(maxWait, ticker);
    long pause = MIN_POLL_NANOS;
    Thread self = Thread.currentThread();
    // Registered before the first poll: a finish between a poll and the park leaves a permit.
    waiting.compute(key, (k, threads) -> {
      Set<Thread> set = threads != null ? threads : ConcurrentHashMap.newKeySet();
      set.add(self);
      return set;
    });
    try {
      return awaitOutcome(key, fingerprint, deadline, pause);
    } finally {
      waiting.computeIfPresent(key, (k, threads) -> {
        threads.remove(self);
        return threads.isEmpty() ? null : threads;
      });
    }
  }

  private Tracked awaitOutcome(String key, String fingerprint, Deadline deadline, long firstPause)
      throws InterruptedException {
    long pause = firstPause;
    while (true) {
      Tracked tracked = track(key, fingerprint);
      long remaining = deadline.remainingNanos();
      if (!(tracked instanceof Tracked.InProgress busy) || remaining <= 0) {
        return tracked;
      }
      long leaseLeft = Math.max(MIN_POLL_NANOS, Durations.toNanosSaturated(busy.leaseRemaining()));
      long wait = Math.min(remaining, Math.min(pause, leaseLeft));
      LockSupport.parkNanos(this, wait); // unparked when a claim of this key finishes here
      if (Thread.interrupted()) {
        throw new InterruptedException("interrupted while waiting for idempotency key '" + key
            + "'");
      }
      pause = Math.min(MAX_POLL_NANOS, pause * 2);
    }
  }

  /**
   * Whether this tracker still holds a claim with a confirmed lease: true from {@link #track}
   * until the claim is finished, its lease could not be confirmed in time (the store did not
   * answer renewals), or a renewal found that the key was taken over. It turns false no later than
   * the moment another owner could claim the key (the lease is counted from when the last
   * successful renewal was sent), so a handler that checks it right before an external side effect
   * never overlaps with a successor that the store already admitted. It may turn true again if a
   * delayed renewal then succeeds (nobody took the key over meanwhile).
   *
   * <p>For writes that must be refused once the key is lost even if this check raced, fence them
   * with {@link Tracked.Claimed#fencingToken()} (see there).
   *
   * @param claim a claim returned by {@link #track}
   * @return true if the claim is held and its lease confirmed right now
   * @throws NullPointerException if {@code claim} is null
   */
  public boolean isHeld(Tracked.Claimed claim) {
    Holding h = held.get(Require.nonNull(claim, "claim"));
    return h != null && ticker.read() - h.confirmedUntil < 0;
  }

  /**
   * Stores the response of a claimed request, once: later calls to {@link #track} with the key
   * and the same fingerprint return {@link Tracked.Completed} with it until retention ends.
   *
   * <p>If the store fails, the claim stays held (and renewed) and the call retries with backoff
   * (20 ms doubling to 1 s) for up to {@link Builder#completionRetry(Duration) completionRetry}
   * (default 5 s). The claim is never given back because storing failed after the request ran. If
   * the response is still not stored then, this method throws {@link IdempotencyStoreException}
   * but the tracker keeps the claim held and renewed and tries again on every heartbeat, until the
   * response is stored or the claim is lost: meanwhile another request with the key sees
   * {@link Tracked.InProgress}, and after that the stored response. Only if the store stays
   * unreachable for longer than the lease can the key change hands: under
   * {@link OrphanPolicy#TAKE_OVER} the next request then runs again, under
   * {@link OrphanPolicy#HALT} it is halted.
   *
   * <p>A store call that failed but did store the response (the reply was lost) is retried
   * safely: completing again with the same token is a no-op that reports success.
   *
   * @param claim the claim returned by {@link #track}
   * @param response the response to store
   * @throws NullPointerException if an argument is null
   * @throws ClaimLostException if the claim's fencing token is no longer current (its lease ran out
   *     and another request took the key over, or it was halted or released); nothing was written
   * @throws IdempotencyStoreException if the response could not be stored within
   *     {@code completionRetry}; the tracker keeps trying in the background
   */
  public void complete(Tracked.Claimed claim, StoredResponse response) {
    Require.nonNull(claim, "claim");
    Require.nonNull(response, "response");
    finish(claim, new Outcome.Complete(response), "complete");
  }

  /**
   * Drops a claim so that the next request with the key runs again, for example when the request
   * failed before its handler started.
   *
   * <p>If a {@link #complete} of the claim threw because the store failed, its response is still
   * waiting to be stored (the tracker keeps trying): release then changes nothing and returns
   * false, so a caller that releases in a {@code finally} never throws that response away.
   *
   * @param claim the claim returned by {@link #track}
   * @return true if the claim was released; false if it was no longer current (nothing to undo) or
   *     a response of it is waiting to be stored
   * @throws NullPointerException if {@code claim} is null
   * @throws IdempotencyStoreException if the store fails; the claim's lease then runs out
   */
  public boolean release(Tracked.Claimed claim) {
    Require.nonNull(claim, "claim");
    if (responsePending(claim, "release")) {
      return false;
    }
    unhold(claim);
    try {
      return storeCall(
          "release", claim.key(), () -> store.release(claim.key(), claim.fencingToken()));
    } finally {
      signalFinished(claim.key());
    }
  }

  /**
   * Marks a claim {@link Tracked.Halted} with a reason: its request will not run again until
   * retention ends. Store failures are retried as {@link #complete} retries them. If a response
   * of the claim is waiting to be stored (a {@link #complete} threw because the store failed),
   * halt changes nothing and returns false: that response is stored, not the halt.
   *
   * @param claim the claim returned by {@link #track}
   * @param reason why; cut to {@value #MAX_REASON_LENGTH} characters
   * @return true if the claim is now halted; false if it was no longer current, or a response of
   *     it is waiting to be stored
   * @throws NullPointerException if an argument is null
   * @throws IdempotencyStoreException if the store failed for {@code completionRetry}; the tracker
   *     keeps trying in the background, as for {@link #complete}
   */
  public boolean halt(Tracked.Claimed claim, String reason) {
    Require.nonNull(claim, "claim");
    String text = sanitizeReason(Require.nonNull(reason, "reason"));
    if (responsePending(claim, "halt")) {
      return false;
    }
    try {
      finish(claim, new Outcome.Halt(text), "halt");
      return true;
    } catch (ClaimLostException e) {
      return false;
    }
  }

  /**
   * Records that a claimed request failed with an exception, under the
   * {@link Builder#failurePolicy(FailurePolicy) failure policy}: {@link FailurePolicy#HALT}
   * (default) marks the key halted with the exception's class and message as reason;
   * {@link FailurePolicy#RELEASE} releases it. A response of the claim waiting to be stored (a
   * {@link #complete} threw because the store failed) is never discarded: fail then changes
   * nothing and returns false.
   *
   * @param claim the claim returned by {@link #track}
   * @param failure what the request threw
   * @return true if the claim was halted or released; false if it was no longer current, or a
   *     response of it is waiting to be stored
   * @throws NullPointerException if an argument is null
   * @throws IdempotencyStoreException if the store fails (see {@link #halt} and {@link #release})
   */
  public boolean fail(Tracked.Claimed claim, Throwable failure) {
    Require.nonNull(claim, "claim");
    Require.nonNull(failure, "failure");
    return switch (failurePolicy) {
      case HALT -> halt(claim, describe(failure));
      case RELEASE -> release(claim);
    };
  }

  /**
   * Whether a response of the claim is waiting to be stored (its {@link #complete} threw after
   * {@code completionRetry}); then a later halt or release must not replace it.
   */
  private boolean responsePending(Tracked.Claimed claim, String operation) {
    Holding h = held.get(claim);
    if (h != null && h.pending instanceof Outcome.Complete) {
      LOG.log(Level.WARNING,
          "idempotency key ''{0}'': {1} ignored, the response of fencing token {2} is waiting to"
              + " be stored and the tracker keeps trying",
          claim.key(), operation, claim.fencingToken());
      return true;
    }
    return false;
  }

  /** Stores an outcome with retries; see {@link #complete}. */
  private void finish(Tracked.Claimed claim, Outcome outcome, String operation) {
    Holding holding = held.get(claim);
    if (holding != null) {
      holding.finishing = true;
    }
    long start = ticker.read();
    long giveUpAt = System.nanoTime() + completionRetryNanos;
    long pause = FIRST_RETRY_NANOS;
    try {
      while (true) {
        RuntimeException failure;
        try {
          if (storeOutcome(claim, outcome)) {
            finished(claim, holding, outcome, start);
            return;
          }
          unhold(claim);
          throw new ClaimLostException(claim.key(), claim.fencingToken(), operation);
        } catch (ClaimLostException e) {
          throw e;
        } catch (RuntimeException e) {
          failure = e; // IdempotencyStoreException included: the store may answer next time
        }
        long left = giveUpAt - System.nanoTime();
        // A claim a renewal found lost meanwhile is tried once more: the store then answers
        // false, and the caller gets ClaimLostException rather than a store failure.
        if (holding == null || left <= 0 || Thread.currentThread().isInterrupted()) {
          if (holding != null && held.containsKey(claim)) {
            holding.pending = outcome; // the heartbeat keeps trying
          }
          throw new IdempotencyStoreException(
              "idempotency store failed to " + operation + " key '" + claim.key() + "' for "
                  + Duration.ofNanos(completionRetryNanos)
                  + (holding != null
                      ? "; the claim stays held and the tracker keeps trying on every heartbeat"
                      : "")
                  + ": " + failure, failure);
        }
        LockSupport.parkNanos(Math.min(pause, left));
        pause = Math.min(MAX_RETRY_NANOS, pause * 2);
      }
    } finally {
      if (holding != null) {
        holding.finishing = false;
      }
      signalFinished(claim.key());
    }
  }

  private boolean storeOutcome(Tracked.Claimed claim, Outcome outcome) {
    return switch (outcome) {
      case Outcome.Complete c ->
          store.complete(claim.key(), claim.fencingToken(), c.response(), retention);
      case Outcome.Halt h -> store.halt(claim.key(), claim.fencingToken(), h.reason(), retention);
    };
  }

  private void finished(
      Tracked.Claimed claim, @Nullable Holding holding, Outcome outcome, long start) {
    unhold(claim);
    if (replayCache != null && holding != null && outcome instanceof Outcome.Complete c) {
      // The store's expiry is later than start + retention by its own clock: a lower bound.
      replayCache.put(claim.key(), holding.fingerprint,
          new Tracked.Completed(c.response(), claim.since().plus(retention)), start);
    }
  }

  /**
   * Finishes a claim whose outcome a caller stored itself in its own transaction (see
   * {@link JdbcClaimTransaction}): stops renewing it and caches the response.
   */
  void completedElsewhere(Tracked.Claimed claim, StoredResponse response, long start) {
    finished(claim, held.get(claim), new Outcome.Complete(response), start);
    signalFinished(claim.key());
  }

  /** Stops renewing a claim whose outcome is unknown; its lease runs out if it was not stored. */
  void abandon(Tracked.Claimed claim) {
    unhold(claim);
    signalFinished(claim.key());
  }

  /** Reads the tracker's ticker (for helpers in this package). */
  long tickerRead() {
    return ticker.read();
  }


  /**
   * Prunes expired records now, in batches, on the calling thread; the background pruning does
   * the same every prune interval.
   *
   * @return how many records were deleted
   * @throws IdempotencyStoreException if the store fails
   */
  public int pruneNow() {
    int total = 0;
    for (int batch = 0; batch < MAX_PRUNE_BATCHES_PER_RUN; batch++) {
      int deleted = storeCall("prune", "*", () -> store.prune(config.pruneBatchSize()));
      total += deleted;
      if (deleted < config.pruneBatchSize()) {
        break;
      }
    }
    return total;
  }

  /**
   * Returns the store.
   *
   * @return the store this tracker uses
   */
  public IdempotencyStore store() {
    return store;
  }

  /**
   * Returns the lease of a claim.
   *
   * @return the lease
   */
  public Duration lease() {
    return lease;
  }

  /**
   * Returns how long finished records are kept.
   *
   * @return the retention
   */
  public Duration retention() {
    return retention;
  }

  /**
   * Returns how many claims this tracker currently holds and renews.
   *
   * @return the number of held claims
   */
  public int heldClaims() {
    return held.size();
  }

  /**
   * Returns how many lease renewals have succeeded since the tracker was built.
   *
   * @return the count of successful renewals
   */
  public long renewals() {
    return renewals.get();
  }

  /**
   * Stops the heartbeat and pruning, and the executor if the tracker made it. Outcomes waiting
   * to be stored (a {@link #complete} or {@link #halt} that threw) are stored first, on the
   * calling thread, retrying with backoff for up to {@link Builder#completionRetry(Duration)
   * completionRetry}; any still not stored then are logged, and their leases run out. Claims
   * still held by running requests are not released and no longer renewed: their leases run out,
   * and their owners' {@code complete} may then find them taken over. Idempotent.
   */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    timer.shutdownNow();
    try {
      flushPending();
    } finally {
      if (ownedExecutor != null) {
        ownedExecutor.shutdown();
      }
      waiting.values().forEach(threads -> threads.forEach(LockSupport::unpark)); // to fail fast
    }
  }

  /** Stores the outcomes still pending, within completionRetry; see {@link #close()}. */
  private void flushPending() {
    long giveUpAt = System.nanoTime() + completionRetryNanos;
    long pause = FIRST_RETRY_NANOS;
    while (true) {
      int left = 0;
      RuntimeException last = null;
      for (Holding h : held.values()) {
        Outcome pending = h.pending;
        if (pending == null) {
          continue;
        }
        try {
          if (storeOutcome(h.claim, pending)) {
            finished(h.claim, h, pending, ticker.read());
          } else {
            lost(h);
          }
        } catch (RuntimeException e) {
          left++;
          last = e;
        }
      }
      if (left == 0) {
        return;
      }
      long remaining = giveUpAt - System.nanoTime();
      if (remaining <= 0 || Thread.currentThread().isInterrupted()) {
        LOG.log(Level.WARNING, "tracker closed with " + left + " outcome(s) not stored after "
            + Duration.ofNanos(completionRetryNanos) + "; their keys stay in progress until their"
            + " leases run out", last);
        return;
      }
      LockSupport.parkNanos(Math.min(pause, remaining));
      pause = Math.min(MAX_RETRY_NANOS, pause * 2);
    }
  }

  /**
   * Renews every held claim whose previous renewal is not still in flight, and reports claims
   * whose lease could not be confirmed in time; runs on the timer thread, store calls on the
   * executor.
   */
  void heartbeat() {
    long now = ticker.read();
    for (Orphan o : orphans.values()) {
      tryReleaseOrphan(o);
    }
    for (Holding h : held.values()) {
      if (now - h.confirmedUntil >= 0) {
        reportUnconfirmed(h); // normally done already, by the check armed for confirmedUntil
      }
      if (!h.busy.compareAndSet(false, true)) {
        continue; // the previous renewal is still in flight: never two at once
      }
      try {
        executor.execute(() -> renew(h));
      } catch (RejectedExecutionException e) {
        h.busy.set(false);
        LOG.log(Level.DEBUG, "heartbeat not run, executor rejected it", e);
        return;
      }
    }
  }

  private void renew(Holding h) {
    try {
      if (held.get(h.claim) != h) {
        return;
      }
      long sent = ticker.read();
      Outcome pending = h.pending;
      if (pending != null) {
        try {
          if (storeOutcome(h.claim, pending)) {
            finished(h.claim, h, pending, sent);
            signalFinished(h.claim.key());
          } else {
            lost(h);
          }
          return;
        } catch (RuntimeException e) {
          LOG.log(Level.WARNING, "idempotency key '" + h.claim.key()
              + "': storing the outcome failed again, will retry", e);
        }
      }
      if (store.renew(h.claim.key(), h.claim.fencingToken(), lease, retention)) {
        renewals.incrementAndGet();
        if (h.confirm(sent + leaseNanos)) {
          armUnconfirmedCheck(h); // confirmed again after the listener was told: watch anew
        }
      } else {
        lost(h);
      }
    } catch (RuntimeException e) {
      LOG.log(
          Level.WARNING,
          "idempotency key '" + h.claim.key() + "': renewing the lease failed, will retry",
          e);
    } finally {
      h.busy.set(false);
    }
  }

  private void lost(Holding h) {
    if (h.finishing) {
      // A renewal sent before the owner's complete (or halt) may run after it in the store and
      // find the record finished: that is not a loss. The owner's own call says which it is.
      LOG.log(Level.DEBUG, "idempotency key ''{0}'': renewal found the claim finished or gone"
          + " while its owner finishes it; the owner's call decides", h.claim.key());
      return;
    }
    if (held.remove(h.claim, h)) {
      cancelCheck(h);
      LOG.log(
          Level.WARNING,
          "idempotency key ''{0}'': lease of fencing token {1} was lost (it ran out and the key"
              + " was taken over, or it expired); the owner's complete() will fail",
          h.claim.key(),
          h.claim.fencingToken());
      notifyLost(h.claim, true);
      signalFinished(h.claim.key());
    }
  }

  /** A claim id: 122 random bits, unique for every practical purpose, without SecureRandom. */
  private static String newClaimId() {
    java.util.concurrent.ThreadLocalRandom random = java.util.concurrent.ThreadLocalRandom.current();
    return new java.util.UUID(
        (random.nextLong() & ~0xF000L) | 0x4000L,
        (random.nextLong() & 0x3FFFFFFFFFFFFFFFL) | 0x8000000000000000L).toString();
  }

  /**
   * Remembers a claim whose call failed, to release it by its claim id if the store did write it
   * (a reply lost to a timeout); tried at once and on every heartbeat until it is released or its
   * lease ran out (a claim not found yet may still be written by a statement in flight). Bounded: past MAX_ORPHANS pending, a failed claim is only
   * logged, and its record, if written, waits for its lease.
   */
  private void releaseOrphanLater(String key, String claimId, long sent) {
    if (orphans.size() >= MAX_ORPHANS) {
      LOG.log(Level.WARNING, "idempotency key ''{0}'': claim failed and " + MAX_ORPHANS
          + " failed claims already wait to be released; if it was written, the key is busy until"
          + " its lease runs out", key);
      return;
    }
    Orphan o = new Orphan(key, claimId, sent + leaseNanos);
    orphans.put(claimId, o);
    tryReleaseOrphan(o);
  }

  private void tryReleaseOrphan(Orphan o) {
    if (ticker.read() - o.until >= 0) {
      orphans.remove(o.claimId, o);
      return;
    }
    if (!o.busy.compareAndSet(false, true)) {
      return;
    }
    try {
      executor.execute(() -> {
        try {
          if (store.releaseClaim(o.key, o.claimId)) {
            LOG.log(Level.INFO, "idempotency key ''{0}'': released a claim whose reply was lost",
                o.key);
            signalFinished(o.key);
            orphans.remove(o.claimId, o);
          }
        } catch (RuntimeException e) {
          LOG.log(Level.DEBUG, "releasing a claim whose reply was lost failed, will retry", e);
        } finally {
          o.busy.set(false);
        }
      });
    } catch (RejectedExecutionException e) {
      o.busy.set(false);
    }
  }

  /**
   * Arms a one-shot check on the timer for the instant the claim's lease stops being confirmed,
   * so the listener hears of it then, not at the next heartbeat tick (up to a heartbeat interval
   * later). The check arms itself again when a renewal moved confirmedUntil meanwhile: one
   * pending check per held claim.
   */
  private void armUnconfirmedCheck(Holding h) {
    long delay = Math.max(0, h.confirmedUntil - ticker.read());
    try {
      h.check = timer.schedule(() -> checkUnconfirmed(h), delay, TimeUnit.NANOSECONDS);
      if (held.get(h.claim) != h) {
        cancelCheck(h); // let go meanwhile: the check would only find it gone
      }
    } catch (RejectedExecutionException e) {
      LOG.log(Level.DEBUG, "tracker closed: no check of the lease", e);
    }
  }

  /** Stops holding a claim: no more renewals, and its lease check leaves the timer. */
  private void unhold(Tracked.Claimed claim) {
    Holding h = held.remove(claim);
    if (h != null) {
      cancelCheck(h);
    }
  }

  private static void cancelCheck(Holding h) {
    ScheduledFuture<?> check = h.check;
    if (check != null) {
      check.cancel(false);
    }
  }

  /**
   * Returns how many tasks wait on the tracker's timer: the heartbeat, the pruning, and one lease
   * check per held claim (a test seam).
   */
  int pendingTimerTasks() {
    return ((ScheduledThreadPoolExecutor) timer).getQueue().size();
  }

  private void checkUnconfirmed(Holding h) {
    if (held.get(h.claim) != h) {
      return;
    }
    if (ticker.read() - h.confirmedUntil >= 0) {
      reportUnconfirmed(h); // armed again by the renewal that confirms it again, if one does
    } else {
      armUnconfirmedCheck(h);
    }
  }

  private void reportUnconfirmed(Holding h) {
    if (h.reportedUnconfirmed.compareAndSet(false, true)) {
      LOG.log(Level.WARNING,
          "idempotency key ''{0}'': the lease of fencing token {1} could not be confirmed in"
              + " time (the store did not answer renewals); isHeld() is false",
          h.claim.key(), h.claim.fencingToken());
      notifyLost(h.claim, false);
    }
  }

  private void notifyLost(Tracked.Claimed claim, boolean definitely) {
    try {
      listener.leaseLost(claim, definitely);
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "claim listener threw", e);
    }
  }

  private void schedulePrune() {
    if (!pruning.compareAndSet(false, true)) {
      return;
    }
    try {
      executor.execute(
          () -> {
            try {
              int deleted = pruneNow();
              LOG.log(Level.DEBUG, "pruned {0} expired idempotency records", deleted);
            } catch (RuntimeException e) {
              LOG.log(Level.WARNING, "pruning idempotency records failed, will retry", e);
            } finally {
              pruning.set(false);
            }
          });
    } catch (RejectedExecutionException e) {
      pruning.set(false);
    }
  }

  /** Wakes the threads waiting in this JVM for the key, and only those. */
  private void signalFinished(String key) {
    Set<Thread> threads = waiting.get(key); // one hash lookup when nobody waits
    if (threads != null) {
      threads.forEach(LockSupport::unpark);
    }
  }

  private interface StoreCall<T> {
    T call();
  }

  private static <T> T storeCall(String operation, String key, StoreCall<T> call) {
    try {
      return call.call();
    } catch (IdempotencyException e) {
      throw e;
    } catch (RuntimeException e) {
      throw new IdempotencyStoreException(
          "idempotency store failed to " + operation + " key '" + key + "': " + e, e);
    }
  }

  static String describe(Throwable failure) {
    String message = failure.getMessage();
    return failure.getClass().getName() + (message == null ? "" : ": " + message);
  }

  static String sanitizeReason(String reason) {
    StringBuilder out = new StringBuilder(Math.min(reason.length(), MAX_REASON_LENGTH));
    for (int i = 0; i < reason.length() && out.length() < MAX_REASON_LENGTH; i++) {
      char c = reason.charAt(i);
      if (c == 0) {
        out.append('?');
      } else if (Character.isHighSurrogate(c)
          && i + 1 < reason.length()
          && Character.isLowSurrogate(reason.charAt(i + 1))) {
        if (out.length() + 2 > MAX_REASON_LENGTH) {
          break;
        }
        out.append(c).append(reason.charAt(++i));
      } else if (Character.isSurrogate(c)) {
        out.append('?');
      } else {
        out.append(c);
      }
    }
    return out.toString();
  }

  /**
   * Checks a key or fingerprint: 1 to max characters, no U+0000, no unpaired surrogate.
   *
   * @param value the key or fingerprint
   * @param name "key" or "fingerprint"
   * @param max the longest allowed
   */
  static void checkText(@Nullable String value, String name, int max) {
    String checked = Require.notEmpty(value, name);
    if (checked.length() > max) {
      throw new IllegalArgumentException(
          name + " must be at most " + max + " characters, was " + checked.length());
    }
    for (int i = 0; i < checked.length(); i++) {
      char c = checked.charAt(i);
      if (c == 0) {
        throw new IllegalArgumentException(name + " must not contain U+0000, found at index " + i);
      }
      if (Character.isHighSurrogate(c)
          && i + 1 < checked.length()
          && Character.isLowSurrogate(checked.charAt(i + 1))) {
        i++;
      } else if (Character.isSurrogate(c)) {
        throw new IllegalArgumentException(
            name + " must not contain an unpaired surrogate, found at index " + i);
      }
    }
  }

  /**
   * Checks a duration setting that must be at least 1 ms: the Redis store sends leases and
   * retention in milliseconds, and JDBC takes network timeouts in milliseconds, so a shorter one
   * would round to zero.
   *
   * @param value the setting
   * @param name the setting's name, for the message
   * @return the setting
   */
  static Duration checkAtLeastOneMilli(Duration value, String name) {
    Require.positive(value, name);
    Require.argument(
        value.compareTo(Duration.ofMillis(1)) >= 0, name + " must be at least 1 ms, was " + value);
    return value;
  }

  /**
   * Validates a key as {@link #track} does, so a caller (an HTTP filter) can reject it early.
   *
   * @param key the key
   * @return the key
   * @throws NullPointerException if {@code key} is null
   * @throws IllegalArgumentException if it is empty, longer than {@value #MAX_KEY_LENGTH}
   *     characters or {@value #MAX_KEY_BYTES} bytes in UTF-8, or holds U+0000 or an unpaired
   *     surrogate
   */
  public static String checkKey(String key) {
    checkText(key, "key", MAX_KEY_LENGTH);
    if (key.length() * 3L > MAX_KEY_BYTES) { // shorter keys fit whatever their characters
      int bytes = utf8Length(key);
      if (bytes > MAX_KEY_BYTES) {
        throw new IllegalArgumentException("key must be at most " + MAX_KEY_BYTES
            + " bytes in UTF-8, was " + bytes + " (" + key.length() + " characters)");
      }
    }
    return key;
  }

  /** The length of a string's UTF-8 form (its surrogates are paired: checked before). */
  private static int utf8Length(String s) {
    int bytes = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < 0x80) {
        bytes += 1;
      } else if (c < 0x800) {
        bytes += 2;
      } else if (Character.isHighSurrogate(c)) {
        bytes += 4;
        i++;
      } else {
        bytes += 3;
      }
    }
    return bytes;
  }

  @Override
  public String toString() {
    return "IdempotencyTracker[store=" + store + ", lease=" + lease + ", retention=" + retention
        + ", held=" + held.size() + "]";
  }

  /**
   * The settings of a tracker, copied by {@link Builder#build()}: immutable. The builder checks
   * each setting where it is set; this record only reports them.
   *
   * @param lease how long a claim holds without renewal
   * @param retention how long completed and halted records are kept
   * @param heartbeatInterval how often held claims are renewed (at most a third of the lease)
   * @param pruneInterval how often expired records are pruned
   * @param pruneBatchSize the most records one prune call deletes
   * @param orphanPolicy what happens to a key whose owner vanished
   * @param failurePolicy what {@link IdempotencyTracker#fail} does
   * @param completionRetry how long storing an outcome is retried on the caller's thread
   * @param replayCacheSize the local replay cache's size; 0 when it is off
   * @param replayCacheTtl how long the local replay cache keeps a response
   */
  public record Config(
      Duration lease,
      Duration retention,
      Duration heartbeatInterval,
      Duration pruneInterval,
      int pruneBatchSize,
      OrphanPolicy orphanPolicy,
      FailurePolicy failurePolicy,
      Duration completionRetry,
      int replayCacheSize,
      Duration replayCacheTtl) {}

  /**
   * Told when a claim this tracker holds can no longer be counted on. Implementations must be
   * thread-safe and must not block.
   */
  @FunctionalInterface
  public interface ClaimListener {
    /**
     * Called once when a claim's lease could not be confirmed before it would run out
     * ({@code definitely} false: the store did not answer renewals; another owner may claim the
     * key from now on, and {@link IdempotencyTracker#isHeld} is false), and when a renewal found the
     * key taken over or expired ({@code definitely} true).
     *
     * @param claim the claim
     * @param definitely true if the store said the claim is gone, false if it is only unconfirmed
     */
    void leaseLost(Tracked.Claimed claim, boolean definitely);
  }

  /**
   * Builds an {@link IdempotencyTracker}. Not thread-safe; {@link #build()} copies the settings.
   */
  public static final class Builder {
    private @Nullable IdempotencyStore store;
    private Duration lease = Duration.ofSeconds(60);
    private Duration retention = Duration.ofHours(24);
    private @Nullable Duration heartbeatInterval;
    private Duration pruneInterval = Duration.ofSeconds(60);
    private int pruneBatchSize = 1000;
    private OrphanPolicy orphanPolicy = OrphanPolicy.TAKE_OVER;
    private FailurePolicy failurePolicy = FailurePolicy.HALT;
    private @Nullable Executor executor;
    private Ticker ticker = Ticker.system();
    private int replayCacheSize;
    private Duration replayCacheTtl = Duration.ofMinutes(1);
    private Duration completionRetry = Duration.ofSeconds(5);
    private ClaimListener listener = (claim, definitely) -> {};

    private Builder() {}

    /**
     * Sets how long {@link IdempotencyTracker#complete} and {@link IdempotencyTracker#halt} retry
     * a failing store, with backoff, before they throw; the claim stays held and renewed
     * meanwhile, and after that the tracker keeps trying on every heartbeat. Default 5 s; zero
     * means one attempt on the caller's thread.
     *
     * @param completionRetry the bound, zero or positive
     * @return this builder
     * @throws NullPointerException if {@code completionRetry} is null
     * @throws IllegalArgumentException if it is negative
     */
    public Builder completionRetry(Duration completionRetry) {
      this.completionRetry = Require.nonNegative(completionRetry, "completionRetry");
      return this;
    }

    /**
     * Sets the listener told when a held claim's lease can no longer be confirmed or is lost.
     * Default: none (the tracker logs a warning either way).
     *
     * @param listener the listener; called on the tracker's timer or executor thread, must not
     *     block
     * @return this builder
     * @throws NullPointerException if {@code listener} is null
     */
    public Builder claimListener(ClaimListener listener) {
      this.listener = Require.nonNull(listener, "listener");
      return this;
    }

    /**
     * Keeps up to {@code maxEntries} completed responses in this JVM for up to {@code ttl}
     * (capped at the retention), so a replay on this JVM answers without a store round trip, as
     * AWS Powertools' local cache does. Default off (0).
     *
     * <p>A cached replay is served only for the same fingerprint (another fingerprint asks the
     * store, which answers {@link Tracked.Mismatch}). A completed record never changes in the
     * store until its retention ends, so the cache is never wrong, with one exception: a record
     * an operator deletes by hand is still replayed here for up to {@code ttl}.
     *
     * @param maxEntries the most responses kept; 0 turns the cache off
     * @param ttl how long one response is kept, positive
     * @return this builder
     * @throws NullPointerException if {@code ttl} is null
     * @throws IllegalArgumentException if {@code maxEntries} is negative or {@code ttl} is not
     *     positive
     */
    public Builder localReplayCache(int maxEntries, Duration ttl) {
      this.replayCacheSize = Require.atLeast(maxEntries, 0, "maxEntries");
      this.replayCacheTtl = Require.positive(ttl, "ttl");
      return this;
    }

    /**
     * Sets the store (required).
     *
     * @param store the store; the tracker does not close it
     * @return this builder
     * @throws NullPointerException if {@code store} is null
     */
    public Builder store(IdempotencyStore store) {
      this.store = Require.nonNull(store, "store");
      return this;
    }

    /**
     * Sets how long a claim holds without renewal: the longest a key stays blocked after its
     * owner's JVM died. Default 60 s.
     *
     * @param lease the lease, positive
     * @return this builder
     * @throws NullPointerException if {@code lease} is null
     * @throws IllegalArgumentException if it is not positive or under 1 ms
     */
    public Builder lease(Duration lease) {
      this.lease = checkAtLeastOneMilli(lease, "lease");
      return this;
    }

    /**
     * Sets how long completed and halted records are kept for replay. Default 24 h.
     *
     * @param retention the retention, positive
     * @return this builder
     * @throws NullPointerException if {@code retention} is null
     * @throws IllegalArgumentException if it is not positive or under 1 ms
     */
    public Builder retention(Duration retention) {
      this.retention = checkAtLeastOneMilli(retention, "retention");
      return this;
    }

    /**
     * Sets how often held claims are renewed. Default a third of the lease; at most a third of the
     * lease, so that two renewals can fail (or time out) before the lease is at risk.
     *
     * @param interval the interval, positive
     * @return this builder
     * @throws NullPointerException if {@code interval} is null
     * @throws IllegalArgumentException if it is not positive
     */
    public Builder heartbeatInterval(Duration interval) {
      this.heartbeatInterval = Require.positive(interval, "heartbeatInterval");
      return this;
    }

    /**
     * Sets how often expired records are pruned in the background. Default 60 s.
     *
     * @param interval the interval, positive
     * @return this builder
     * @throws NullPointerException if {@code interval} is null
     * @throws IllegalArgumentException if it is not positive
     */
    public Builder pruneInterval(Duration interval) {
      this.pruneInterval = Require.positive(interval, "pruneInterval");
      return this;
    }

    /**
     * Sets the most records one prune batch deletes (one store call). Default 1,000.
     *
     * @param size the batch size, at least 1
     * @return this builder
     * @throws IllegalArgumentException if it is below 1
     */
    public Builder pruneBatchSize(int size) {
      this.pruneBatchSize = Require.atLeast(size, 1, "pruneBatchSize");
      return this;
    }

    /**
     * Sets what happens to a key whose owner vanished (lease ran out without a response).
     * Default {@link OrphanPolicy#TAKE_OVER}.
     *
     * @param policy the policy
     * @return this builder
     * @throws NullPointerException if {@code policy} is null
     */
    public Builder orphanPolicy(OrphanPolicy policy) {
      this.orphanPolicy = Require.nonNull(policy, "orphanPolicy");
      return this;
    }

    /**
     * Sets what {@link IdempotencyTracker#fail} does. Default {@link FailurePolicy#HALT}.
     *
     * @param policy the policy
     * @return this builder
     * @throws NullPointerException if {@code policy} is null
     */
    public Builder failurePolicy(FailurePolicy policy) {
      this.failurePolicy = Require.nonNull(policy, "failurePolicy");
      return this;
    }

    /**
     * Sets the executor that runs lease renewals and pruning (store calls that block). Default:
     * a virtual thread per task, shut down by {@link IdempotencyTracker#close()}.
     *
     * @param executor the executor; the tracker does not shut it down
     * @return this builder
     * @throws NullPointerException if {@code executor} is null
     */
    public Builder executor(Executor executor) {
      this.executor = Require.nonNull(executor, "executor");
      return this;
    }

    /**
     * Sets the ticker that measures waits in {@link IdempotencyTracker#track(String, String,
     * Duration)} (a test seam). Default {@link Ticker#system()}. Leases and retention are measured
     * by the store's clock.
     *
     * @param ticker the ticker
     * @return this builder
     * @throws NullPointerException if {@code ticker} is null
     */
    public Builder ticker(Ticker ticker) {
      this.ticker = Require.nonNull(ticker, "ticker");
      return this;
    }

    /**
     * Builds the tracker and starts its heartbeat and pruning.
     *
     * @return a new tracker
     * @throws IllegalStateException if no store was set, or the heartbeat interval is longer than
     *     a third of the lease
     */
    public IdempotencyTracker build() {
      IdempotencyStore chosen = store;
      Require.state(chosen != null, "store must be set");
      Duration beat = heartbeatInterval != null ? heartbeatInterval : lease.dividedBy(3);
      Require.state(
          beat.multipliedBy(3).compareTo(lease) <= 0,
          "heartbeatInterval must be at most a third of the lease " + lease + ", was " + beat);
      Config config = new Config(lease, retention, beat, pruneInterval, pruneBatchSize,
          orphanPolicy, failurePolicy, completionRetry, replayCacheSize, replayCacheTtl);
      IdempotencyTracker tracker =
          new IdempotencyTracker(this, Require.nonNull(chosen, "store"), config);
      tracker.start();
      return tracker;
    }
  }
}
