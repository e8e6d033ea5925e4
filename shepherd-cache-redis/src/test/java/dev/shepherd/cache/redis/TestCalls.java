package dev.shepherd.cache.redis;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.cache.CoalescingCache;
import dev.shepherd.cache.Fetched;
import dev.shepherd.cache.Load;
import dev.shepherd.cache.Loader;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** Calls and raw channel messages the courier's tests share. */
final class TestCalls {

  private TestCalls() {}

  /** Fetches {@code key} on a virtual thread of its own; the future has its answer or failure. */
  static CompletableFuture<Fetched<String>> fetchInThread(
      CoalescingCache<String, String> cache, String key, Loader<String, String> loader) {
    CompletableFuture<Fetched<String>> answer = new CompletableFuture<>();
    Thread.ofVirtual().start(() -> {
      try {
        answer.complete(cache.fetch(key, loader));
      } catch (Throwable t) {
        answer.completeExceptionally(t);
      }
    });
    return answer;
  }

  /** Starts a load in A that waits for {@code finish}, and a caller in B waiting on A's lease. */
  static CompletableFuture<Fetched<String>> waitOnLeader(
      Member a, Member b, String key, String value, CountDownLatch finish, AtomicInteger runs)
      throws InterruptedException {
    CountDownLatch started = new CountDownLatch(1);
    fetchInThread(a.cache(), key, k -> {
      runs.incrementAndGet();
      started.countDown();
      finish.await();
      return Load.commit(value);
    });
    assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();
    CompletableFuture<Fetched<String>> waiter = fetchInThread(b.cache(), key, k -> {
      runs.incrementAndGet();
      return Load.commit("loaded-by-b");
    });
    await().atMost(30, TimeUnit.SECONDS).until(() -> b.cache().waitingCallers(key) == 1);
    return waiter;
  }

  /** The pub/sub channel of the cache {@code name} under the default key prefix, as bytes. */
  static byte[] channel(String name) {
    return (RedisCourier.DEFAULT_PREFIX + name + ":events").getBytes(UTF_8);
  }

  /**
   * A channel message as the courier writes one, from a sender whose node id is 42: its kind, the
   * key, the lease token (none if negative) and the record.
   */
  static byte[] message(char kind, String key, long token, String record) {
    byte[] k = key.getBytes(UTF_8);
    byte[] r = record.getBytes(UTF_8);
    ByteBuffer out = ByteBuffer.allocate(1 + 8 + 4 + k.length + (token < 0 ? 0 : 8) + r.length);
    out.put((byte) kind).putLong(42L).putInt(k.length).put(k);
    if (token >= 0) {
      out.putLong(token);
    }
    return out.put(r).array();
  }
}
