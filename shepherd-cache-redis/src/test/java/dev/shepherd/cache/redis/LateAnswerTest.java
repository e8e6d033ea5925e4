package dev.shepherd.cache.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.cache.Fetched;
import dev.shepherd.cache.Load;
import dev.shepherd.testing.FaultProxy;
import dev.shepherd.testing.RedisServer;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The answer to a job's question is handled on a loader thread that may start late (on a loaded
 * machine it queues behind the JVM's runnable callers), while messages are handled at once on the
 * message thread. A retry message that comes in meanwhile hands the job to a second question; the
 * first answer, handled after the second, must not make the job wait on the lease it named (given
 * back since), or the result of the lease the second answer named passes the job by and it waits
 * for its re-check, a whole lease later.
 */
class LateAnswerTest {

  @RegisterExtension static final RedisServer redis = RedisServer.create();

  /** Runs tasks on new virtual threads, or keeps them, while held, for the test to run. */
  private static final class Gate implements Executor {
    private final Deque<Runnable> held = new ArrayDeque<>();
    private boolean holding;

    @Override
    public synchronized void execute(Runnable task) {
      if (holding) {
        held.addLast(task);
      } else {
        Thread.ofVirtual().start(task);
      }
    }

    synchronized void hold() {
      holding = true;
    }

    synchronized int pending() {
      return held.size();
    }

    /** Runs the newest kept task on the calling thread. */
    void runNewest() {
      Runnable task;
      synchronized (this) {
        task = held.removeLast();
      }
      task.run();
    }

    /** Stops holding and starts every kept task. */
    void open() {
      synchronized (this) {
        holding = false;
      }
      while (true) {
        Runnable task;
        synchronized (this) {
          task = held.pollFirst();
        }
        if (task == null) {
          return;
        }
        Thread.ofVirtual().start(task);
      }
    }
  }

  private static CompletableFuture<Fetched<String>> fetchInThread(
      Member m, String key, CountDownLatch started, CountDownLatch finish, String value) {
    CompletableFuture<Fetched<String>> answer = new CompletableFuture<>();
    Thread.ofVirtual().start(() -> {
      try {
        answer.complete(m.cache().fetch(key, k -> {
          started.countDown();
          finish.await();
          return Load.commit(value);
        }));
      } catch (Throwable t) {
        answer.completeExceptionally(t);
      }
    });
    return answer;
  }

  private static long calls(StatefulRedisConnection<String, String> raw, String command) {
    String prefix = "cmdstat_" + command + ":calls=";
    for (String line : raw.sync().info("commandstats").split("\r?\n")) {
      if (line.startsWith(prefix)) {
        return Long.parseLong(line.substring(prefix.length(), line.indexOf(',')));
      }
    }
    return 0L;
  }

  @Test
  void aLateFirstAnswerDoesNotMakeARetriedJobMissTheResultOfTheLeaseItsSecondAnswerNamed()
      throws Exception {
    String name = "t" + UUID.randomUUID();
    String leaseKey = RedisCourier.DEFAULT_PREFIX + name + ":l:k";
    Gate gate = new Gate();
    // Long leases: no renewal nor re-check runs during the test; only messages can wake A's job.
    Duration lease = Duration.ofSeconds(60);
    RedisClient rawClient = RedisClient.create(redis.uri());
    try (StatefulRedisConnection<String, String> raw = rawClient.connect();
        Member a = Member.join(redis.uri(), name, c -> c.lease(lease).executor(gate), c -> {});
        Member b = Member.join(redis.uri(), name, c -> c.lease(lease), c -> {});
        Member c = Member.join(redis.uri(), name, c2 -> c2.lease(lease), c2 -> {})) {
      // B leads the key; its loader waits.
      CountDownLatch bStarted = new CountDownLatch(1);
      CountDownLatch bFinish = new CountDownLatch(1);
      CompletableFuture<Fetched<String>> bAnswer = fetchInThread(b, "k", bStarted, bFinish, "from-b");
      assertThat(bStarted.await(30, TimeUnit.SECONDS)).isTrue();
      long first = Long.parseLong(raw.sync().get(leaseKey));

      // A asks; Redis answers "wait on B's lease", but the thread that handles it is held.
      raw.sync().configResetstat();
      gate.hold();
      AtomicInteger aRuns = new AtomicInteger();
      CompletableFuture<Fetched<String>> aAnswer = a.cache().fetchAsync("k", k -> {
        aRuns.incrementAndGet();
        return Load.commit("from-a");
      });
      await().atMost(30, TimeUnit.SECONDS).until(() -> calls(raw, "evalsha") == 1);
      await().atMost(30, TimeUnit.SECONDS).until(() -> gate.pending() == 1);

      // B's lease is deleted (an invalidation, as a lease given back with RETRY is): A's message
      // thread hands the job to a retry, held too; then C takes a new lease and loads.
      b.cache().invalidate("k");
      await().atMost(30, TimeUnit.SECONDS).until(() -> gate.pending() == 2);
      CountDownLatch cStarted = new CountDownLatch(1);
      CountDownLatch cFinish = new CountDownLatch(1);
      CompletableFuture<Fetched<String>> cAnswer = fetchInThread(c, "k", cStarted, cFinish, "from-c");
      assertThat(cStarted.await(30, TimeUnit.SECONDS)).isTrue();
      long second = Long.parseLong(raw.sync().get(leaseKey));
      assertThat(second).isGreaterThan(first);

      gate.runNewest(); // the retry asks again: "wait on C's lease"
      gate.runNewest(); // the first answer, handled late: "wait on B's lease" (given back)
      assertThat(gate.pending()).isZero();

      // C's result, then an invalidation of another key from C (same connection, so in order on
      // the channel): once A counted that invalidation, it has handled C's result.
      cFinish.countDown();
      assertThat(cAnswer.get(30, TimeUnit.SECONDS).value()).isEqualTo("from-c");
      c.cache().invalidate("marker");
      await().atMost(30, TimeUnit.SECONDS)
          .until(() -> a.courier().stats().invalidationsReceived() == 2);
      assertThat(gate.pending())
          .as("C's result took A's job (its completion waits in the gate)")
          .isEqualTo(1);

      gate.open();
      assertThat(aAnswer.get(30, TimeUnit.SECONDS).value()).isEqualTo("from-c");
      assertThat(aRuns).hasValue(0);
      assertThat(a.courier().stats().sharedAnswers()).isEqualTo(1);
      bFinish.countDown();
      assertThat(bAnswer.get(30, TimeUnit.SECONDS).value()).isEqualTo("from-b");
      // B answered its callers while its write travelled; the write is refused (its lease is gone).
      await().atMost(30, TimeUnit.SECONDS).until(() -> b.courier().stats().refusedWrites() == 1);
      assertThat(raw.sync().get(RedisCourier.DEFAULT_PREFIX + name + ":v:k")).isEqualTo("Vfrom-c");
    } finally {
      gate.open();
      rawClient.shutdown(Duration.ZERO, Duration.ofSeconds(2));
    }
  }

