package dev.shepherd.micrometer;

import dev.shepherd.idempotency.ForwardingIdempotencyStore;
import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.OrphanPolicy;
import dev.shepherd.idempotency.StoredResponse;
import dev.shepherd.idempotency.Tracked;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import java.time.Duration;

/** An {@link IdempotencyStore} that counts claims by outcome and finishes by kind, and forwards every call. */
final class MeteredIdempotencyStore extends ForwardingIdempotencyStore {

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

  MeteredIdempotencyStore(IdempotencyStore delegate, MeterRegistry registry, Tags tags) {
    super(delegate);
    this.claimed = claims(registry, tags, "claimed");
    this.tookOver = claims(registry, tags, "took_over");
    this.inProgress = claims(registry, tags, "in_progress");
    this.completed = claims(registry, tags, "completed");
    this.halted = claims(registry, tags, "halted");
    this.mismatch = claims(registry, tags, "mismatch");
    this.error = claims(registry, tags, "error");
    this.completes = finishes(registry, tags, "complete");
    this.halts = finishes(registry, tags, "halt");
    this.releases = finishes(registry, tags, "release");
  }

  private static Counter claims(MeterRegistry registry, Tags tags, String outcome) {
    return Counter.builder("shepherd.idempotency.claims").tags(tags.and("outcome", outcome)).register(registry);
  }

  private static Counter finishes(MeterRegistry registry, Tags tags, String how) {
    return Counter.builder("shepherd.idempotency.finishes").tags(tags.and("how", how)).register(registry);
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
