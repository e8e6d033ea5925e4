package dev.shepherd.idempotency;

import dev.shepherd.core.internal.Durations;
import dev.shepherd.core.internal.Require;
import dev.shepherd.core.Ticker;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * An {@link IdempotencyStore} in this JVM's memory: for a service that runs as one instance, for
 * tests, and as the fastest store.
 *
 * <p>Records live in a {@link ConcurrentHashMap}; every operation is one atomic
 * {@code compute} on the key, so it is linearizable per key. Leases and retention are measured
 * with the {@link Ticker} (default {@link Ticker#system()}), and the wall-clock times it reports
 * ({@code since}, {@code expiresAt}) come from the {@link Clock} (default
 * {@link Clock#systemUTC()}); both are test seams. A record's expiry instant is computed once,
 * when the record is written, so every answer about it reports the same {@code expiresAt}. Fencing tokens come from one counter that only
 * grows. Records are lost when the JVM exits.
 *
 * <p>Thread-safe.
 */
public final class InMemoryIdempotencyStore implements IdempotencyStore {

  private enum State {
    IN_PROGRESS,
    COMPLETED,
    HALTED
  }

  /**
   * One key's record. Immutable: every change installs a new Entry through compute(), so a reader
   * never sees half an update.
   */
  private record Entry(
      State state,
      long token,
      String fingerprint,
      Instant since,
      long leaseEndNanos,
      long expiryNanos,
      Instant expiresAt,
      @Nullable StoredResponse response,
      @Nullable String reason,
      @Nullable String claimId) {}

  private final ConcurrentHashMap<String, Entry> records = new ConcurrentHashMap<>();
  private final AtomicLong tokens = new AtomicLong();
  private final Ticker ticker;
  private final Clock clock;

  private InMemoryIdempotencyStore(Ticker ticker, Clock clock) {
    this.ticker = ticker;
    this.clock = clock;
  }

  /**
   * Creates a store that reads {@link Ticker#system()} and {@link Clock#systemUTC()}.
   *
   * @return a new, empty store
   */
  public static InMemoryIdempotencyStore create() {
    return new InMemoryIdempotencyStore(Ticker.system(), Clock.systemUTC());
  }

  /**
   * Creates a store with the given time sources (test seams).
   *
   * @param ticker measures leases and retention
   * @param clock gives the wall-clock times reported in {@link Tracked}
   * @return a new, empty store
   * @throws NullPointerException if an argument is null
   */
  public static InMemoryIdempotencyStore create(Ticker ticker, Clock clock) {
    return new InMemoryIdempotencyStore(
        Require.nonNull(ticker, "ticker"), Require.nonNull(clock, "clock"));
  }

  /**
   * Returns how many records the store holds, expired ones not yet pruned included.
   *
   * @return the number of records
   */
  public int size() {
    return records.size();
  }

  /**
   * Returns whether the store holds a record for the key, expired records not yet pruned included.
   *
   * @param key the key
   * @return true if a record is held
   */
  public boolean containsKey(String key) {
    return records.containsKey(key);
  }

  @Override
  public Tracked claim(
      String key, String fingerprint, Duration lease, Duration retention, OrphanPolicy orphanPolicy) {
    return claim(key, fingerprint, lease, retention, orphanPolicy, null);
  }

  @Override
  public Tracked claim(String key, String fingerprint, Duration lease, Duration retention,
      OrphanPolicy orphanPolicy, @Nullable String claimId) {
    long leaseNanos = Durations.toNanosSaturated(lease);
    long retentionNanos = Durations.toNanosSaturated(retention);
    Tracked[] outcome = new Tracked[1];
    records.compute(
        key,
        (k, e) -> {
          long now = ticker.read();
          if (e == null || now - e.expiryNanos() >= 0) {
            Entry claimed = newClaim(fingerprint, now, leaseNanos, retentionNanos, claimId);
            outcome[0] = new Tracked.Claimed(k, claimed.token(), claimed.since(), false);
            return claimed;
          }
          if (!e.fingerprint().equals(fingerprint)) {
            outcome[0] = new Tracked.Mismatch(e.expiresAt());
            return e;
          }
          switch (e.state()) {
            case COMPLETED -> {
              outcome[0] = new Tracked.Completed(
                  Require.nonNull(e.response(), "response"), e.expiresAt());
              return e;
            }
            case HALTED -> {
              outcome[0] = new Tracked.Halted(Require.nonNull(e.reason(), "reason"), e.expiresAt());
              return e;
            }
            case IN_PROGRESS -> {
              long leaseLeft = e.leaseEndNanos() - now;
              if (leaseLeft > 0) {
                outcome[0] = new Tracked.InProgress(e.since(), Duration.ofNanos(leaseLeft));
                return e;
              }
              if (orphanPolicy == OrphanPolicy.TAKE_OVER) {
                Entry claimed = newClaim(fingerprint, now, leaseNanos, retentionNanos, claimId);
                outcome[0] = new Tracked.Claimed(k, claimed.token(), claimed.since(), true);
                return claimed;
              }
              long expiry = Durations.saturatedAdd(now, retentionNanos);
              Entry halted =
                  new Entry(
                      State.HALTED,
                      e.token(),
                      e.fingerprint(),
                      e.since(),
                      e.leaseEndNanos(),
                      expiry,
                      wallTime(expiry, now),
                      null,
                      IdempotencyTracker.OWNER_VANISHED,
                      null);
              outcome[0] = new Tracked.Halted(IdempotencyTracker.OWNER_VANISHED, halted.expiresAt());
              return halted;
            }
          }
          throw new AssertionError(e.state());
        });
    return outcome[0];
  }

  private Entry newClaim(String fingerprint, long now, long leaseNanos, long retentionNanos,
      @Nullable String claimId) {
    long leaseEnd = Durations.saturatedAdd(now, leaseNanos);
    long expiry = Durations.saturatedAdd(leaseEnd, retentionNanos);
    return new Entry(
        State.IN_PROGRESS,
        tokens.incrementAndGet(),
        fingerprint,
        clock.instant(),
        leaseEnd,
        expiry,
        wallTime(expiry, now),
        null,
        null,
        claimId);
  }

  private Instant wallTime(long deadlineNanos, long now) {
    return clock.instant().plusNanos(Math.max(0, deadlineNanos - now));
  }

  @Override
  public boolean renew(String key, long fencingToken, Duration lease, Duration retention) {
    return ifOwned(key, fencingToken, e -> {
      long now = ticker.read();
      long leaseEnd = Durations.saturatedAdd(now, Durations.toNanosSaturated(lease));
      long expiry = Durations.saturatedAdd(leaseEnd, Durations.toNanosSaturated(retention));
      return new Entry(e.state(), e.token(), e.fingerprint(), e.since(), leaseEnd, expiry,
          wallTime(expiry, now), null, null, e.claimId());
    });
  }

  @Override
  public boolean complete(
      String key, long fencingToken, StoredResponse response, Duration retention) {
    return finish(key, fencingToken, State.COMPLETED, response, null, retention);
  }

  @Override
  public boolean halt(String key, long fencingToken, String reason, Duration retention) {
    return finish(key, fencingToken, State.HALTED, null, reason, retention);
  }

  private boolean finish(
      String key,
      long fencingToken,
      State state,
      @Nullable StoredResponse response,
      @Nullable String reason,
      Duration retention) {
    boolean[] done = new boolean[1];
    records.computeIfPresent(
        key,
        (k, e) -> {
          if (!owned(e, fencingToken)) {
            // Finishing again with the same token and outcome (a retry whose first reply was
            // lost) reports success and changes nothing: the first stored outcome stays.
            done[0] = e.state() == state && e.token() == fencingToken
                && ticker.read() - e.expiryNanos() < 0;
            return e;
          }
          done[0] = true;
          long now = ticker.read();
          long expiry = Durations.saturatedAdd(now, Durations.toNanosSaturated(retention));
          return new Entry(state, e.token(), e.fingerprint(), e.since(), e.leaseEndNanos(), expiry,
              wallTime(expiry, now), response, reason, null);
        });
    return done[0];
  }

  @Override
  public boolean release(String key, long fencingToken) {
    return ifOwned(key, fencingToken, e -> null);
  }

  @Override
  public boolean releaseClaim(String key, String claimId) {
    Require.nonNull(claimId, "claimId");
    boolean[] done = new boolean[1];
    records.computeIfPresent(
        key,
        (k, e) -> {
          if (!claimId.equals(e.claimId()) || !owned(e, e.token())) {
            return e;
          }
          done[0] = true;
          return null;
        });
    return done[0];
  }

  /**
   * Replaces the record of {@code key}, if it is in progress with {@code fencingToken}, by what
   * {@code change} makes of it (null removes it), atomically.
   *
   * @return whether the record was owned, so changed
   */
  private boolean ifOwned(String key, long fencingToken, Function<Entry, @Nullable Entry> change) {
    boolean[] done = new boolean[1];
    records.computeIfPresent(
        key,
        (k, e) -> {
          if (!owned(e, fencingToken)) {
            return e;
          }
          done[0] = true;
          return change.apply(e);
        });
    return done[0];
  }

  /** In progress with this token, and not past retention (then it is as good as absent). */
  private boolean owned(Entry e, long fencingToken) {
    return e.state() == State.IN_PROGRESS
        && e.token() == fencingToken
        && ticker.read() - e.expiryNanos() < 0;
  }

  @Override
  public int prune(int limit) {
    Require.atLeast(limit, 1, "limit");
    int removed = 0;
    long now = ticker.read();
    Iterator<Map.Entry<String, Entry>> it = records.entrySet().iterator();
    while (removed < limit && it.hasNext()) {
      Map.Entry<String, Entry> mapping = it.next();
      Entry e = mapping.getValue();
      // remove(key, value) deletes only this exact record: one renewed or replaced since stays.
      if (now - e.expiryNanos() >= 0 && records.remove(mapping.getKey(), e)) {
        removed++;
      }
    }
    return removed;
  }

  @Override
  public String toString() {
    return "InMemoryIdempotencyStore[" + records.size() + " records]";
  }
}