  @Test
  void aLeaseTakenByAQuestionAnsweredTooLateIsGivenBackSoTheWaitingJvmsDoNotWaitForItToLapse()
      throws Exception {
    String name = "t" + UUID.randomUUID();
    String leaseKey = RedisCourier.DEFAULT_PREFIX + name + ":l:k";
    // A lease far longer than the test's waits: only the lease given back can wake B.
    Duration lease = Duration.ofMinutes(10);
    RedisClient rawClient = RedisClient.create(redis.uri());
    try (StatefulRedisConnection<String, String> raw = rawClient.connect();
        FaultProxy proxy = FaultProxy.to(redis.port());
        Member a = Member.join("redis://127.0.0.1:" + proxy.port(), name,
            c -> c.lease(lease).commandTimeout(Duration.ofSeconds(1)), c -> {});
        Member b = Member.join(redis.uri(), name, c -> c.lease(lease), c -> {})) {
      // Every chunk to and from A waits 3 s: A's question reaches Redis after A stopped waiting
      // for its answer (1 s), takes the lease there, and its answer comes back 3 s later still.
      proxy.delay(Duration.ofSeconds(3));
      AtomicInteger aRuns = new AtomicInteger();
      CompletableFuture<Fetched<String>> aAnswer = a.cache().fetchAsync("k", k -> {
        aRuns.incrementAndGet();
        return Load.commit("from-a");
      });
      assertThat(aAnswer.get(30, TimeUnit.SECONDS).value()).isEqualTo("from-a"); // fell back
      assertThat(a.courier().stats().fallbacks()).isEqualTo(1);
      await().atMost(30, TimeUnit.SECONDS).until(() -> raw.sync().exists(leaseKey) == 1);
      long taken = Long.parseLong(raw.sync().get(leaseKey));
      // Chunks read from now on pass at once (A's probes must not queue ahead of what A sends
      // next); the answer already read from Redis still waits out its 3 s.
      proxy.restore();

      // B waits on the lease A's question took; nobody loads under it.
      AtomicInteger bRuns = new AtomicInteger();
      CompletableFuture<Fetched<String>> bAnswer = b.cache().fetchAsync("k", k -> {
        bRuns.incrementAndGet();
        return Load.commit("from-b");
      });

      // A's late answer names the lease: A gives it back, B asks again and loads.
      assertThat(bAnswer.get(60, TimeUnit.SECONDS).value()).isEqualTo("from-b");
      assertThat(bRuns).hasValue(1);
      assertThat(aRuns).hasValue(1);
      assertThat(b.courier().stats().takeovers()).isEqualTo(1);
      assertThat(b.courier().stats().leads()).as("one lease after A's").isEqualTo(1);
      assertThat(Long.parseLong(raw.sync().get(RedisCourier.DEFAULT_PREFIX + name + ":seq")))
          .as("B's token comes after A's").isGreaterThan(taken);
    } finally {
      rawClient.shutdown(Duration.ZERO, Duration.ofSeconds(2));
    }
  }
}
