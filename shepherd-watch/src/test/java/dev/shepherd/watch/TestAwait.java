package dev.shepherd.watch;

import java.time.Duration;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;

/** Awaitility with a short poll interval, so awaiting many conditions in a row stays fast. */
final class TestAwait {

  private TestAwait() {}

  static ConditionFactory await() {
    return Awaitility.await()
        .pollDelay(Duration.ZERO)
        .pollInterval(Duration.ofMillis(2))
        .atMost(Duration.ofSeconds(60));
  }
}
