package dev.shepherd.cache.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.cache.Load;
import dev.shepherd.testing.RedisServer;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A Redis that answers but refuses writes (out of memory under {@code noeviction}; a master
 * demoted to a replica by a failover answers READONLY the same way). A Redis of its own: the test
 * sets its {@code maxmemory}.
 */
class WritesRefusedTest {

  @RegisterExtension @Order(1) static final RedisServer redis = RedisServer.create();
  @RegisterExtension @Order(2) static final RawRedis raw = RawRedis.on(redis);

  /** How many SET commands Redis refused since it started (OOM, READONLY). */
  private static long rejectedSets() {
    for (String line : raw.sync().info("commandstats").split("\r\n")) {
      if (line.startsWith("cmdstat_set:")) {
        for (String field : line.substring(line.indexOf(':') + 1).split(",")) {
          if (field.startsWith("rejected_calls=")) {
            return Long.parseLong(field.substring("rejected_calls=".length()));
          }
        }
      }
    }
    return 0L;
  }

  /**
   * The probe only published and heard its own message, which such a Redis allows: it returned to
   * cluster mode at once, clearing the JVM's local storage, and the next miss fell back again, so
   * for as long as writes were refused the JVM lost its whole local storage once per probe
   * interval. The probe now writes a key too, and stays in local mode while that is refused.
   */
  @Test
  void aRedisThatRefusesWritesKeepsTheJvmInLocalModeWithItsLocalStorage() throws Exception {
    String name = "t" + UUID.randomUUID();
    try (Member a = Member.join(redis.uri(), name)) {
      assertThat(a.cache().fetch("warm", k -> Load.commit("kept")).value()).isEqualTo("kept");
      raw.sync().configSet("maxmemory-policy", "noeviction");
      raw.sync().configSet("maxmemory", "1");
      try {
        assertThat(a.cache().fetch("k", k -> Load.commit("local")).value()).isEqualTo("local");
        assertThat(a.courier().stats().fallbacks()).isEqualTo(1);
        assertThat(a.courier().isClustered()).isFalse();

        // Probes come every 100 ms; three refused probe writes, or a return to cluster mode.
        long before = rejectedSets();
        await().atMost(30, TimeUnit.SECONDS)
            .until(() -> a.courier().isClustered() || rejectedSets() >= before + 3);
        assertThat(a.courier().isClustered()).as("back in cluster mode while writes fail")
            .isFalse();
        assertThat(a.cache().getIfPresent("warm")).as("local storage kept").isEqualTo("kept");
      } finally {
        raw.sync().configSet("maxmemory", "0");
      }
      await().atMost(30, TimeUnit.SECONDS).until(a.courier()::isClustered);
      assertThat(a.courier().stats().fallbacks()).as("one outage, one fall back").isEqualTo(1);
    }
  }
}
