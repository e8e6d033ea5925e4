package dev.shepherd.watch.etcd;

import static dev.shepherd.watch.etcd.EtcdDisconnectTest.nextAfter;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.core.Backoff;
import dev.shepherd.testing.EtcdServer;
import dev.shepherd.testing.FaultProxy;
import dev.shepherd.watch.Versioned;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Where the source's background work runs, and what it leaves running: retries never depend on
 * the common fork-join pool, and reads that outlive their timeout are not sent again and again.
 */
class EtcdBackgroundWorkTest {

  @RegisterExtension static final EtcdServer etcd = EtcdServer.create();

  static long put(Client client, String key, String value) throws Exception {
    return client.getKVClient().put(ByteSequence.from(key, StandardCharsets.UTF_8),
        ByteSequence.from(value, StandardCharsets.UTF_8)).get(10, TimeUnit.SECONDS).getHeader().getRevision();
  }

  @Test
  void aWatchRecoversFromACutWhileBlockingCodeHoldsEveryThreadOfTheCommonPool() throws Exception {
    try (FaultProxy proxy = FaultProxy.to(etcd.port());
        Client client = Client.builder().endpoints("http://" + proxy.host() + ":" + proxy.port()).build();
        Client direct = Client.builder().endpoints(etcd.endpoint()).build();
        EtcdWatchSource<String> source = EtcdWatchSource.builder(client)
            .reconnectBackoff(Backoff.fixed(Duration.ofMillis(100))).build()) {
      long first = put(direct, "starved", "v1");
      assertThat(source.fetch("starved", 0, Duration.ofMinutes(1)).index()).isEqualTo(first);
      await().atMost(Duration.ofSeconds(30)).until(() -> source.keyWatch("starved").state() == EtcdKeyWatch.State.LIVE);

      CountDownLatch release = new CountDownLatch(1);
      int parallelism = ForkJoinPool.getCommonPoolParallelism();
      CountDownLatch blocked = new CountDownLatch(parallelism);
      for (int i = 0; i < parallelism; i++) {
        ForkJoinPool.commonPool().execute(() -> {
          blocked.countDown();
          try {
            release.await();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        });
      }
      AtomicBoolean probeRan = new AtomicBoolean();
      try {
        assertThat(blocked.await(30, TimeUnit.SECONDS)).isTrue();
        ForkJoinPool.commonPool().execute(() -> probeRan.set(true));

        proxy.refuseConnections();
        proxy.cutConnections();
        await().atMost(Duration.ofSeconds(30)).until(() -> source.keyWatch("starved").state() != EtcdKeyWatch.State.LIVE);
        proxy.restore();
        long second = put(direct, "starved", "v2");
        assertThat(nextAfter(source, "starved", first)).isEqualTo(Versioned.of(Optional.of("v2"), second));
        assertThat(probeRan).as("the common pool was held the whole time").isFalse();
      } finally {
        release.countDown();
      }
    }
  }

  @Test
  void whileReadsHangEachRetryWaitsForTheReadAlreadySentInsteadOfSendingAnother() throws Exception {
    try (FaultProxy proxy = FaultProxy.to(etcd.port());
        Client client = Client.builder().endpoints("http://" + proxy.host() + ":" + proxy.port())
            .keepaliveTime(Duration.ofMinutes(10)).build();
        Client direct = Client.builder().endpoints(etcd.endpoint()).build();
        ExecutorService fetcher = Executors.newVirtualThreadPerTaskExecutor()) {
      CountingKv reads = new CountingKv(client.getKVClient());
      try (EtcdWatchSource<String> source = EtcdWatchSource.builder(client).kvClient(reads)
          .requestTimeout(Duration.ofMillis(200)).reconnectBackoff(Backoff.fixed(Duration.ofMillis(50))).build()) {
        put(direct, "warm", "x"); // the connection is up before it stalls
        source.fetch("warm", 0, Duration.ofMinutes(1));
        proxy.stopForwarding();
        long first = put(direct, "hanging", "v1");
        var unusedFetch = fetcher.submit(() -> source.fetch("hanging", 0, Duration.ofMinutes(1)));

        // ten read attempts, each timed out after 200 ms, then retried
        await().atMost(Duration.ofSeconds(60)).until(() -> source.keyWatch("hanging") != null
            && source.keyWatch("hanging").reads() >= 10);
        assertThat(reads.sent.get()).as("reads sent to etcd: warm, then one for 'hanging'").isEqualTo(2);
        assertThat(reads.inFlight.get()).isEqualTo(1);

        proxy.restore();
        assertThat(nextAfter(source, "hanging", 0)).isEqualTo(Versioned.of(Optional.of("v1"), first));
      }
    }
  }
}
