package dev.shepherd.cache.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.testing.RedisServer;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Four real JVMs with 2,500 virtual threads each on one cold key; Redis is stopped while the
 * leader's loader runs. Every caller is answered by a load in its own JVM; when Redis is back every
 * JVM returns to cluster mode and a new key is loaded once for the cluster again.
 */
class RedisStoppedMidLoadTest {

  private static final int JVMS = 4;
  private static final int CALLERS = 2_500;

  @RegisterExtension static final RedisServer redis = RedisServer.create();

  private static long sum(List<String> lines, String field) {
    return lines.stream().mapToLong(l -> Long.parseLong(Nodes.Node.fields(l).get(field))).sum();
  }

  @Test
  void callersAreAnsweredByLocalLoadsWhenRedisStopsMidLoadAndTheClusterComesBackAfter()
      throws Exception {
    try (Nodes nodes = Nodes.start(JVMS, redis.uri(), "outage-test", Duration.ofSeconds(2),
        Duration.ofMillis(500), Duration.ZERO)) {
      String key = "outage-" + UUID.randomUUID();
      String command = "STAMPEDE " + key + " " + CALLERS + " ok 3000 " + (System.currentTimeMillis() + 500);
      for (Nodes.Node node : nodes.nodes) {
        node.send(command);
      }
      await().atMost(60, TimeUnit.SECONDS).pollInterval(Duration.ofMillis(20))
          .until(() -> nodes.nodes.stream().anyMatch(n -> n.said("LOADING " + key)));
      redis.stop();

      List<String> done = nodes.nodes.stream().map(n -> {
        try {
          return n.next("DONE", Duration.ofSeconds(120));
        } catch (Exception e) {
          throw new AssertionError(e);
        }
      }).toList();
      assertThat(sum(done, "values")).as("%s", done).isEqualTo(JVMS * CALLERS);
      assertThat(sum(done, "failures") + sum(done, "errors")).as("%s", done).isZero();
      for (String line : done) {
        assertThat(Nodes.Node.fields(line).get("runs")).as("one load per JVM: %s", done).isEqualTo("1");
      }
      List<String> stats = nodes.askAll("STATS", "STATS");
      for (String line : stats) {
        assertThat(Nodes.Node.fields(line).get("clustered")).as(line).isEqualTo("false");
        assertThat(Long.parseLong(Nodes.Node.fields(line).get("fallbacks"))).as(line).isEqualTo(1);
      }
      assertThat(sum(stats, "local")).as("the three waiting JVMs loaded locally: %s", stats)
          .isEqualTo(JVMS - 1);

      redis.restart();
      for (String line : nodes.askAll("AWAIT_CLUSTERED", "CLUSTERED")) {
        assertThat(line).isEqualTo("CLUSTERED true");
      }
      String again = "after-" + UUID.randomUUID();
      List<String> second = nodes.askAll(
          "STAMPEDE " + again + " " + CALLERS + " ok 300 " + (System.currentTimeMillis() + 500), "DONE");
      assertThat(sum(second, "runs")).as("back in cluster mode: %s", second).isEqualTo(1);
      assertThat(sum(second, "values")).as("%s", second).isEqualTo(JVMS * CALLERS);
    }
  }
}
