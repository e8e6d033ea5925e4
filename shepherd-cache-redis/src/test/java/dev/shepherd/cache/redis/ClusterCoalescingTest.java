package dev.shepherd.cache.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.testing.RedisServer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Four real JVMs ({@link ClusterNode}) with 2,500 virtual threads each, one real Redis: one load per
 * key for the whole cluster, failures shared, invalidation reaching every JVM, and a take-over when
 * the leading JVM is killed with {@code kill -9}.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterCoalescingTest {

  private static final int JVMS = 4;
  private static final int CALLERS = 2_500;
  private static final Duration LEASE = Duration.ofSeconds(2);

  @RegisterExtension static final RedisServer redis = RedisServer.create();

  private static Nodes nodes;

  @BeforeAll
  static void startNodes() throws Exception {
    nodes = Nodes.start(JVMS, redis.uri(), "cluster-test", LEASE, Duration.ofSeconds(2),
        Duration.ofMinutes(1));
  }

  @AfterAll
  static void stopNodes() throws Exception {
    if (nodes != null) {
      nodes.close();
    }
  }

  private static String stampede(String key, String mode, long loaderMs) {
    // All four JVMs release their callers at the same wall-clock millisecond.
    return "STAMPEDE " + key + " " + CALLERS + " " + mode + " " + loaderMs + " "
        + (System.currentTimeMillis() + 500);
  }

  private static long sum(List<String> lines, String field) {
    return lines.stream().mapToLong(l -> Long.parseLong(Nodes.Node.fields(l).get(field))).sum();
  }

  @Test
  @Order(1)
  void fourJvmsOnOneColdKeyRunTheLoaderOnceAndAnswerEveryCaller() throws Exception {
    String key = "cold-" + UUID.randomUUID();
    List<String> done = nodes.askAll(stampede(key, "ok", 300), "DONE");

    assertThat(sum(done, "runs")).as("loader runs in the cluster: %s", done).isEqualTo(1);
    assertThat(sum(done, "values")).as("%s", done).isEqualTo(JVMS * CALLERS);
    assertThat(sum(done, "failures") + sum(done, "errors")).as("%s", done).isZero();
    List<String> stats = nodes.askAll("STATS", "STATS");
    assertThat(sum(stats, "leads")).as("%s", stats).isEqualTo(1);
    assertThat(sum(stats, "shared")).as("the other three JVMs got the leader's value: %s", stats)
        .isEqualTo(JVMS - 1);
  }

  @Test
  @Order(2)
  void aFailingLoaderRunsOnceAndFailsEveryCallerOfEveryJvm() throws Exception {
    String key = "failing-" + UUID.randomUUID();
    List<String> done = nodes.askAll(stampede(key, "fail", 300), "DONE");

    assertThat(sum(done, "runs")).as("loader runs in the cluster: %s", done).isEqualTo(1);
    assertThat(sum(done, "failures")).as("%s", done).isEqualTo(JVMS * CALLERS);
    assertThat(sum(done, "values") + sum(done, "errors")).as("%s", done).isZero();
    for (String line : done) {
      String causes = Nodes.Node.fields(line).get("causes");
      // The leader's callers see the IOException itself; the others its class and message.
      assertThat(causes).as(line).matches(
          "(IOException|RemoteLoadException):(java\\.io\\.IOException:_)?database_down_for_" + key);
    }
    assertThat(done).filteredOn(l -> l.contains("RemoteLoadException:java.io.IOException"))
        .hasSize(JVMS - 1);
  }

  @Test
  @Order(3)
  void anInvalidationOnOneJvmRemovesTheKeyFromTheOtherThree() throws Exception {
    String key = "inv-" + UUID.randomUUID();
    assertThat(nodes.get(0).ask("FETCH " + key + " old", "FETCHED")).isEqualTo("FETCHED old LOADED");
    for (int i = 1; i < JVMS; i++) {
      // From the shared tier, without a load: a later loader would have answered "other".
      assertThat(nodes.get(i).ask("FETCH " + key + " other", "FETCHED")).isEqualTo("FETCHED old LOADED");
      assertThat(nodes.get(i).ask("GET " + key, "VALUE")).isEqualTo("VALUE old");
    }

    String invalidated = nodes.get(0).ask("INVALIDATE " + key, "INVALIDATED");
    long returnedAt = Long.parseLong(invalidated.split(" ")[2]);
    List<Long> windows = new ArrayList<>();
    for (int i = 1; i < JVMS; i++) {
      String seen = nodes.get(i).next("REMOTE_INVALIDATION", Duration.ofSeconds(30));
      assertThat(seen).startsWith("REMOTE_INVALIDATION " + key + " ");
      windows.add(Long.parseLong(seen.split(" ")[2]) - returnedAt);
      assertThat(nodes.get(i).ask("GET " + key, "VALUE")).isEqualTo("VALUE null");
    }
    // The window between invalidate() returning in one JVM and the key leaving the last other JVM.
    System.out.println("invalidation window (us after invalidate returned, per JVM): " + windows);
    assertThat(nodes.get(2).ask("FETCH " + key + " new", "FETCHED"))
        .as("a fetch after the invalidation loads again").isEqualTo("FETCHED new LOADED");
  }

  @Test
  @Order(4)
  void killingTheLeadingJvmMidLoadLetsExactlyOneOtherJvmTakeOver() throws Exception {
    String key = "kill-" + UUID.randomUUID();
    String command = stampede(key, "hang-first", 50);
    for (Nodes.Node node : nodes.nodes) {
      node.send(command);
    }
    Nodes.Node leader = await().atMost(60, TimeUnit.SECONDS).pollInterval(Duration.ofMillis(20))
        .until(() -> nodes.nodes.stream().filter(n -> n.said("LOADING " + key)).findFirst().orElse(null),
            n -> n != null);
    leader.process.destroyForcibly(); // kill -9
    assertThat(leader.process.waitFor(30, TimeUnit.SECONDS)).isTrue();

    List<String> done = new ArrayList<>();
    List<String> stats = new ArrayList<>();
    for (Nodes.Node node : nodes.nodes) {
      if (node != leader) {
        done.add(node.next("DONE", Duration.ofSeconds(120)));
        stats.add(node.ask("STATS", "STATS"));
      }
    }
    assertThat(sum(done, "values")).as("%s", done).isEqualTo((JVMS - 1) * CALLERS);
    assertThat(sum(done, "failures") + sum(done, "errors")).as("%s", done).isZero();
    assertThat(sum(done, "runs")).as("one run after the leader died: %s", done).isEqualTo(1);
    assertThat(sum(stats, "takeovers")).as("%s", stats).isEqualTo(1);
  }
}
