package dev.shepherd.cache.redis;

import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.cache.Fetched;
import dev.shepherd.cache.Load;
import dev.shepherd.cache.LoadFailedException;
import dev.shepherd.cache.Loader;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One cluster member in a child JVM: a {@link CoalescingCache} with a {@link RedisCourier}, driven
 * line by line on stdin; answers and events go to stdout, one line each, first word the kind.
 *
 * <p>Arguments: Redis URI, cache name, lease ms, command timeout ms, cacheFailuresFor ms (0 off).
 *
 * <p>Commands: {@code STAMPEDE key callers mode loaderMs startAtEpochMs} (mode {@code ok},
 * {@code fail}, or {@code hang-first}: the first run in the cluster hangs, later runs return), then
 * {@code DONE values failures errors runs causeClass};
 * {@code FETCH key value}; {@code GET key}; {@code INVALIDATE key}; {@code STATS}; {@code AWAIT_CLUSTERED}.
 * Events: {@code LOADING key}, {@code REMOTE_INVALIDATION key epochMicros}.
 */
public final class ClusterNode {

  private static final PrintStream OUT = new PrintStream(System.out, true, StandardCharsets.UTF_8);

  private ClusterNode() {}

  public static void main(String[] args) throws Exception {
    String uri = args[0];
    String name = args[1];
    Duration lease = Duration.ofMillis(Long.parseLong(args[2]));
    Duration commandTimeout = Duration.ofMillis(Long.parseLong(args[3]));
    long failuresMs = Long.parseLong(args[4]);
    RedisClient client = RedisClient.create(uri);
    StatefulRedisConnection<String, String> side = client.connect();
    side.setTimeout(Duration.ofSeconds(5));
    RedisCourier<String, String> courier =
        RedisCourier.builder(client, KeyCodec.string(), ValueCodec.string())
            .name(name)
            .lease(lease)
            .commandTimeout(commandTimeout)
            .probeInterval(Duration.ofMillis(200))
            .onRemoteInvalidation(
                key -> say("REMOTE_INVALIDATION " + key + " " + micros(Instant.now())))
            .build();
    CoalescingCache.Builder<String, String> builder =
        CoalescingCache.<String, String>builder().courier(courier).loadTimeout(Duration.ofMinutes(2));
    if (failuresMs > 0) {
      builder.cacheFailuresFor(Duration.ofMillis(failuresMs));
    }
    CoalescingCache<String, String> cache = builder.build();
    say("READY " + ProcessHandle.current().pid());
    BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      String[] w = line.split(" ");
      switch (w[0]) {
        case "STAMPEDE" -> stampede(cache, side, w[1], Integer.parseInt(w[2]), w[3],
            Long.parseLong(w[4]), Long.parseLong(w[5]));
        case "FETCH" -> {
          Fetched<String> f = cache.fetch(w[1], k -> Load.commit(w[2]));
          say("FETCHED " + f.value() + " " + f.source());
        }
        case "GET" -> say("VALUE " + cache.getIfPresent(w[1]));
        case "INVALIDATE" -> {
          long before = micros(Instant.now());
          cache.invalidate(w[1]);
          say("INVALIDATED " + before + " " + micros(Instant.now()));
        }
        case "STATS" -> {
          RedisCourier.Stats s = courier.stats();
          say("STATS clustered=" + courier.isClustered() + " leads=" + s.leads() + " takeovers="
              + s.takeovers() + " shared=" + s.sharedAnswers() + " local=" + s.localLoads()
              + " fallbacks=" + s.fallbacks() + " refused=" + s.refusedWrites() + " loads="
              + cache.stats().loads());
        }
        case "AWAIT_CLUSTERED" -> {
          long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
          while (!courier.isClustered() && System.nanoTime() < deadline) {
            Thread.sleep(20);
          }
          say("CLUSTERED " + courier.isClustered());
        }
        case "EXIT" -> {
          courier.close();
          client.shutdown();
          System.exit(0);
        }
        default -> say("UNKNOWN " + line);
      }
    }
  }

  private static void stampede(
      CoalescingCache<String, String> cache,
      StatefulRedisConnection<String, String> side,
      String key,
      int callers,
      String mode,
      long loaderMs,
      long startAt)
      throws InterruptedException {
    AtomicInteger runs = new AtomicInteger();
    Loader<String, String> loader =
        k -> {
          runs.incrementAndGet();
          if (!mode.equals("hang-first")) {
            say("LOADING " + k);
          }
          switch (mode) {
            case "ok" -> {
              Thread.sleep(loaderMs);
              return Load.commit("value-of-" + k);
            }
            case "fail" -> {
              Thread.sleep(loaderMs);
              throw new IOException("database down for " + k);
            }
            case "hang-first" -> {
              boolean first = "OK".equals(
                  side.sync().set("test:first:" + k, "1", io.lettuce.core.SetArgs.Builder.nx()));
              say("LOADING " + k); // after the SETNX, so a kill after this line leaves it set
              if (first) {
                Thread.sleep(Long.MAX_VALUE);
              }
              Thread.sleep(loaderMs);
              return Load.commit("value-of-" + k);
            }
            default -> throw new IllegalArgumentException(mode);
          }
        };
    AtomicInteger values = new AtomicInteger();
    AtomicInteger failures = new AtomicInteger();
    AtomicInteger errors = new AtomicInteger();
    java.util.Set<String> causes = java.util.concurrent.ConcurrentHashMap.newKeySet();
    java.util.Set<java.util.List<StackTraceElement>> stacks =
        java.util.concurrent.ConcurrentHashMap.newKeySet();
    CountDownLatch done = new CountDownLatch(callers);
    CountDownLatch go = new CountDownLatch(1);
    for (int i = 0; i < callers; i++) {
      Thread.ofVirtual().start(() -> {
        try {
          go.await();
          Fetched<String> f = cache.fetch(key, loader);
          if (f.value().equals("value-of-" + key)) {
            values.incrementAndGet();
          } else {
            errors.incrementAndGet();
          }
        } catch (LoadFailedException e) {
          failures.incrementAndGet();
          Throwable cause = e.getCause();
          causes.add(cause == null ? "none" : cause.getClass().getSimpleName() + ":"
              + cause.getMessage().replace(' ', '_'));
          if (stacks.size() < 2) {
            stacks.add(java.util.List.of(e.getStackTrace()));
          }
        } catch (Throwable t) {
          errors.incrementAndGet();
          t.printStackTrace();
        } finally {
          done.countDown();
        }
      });
    }
    while (System.currentTimeMillis() < startAt) {
      Thread.onSpinWait();
    }
    go.countDown();
    done.await();
    say("DONE values=" + values + " failures=" + failures + " errors=" + errors + " runs=" + runs
        + " causes=" + String.join(",", causes));
  }

  static long micros(Instant t) {
    return ChronoUnit.MICROS.between(Instant.EPOCH, t);
  }

  static synchronized void say(String line) {
    OUT.println(line);
  }
}
