package dev.shepherd.micrometer;

import dev.shepherd.idempotency.ForwardingIdempotencyStore;
import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.OrphanPolicy;
import dev.shepherd.idempotency.StoredResponse;
import dev.shepherd.idempotency.Tracked;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Tags;
import java.time.Duration;

/** An {@link IdempotencyStore} that counts claims by outcome and finishes by kind, and forwards every call. */
final class MeteredIdempotencyStore extends ForwardingIdempotencyStore {

  private static final String CLAIMS = "shepherd.idempotency.claims";
  private static final String FINISHES = "shepherd.idempotency.finishes";

  private final Counter claimed;
  private final Counter tookOver;
  private final Counter inProgress;
  private final Counter completed;
  private final Counter halted;
  private final Counter mismatch;
  private final Counter error;
  private final Counter completes;
  private final Counter halts;
  private final Counter releases;

  /**
   * Registers one counter of a name and tags.
   */
  @FunctionalInterface
  interface Counters {
    Counter register(String name, Tags tags);
  }

  MeteredIdempotencyStore(IdempotencyStore delegate, Tags tags, Counters counters) {
    super(delegate);
    this.claimed = counters.register(CLAIMS, tags.and("outcome", "claimed"));
    this.tookOver = counters.register(CLAIMS, tags.and("outcome", "took_over"));
    this.inProgress = counters.register(CLAIMS, tags.and("outcome", "in_progress"));
    this.completed = counters.register(CLAIMS, tags.and("outcome", "completed"));
    this.halted = counters.register(CLAIMS, tags.and("outcome", "halted"));
    this.mismatch = counters.register(CLAIMS, tags.and("outcome", "mismatch"));
    this.error = counters.register(CLAIMS, tags.and("outcome", "error"));
    this.completes = counters.register(FINISHES, tags.and("how", "complete"));
    this.halts = counters.register(FINISHES, tags.and("how", "halt"));
    this.releases = counters.register(FINISHES, tags.and("how", "release"));
  }

  @Override
  public Tracked claim(String key, String fingerprint, Duration lease, Duration retention, OrphanPolicy orphanPolicy) {
    Tracked tracked;
    try {
      tracked = super.claim(key, fingerprint, lease, retention, orphanPolicy);
    } catch (RuntimeException e) {
      error.increment();
      throw e;
    }
    return counted(tracked);
  }

  /**
   * Forwards the claim with its id, so that the tracker can still release a claim whose reply it
   * never got through this store ({@link IdempotencyStore#releaseClaim}); counted once.
   */
  @Override
  public Tracked claim(String key, String fingerprint, Duration lease, Duration retention,
      OrphanPolicy orphanPolicy, String claimId) {
    Tracked tracked;
    try {
      tracked = delegate().claim(key, fingerprint, lease, retention, orphanPolicy, claimId);
    } catch (RuntimeException e) {
      error.increment();
      throw e;
    }
    return counted(tracked);
  }

  private Tracked counted(Tracked tracked) {
    switch (tracked) {
      case Tracked.Claimed c -> (c.tookOver() ? tookOver : claimed).increment();
      case Tracked.InProgress p -> inProgress.increment();
      case Tracked.Completed c -> completed.increment();
      case Tracked.Halted h -> halted.increment();
      case Tracked.Mismatch m -> mismatch.increment();
    }
    return tracked;
  }

  @Override
  public boolean complete(String key, long fencingToken, StoredResponse response, Duration retention) {
    return counted(super.complete(key, fencingToken, response, retention), completes);
  }

  @Override
  public boolean halt(String key, long fencingToken, String reason, Duration retention) {
    return counted(super.halt(key, fencingToken, reason, retention), halts);
  }

  @Override
  public boolean release(String key, long fencingToken) {
    return counted(super.release(key, fencingToken), releases);
  }

  @Override
  public boolean releaseClaim(String key, String claimId) {
    return counted(super.releaseClaim(key, claimId), releases);
  }

  /** Counts a successful finish or release on {@code counter}; returns {@code done}. */
  private static boolean counted(boolean done, Counter counter) {
    if (done) {
      counter.increment();
    }
    return done;
  }

  @Override
  public String toString() {
    return "Metered[" + delegate() + "]";
  }
}
