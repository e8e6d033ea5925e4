package dev.shepherd.idempotency;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Two trackers in two real JVMs over one real store: this test's JVM and a child JVM started with
 * the same {@code java} binary and class path ({@link TrackerChildMain}). Subclasses name the
 * store.
 */
public abstract class CrossJvmContract {

  /** The lease in both JVMs: short, so a killed owner's key is free again quickly. */
  protected static final Duration LEASE = Duration.ofSeconds(2);

  private static final Duration HEARTBEAT = Duration.ofMillis(400);

  private static final StoredResponse OK =
      new StoredResponse(200, List.of(), new byte[0], java.time.Instant.EPOCH);

  private final List<Process> children = new ArrayList<>();

  /**
   * Makes the store for this JVM.
   *
   * @return a store
   */
  protected abstract IdempotencyStore newStore();

  /**
   * The factory the child uses to make its store.
   *
   * @return a class with a public no-argument constructor
   */
  protected abstract Class<? extends StoreFactory> childFactory();

  /**
   * Where the child's store connects.
   *
   * @return the spec passed to {@link StoreFactory#create}
   */
  protected abstract String childSpec();

  @AfterEach
  void killChildren() throws InterruptedException {
    for (Process child : children) {
      child.destroyForcibly();
      child.waitFor(30, TimeUnit.SECONDS);
    }
  }

  @Test
  void twoJvmsRacingForTheSameKeysGetExactlyOneClaimEach() throws Exception {
    try (IdempotencyStore store = newStore();
        IdempotencyTracker tracker = tracker(store)) {
      Child child = startChild();
      for (int i = 0; i < 20; i++) {
        String key = "race:" + i + ":" + UUID.randomUUID();
        long startAt = System.currentTimeMillis() + 100;
        child.send("TRACK " + key + " " + startAt);
        spinUntil(startAt);
        Tracked tracked = tracker.track(key, "fp");
        String mine = describe(tracked);
        String theirs = child.readLine();
        if (tracked instanceof Tracked.Claimed claim) {
          tracker.complete(claim, OK);
        }

        List<String> both = List.of(mine.split(" ")[0], theirs.split(" ")[0]);
        assertThat(both).as("key %d: this JVM %s, child %s", i, mine, theirs)
            .containsExactlyInAnyOrder("Claimed", "InProgress");
      }
      child.send("EXIT");
    }
  }

  @Test
  void keyOfAKilledOwnerJvmIsClaimedAgainOnceItsLeaseRunsOutNotAfterRetention() throws Exception {
    try (IdempotencyStore store = newStore();
        IdempotencyTracker tracker = tracker(store)) {
      String key = "killed:" + UUID.randomUUID();
      Child child = startChild();
      child.send("TRACK " + key + " 0");
      String owner = child.readLine();
      assertThat(owner).startsWith("Claimed ");
      long ownerToken = Long.parseLong(owner.split(" ")[1]);

      // While the child lives, its heartbeat keeps the key for several leases.
      await().during(LEASE.plusMillis(500)).atMost(LEASE.multipliedBy(3))
          .until(() -> tracker.track(key, "fp") instanceof Tracked.InProgress);

      child.process.destroyForcibly(); // kill -9
      assertThat(child.process.waitFor(30, TimeUnit.SECONDS)).isTrue();

      Tracked.Claimed claim = (Tracked.Claimed) await()
          .atMost(LEASE.multipliedBy(10))
          .until(() -> tracker.track(key, "fp"), t -> t instanceof Tracked.Claimed);
      assertThat(claim.tookOver()).isTrue();
      assertThat(claim.fencingToken()).isGreaterThan(ownerToken);
      tracker.complete(claim, OK);
    }
  }

  private IdempotencyTracker tracker(IdempotencyStore store) {
    IdempotencyTracker tracker =
        IdempotencyTracker.builder().store(store).lease(LEASE).heartbeatInterval(HEARTBEAT)
            .build();
    warmUp(tracker);
    return tracker;
  }

  /**
   * Opens the store's connections before the timed part (the first Lettuce connection of a new
   * client takes seconds here), so that the race is a race and polls are not stalled.
   */
  static void warmUp(IdempotencyTracker tracker) {
    if (tracker.track("warm-up:" + UUID.randomUUID(), "fp") instanceof Tracked.Claimed claim) {
      tracker.release(claim);
    }
  }

  private Child startChild() throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    // in the module's target directory, not the shared /tmp: kept for a failure's diagnosis
    Path log = Files.createTempFile(
        Files.createDirectories(Path.of("target", "child-logs")), "idempotency-child-", ".log");
    ProcessBuilder builder = new ProcessBuilder(
        java,
        "-Dio.lettuce.core.jfr=" + System.getProperty("io.lettuce.core.jfr", "true"),
        "-cp",
        System.getProperty("java.class.path"),
        TrackerChildMain.class.getName(),
        childFactory().getName(),
        childSpec(),
        Long.toString(LEASE.toMillis()),
        Long.toString(HEARTBEAT.toMillis()))
        .redirectError(log.toFile());
    Process process = builder.start();
    children.add(process);
    Child child = new Child(process, log);
    String ready = child.readLine();
    assertThat(ready).as("child JVM start; its stderr is in %s", log).isEqualTo("READY");
    return child;
  }

  static String describe(Tracked tracked) {
    return switch (tracked) {
      case Tracked.Claimed c -> "Claimed " + c.fencingToken();
      case Tracked.InProgress p -> "InProgress";
      case Tracked.Completed c -> "Completed";
      case Tracked.Halted h -> "Halted";
      case Tracked.Mismatch m -> "Mismatch";
    };
  }

  /** A start barrier across JVMs: both sides spin until the same wall-clock millisecond. */
  static void spinUntil(long epochMillis) {
    while (System.currentTimeMillis() < epochMillis) {
      Thread.onSpinWait();
    }
  }

  private static final class Child {
    final Process process;
    final Path log;
    final BufferedReader out;
    final PrintWriter in;

    Child(Process process, Path log) {
      this.process = process;
      this.log = log;
      this.out = new BufferedReader(
          new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
      this.in = new PrintWriter(process.getOutputStream(), true, StandardCharsets.UTF_8);
    }

    void send(String line) {
      in.println(line);
    }

    String readLine() {
      try {
        String line = out.readLine();
        if (line == null) {
          throw new AssertionError("child JVM exited; its stderr:\n" + Files.readString(log));
        }
        return line;
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }
}
