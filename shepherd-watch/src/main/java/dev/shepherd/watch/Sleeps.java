package dev.shepherd.watch;

import dev.shepherd.core.Ticker;
import java.util.concurrent.TimeUnit;

/** Interruptible waits measured with a {@link Ticker}, so a fake ticker can drive them. */
final class Sleeps {

  /*
   * With the system ticker we sleep the whole wait at once. With any other ticker (a test's fake)
   * real time says nothing about the ticker's time, so we sleep in short slices and re-read it:
   * advancing a fake ticker then ends the wait within a slice.
   *
   * A wait is measured from the reading the caller computed it from, never from a reading taken
   * here: time that passes between the caller's reading and this method's first one (a preempted
   * thread, or a test that advances a fake ticker the moment it sees the caller's last step) would
   * otherwise be added to the wait. With a fake ticker that is an advance lost and a wait that
   * never ends.
   */
  private static final long SLICE_NANOS = TimeUnit.MILLISECONDS.toNanos(5);

  private Sleeps() {}

  /**
   * Sleeps until {@code nanos} have passed on {@code ticker} since its reading {@code from};
   * returns at once if they already have.
   *
   * @throws InterruptedException if interrupted (the wait is then abandoned)
   */
  static void sleep(Ticker ticker, long from, long nanos) throws InterruptedException {
    while (true) {
      long remaining = nanos - (ticker.read() - from);
      if (remaining <= 0L) {
        return;
      }
      @SuppressWarnings("ReferenceEquality") // identity: only the system ticker sleeps in one go
      long slice = ticker == Ticker.system() ? remaining : Math.min(remaining, SLICE_NANOS);
      TimeUnit.NANOSECONDS.sleep(slice);
    }
  }
}
