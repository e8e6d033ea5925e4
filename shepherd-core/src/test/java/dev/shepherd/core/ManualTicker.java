package dev.shepherd.core;

import java.util.concurrent.atomic.AtomicLong;

/** A hand-driven ticker for core's own tests (core cannot depend on shepherd-testing). */
final class ManualTicker implements Ticker {
  private final AtomicLong nanos;

  ManualTicker(long start) {
    this.nanos = new AtomicLong(start);
  }

  void advance(long delta) {
    nanos.addAndGet(delta);
  }

  @Override
  public long read() {
    return nanos.get();
  }
}
