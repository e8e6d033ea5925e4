package dev.shepherd.watch;

import dev.shepherd.core.Ticker;
import java.util.concurrent.TimeUnit;

/** Interruptible waits measured with a {@link Ticker}, so a fake ticker can drive them. */
final class Sleeps {

  /*
   * With the system ticker we sleep the whole wait at once. With any other ticker (a test's fake)
   * real time says nothing about the ticker's time, so we sleep in short slices and re-read it:
   * advancing a fake ticker then ends the wait within a slice.
   */
  private static final long SLICE_NANOS = TimeUnit.MILLISECONDS.toNanos(5);

  private Sleeps() {}

  /**
   * Sleeps until {@code nanos} have passed on {@code ticker}.
   *
   * @throws InterruptedException if interrupted (the wait is then abandoned)
   */
  static void sleep(Ticker ticker, long nanos) throws InterruptedException {
    long start = ticker.read();
    while (true) {
      long remaining = nanos - (ticker.read() - start);
      if (remaining <= 0L) {
        return;
      }
      @SuppressWarnings("ReferenceEquality") // identity: only the system ticker sleeps in one go
      long slice = ticker == Ticker.system() ? remaining : Math.min(remaining, SLICE_NANOS);
      TimeUnit.NANOSECONDS.sleep(slice);
    }
  }
}
