package dev.shepherd.cache;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** A loader helper: counts runs, signals when a run started, and holds it until opened. */
final class Gate {

  final AtomicInteger runs = new AtomicInteger();
  private final CountDownLatch started = new CountDownLatch(1);
  private final CountDownLatch open = new CountDownLatch(1);

  /** Called by a loader: records the run and blocks until {@link #open()} (interruptibly). */
  void pass() throws InterruptedException {
    runs.incrementAndGet();
    started.countDown();
    open.await();
  }

  void awaitStarted() throws InterruptedException {
    if (!started.await(30, TimeUnit.SECONDS)) {
      throw new AssertionError("loader did not start");
    }
  }

  void open() {
    open.countDown();
  }
}
