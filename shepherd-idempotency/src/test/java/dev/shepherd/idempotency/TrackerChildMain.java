package dev.shepherd.idempotency;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * The main class of the child JVM in the cross-JVM tests: one tracker over a real store, driven by
 * lines on standard input, answering on standard output.
 *
 * <p>Arguments: store factory class, store spec, lease in ms, heartbeat interval in ms. Commands:
 * {@code TRACK key startAtEpochMillis} (spin until that wall-clock instant, so the parent and the
 * child start together, then track and print the outcome: {@code Claimed <token>},
 * {@code InProgress}, ...), {@code EXIT}.
 */
public final class TrackerChildMain {

  private TrackerChildMain() {}

  public static void main(String[] args) throws Exception {
    StoreFactory factory =
        (StoreFactory) Class.forName(args[0]).getDeclaredConstructor().newInstance();
    IdempotencyStore store = factory.create(args[1]);
    IdempotencyTracker tracker =
        IdempotencyTracker.builder()
            .store(store)
            .lease(Duration.ofMillis(Long.parseLong(args[2])))
            .heartbeatInterval(Duration.ofMillis(Long.parseLong(args[3])))
            .build();
    BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    CrossJvmContract.warmUp(tracker);
    System.out.println("READY");
    System.out.flush();
    String line;
    while ((line = in.readLine()) != null) {
      String[] command = line.split(" ");
      if (command[0].equals("EXIT")) {
        break;
      }
      if (command[0].equals("TRACK")) {
        CrossJvmContract.spinUntil(Long.parseLong(command[2]));
        Tracked tracked = tracker.track(command[1], "fp");
        System.out.println(CrossJvmContract.describe(tracked));
        System.out.flush();
      }
    }
    tracker.close();
    store.close();
  }
}
