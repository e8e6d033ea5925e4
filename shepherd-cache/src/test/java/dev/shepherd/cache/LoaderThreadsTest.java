package dev.shepherd.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class LoaderThreadsTest {

  @Test
  void loadsRunOnPlatformThreadsUpToTheBoundThenOnVirtualThreadsWithoutWaiting() throws Exception {
    LoaderThreads threads = new LoaderThreads(2);
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch twoRunning = new CountDownLatch(2);
    CompletableFuture<Thread> first = new CompletableFuture<>();
    CompletableFuture<Thread> second = new CompletableFuture<>();
    for (CompletableFuture<Thread> f : java.util.List.of(first, second)) {
      threads.execute(() -> {
        f.complete(Thread.currentThread());
        twoRunning.countDown();
        awaitQuietly(release);
      });
    }
    assertThat(twoRunning.await(30, TimeUnit.SECONDS)).isTrue();
    assertThat(threads.busyPlatformThreads()).isEqualTo(2);

    // both platform threads are blocked: the third load starts anyway, on a virtual thread
    CompletableFuture<Thread> third = new CompletableFuture<>();
    threads.execute(() -> third.complete(Thread.currentThread()));
    Thread t3 = third.get(30, TimeUnit.SECONDS);
    assertThat(t3.isVirtual()).isTrue();
    assertThat(t3.getName()).isEqualTo("shepherd-cache-loader");
    release.countDown();

    for (Thread t : java.util.List.of(first.get(), second.get())) {
      assertThat(t.isVirtual()).isFalse();
      assertThat(t.isDaemon()).isTrue();
      assertThat(t.getName()).startsWith("shepherd-cache-loader-");
    }
  }

  @Test
  void aLoaderInterruptedByItsLoadTimeoutLeavesNoInterruptToTheNextLoadOnItsThread() throws Exception {
    LoaderThreads one = new LoaderThreads(1);
    CoalescingCache<String, String> cache = CoalescingCache.<String, String>builder()
        .executor(one).loadTimeout(Duration.ofMillis(50)).build();
    CompletableFuture<Thread> stuck = new CompletableFuture<>();
    assertThatThrownBy(() -> cache.fetch("slow", k -> {
      stuck.complete(Thread.currentThread());
      Thread.sleep(Long.MAX_VALUE); // only the load timeout's interrupt ends this
      return Load.commit("never");
    })).isInstanceOf(LoadFailedException.class);

    // The caller is answered at the timeout; the loader's thread returns to the pool just after
    // (until it does, a load goes to a virtual thread). Load new keys until one runs on it.
    String stuckName = stuck.join().getName();
    java.util.List<String> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
    java.util.concurrent.atomic.AtomicInteger n = new java.util.concurrent.atomic.AtomicInteger();
    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> {
      String seenBy = cache.fetch("next-" + n.incrementAndGet(), k -> Load.commit(
          Thread.currentThread().getName() + " interrupted=" + Thread.currentThread().isInterrupted()))
          .value();
      seen.add(seenBy);
      return seenBy.startsWith(stuckName + " ");
    });
    assertThat(seen).allMatch(s -> s.endsWith(" interrupted=false"));
    assertThat(seen.get(seen.size() - 1)).isEqualTo(stuckName + " interrupted=false");
  }

  private static void awaitQuietly(CountDownLatch latch) {
    try {
      latch.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
