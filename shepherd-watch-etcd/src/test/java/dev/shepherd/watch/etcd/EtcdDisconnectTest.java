package dev.shepherd.watch.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
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
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Network failures between the source and a running etcd: the test cuts a TCP proxy, writes and
 * compacts through a direct client meanwhile, and restores the proxy.
 */
class EtcdDisconnectTest {

  @RegisterExtension static final EtcdServer etcd = EtcdServer.create();

  static Client direct;

  @BeforeAll
  static void connect() {
    direct = Client.builder().endpoints(etcd.endpoint()).build();
  }

  @AfterAll
  static void disconnect() {
    direct.close();
  }

  static ByteSequence bytes(String s) {
    return ByteSequence.from(s, StandardCharsets.UTF_8);
  }

  static long put(String key, String value) throws Exception {
    return direct.getKVClient().put(bytes(key), bytes(value)).get(10, TimeUnit.SECONDS).getHeader().getRevision();
  }

  static EtcdWatchSource<String> source(Client client, CountingWatch counting) {
    return EtcdWatchSource.builder(client).watchClient(counting)
        .reconnectBackoff(Backoff.fixed(Duration.ofMillis(100))).build();
  }

  /** Fetches until the answer's index differs from {@code index}, riding out failures. */
  static Versioned<Optional<String>> nextAfter(EtcdWatchSource<String> source, String key, long index) {
    AtomicReference<Versioned<Optional<String>>> answer = new AtomicReference<>();
    await().atMost(Duration.ofSeconds(60)).ignoreException(EtcdUnavailableException.class).until(() -> {
      answer.set(source.fetch(key, index, Duration.ofMillis(200)));
      return answer.get().index() != index;
    });
    return answer.get();
  }

  @Test
  void afterADisconnectTheWatchResumesFromTheRevisionAfterTheLastEvent() throws Exception {
    try (FaultProxy proxy = FaultProxy.to(etcd.port());
        Client client = Client.builder().endpoints("http://" + proxy.host() + ":" + proxy.port()).build()) {
      CountingWatch counting = new CountingWatch(client.getWatchClient());
      try (EtcdWatchSource<String> source = source(client, counting)) {
        put("resume", "v1");
        long first = source.fetch("resume", 0, Duration.ofMinutes(1)).index();
        await().until(() -> source.keyWatch("resume").state() == EtcdKeyWatch.State.LIVE);
        long seen = put("resume", "v2");
        assertThat(nextAfter(source, "resume", first).index()).isEqualTo(seen);

        proxy.refuseConnections();

        proxy.cutConnections();
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
            assertThatThrownBy(() -> source.fetch("resume", seen, Duration.ofMillis(100)))
                .isInstanceOf(EtcdUnavailableException.class)
                .hasMessageContaining("'resume'"));
        long third = put("resume", "v3");
        long fourth = put("resume", "v4");
        proxy.restore();

        Versioned<Optional<String>> answer = nextAfter(source, "resume", seen);
        if (answer.index() == third) { // the two events may arrive in separate responses
          answer = nextAfter(source, "resume", third);
        }
        assertThat(answer).isEqualTo(Versioned.of(Optional.of("v4"), fourth));
        assertThat(counting.startRevisions).last().isEqualTo(seen + 1);
        assertThat(source.keyWatch("resume").reads()).as("no re-read: the watch resumed").isEqualTo(1);
      }
    }
  }

  @Test
  void whenTheResumeRevisionWasCompactedTheKeyIsReadAgainAndTheWatchGoesOn() throws Exception {
    try (FaultProxy proxy = FaultProxy.to(etcd.port());
        Client client = Client.builder().endpoints("http://" + proxy.host() + ":" + proxy.port()).build()) {
      CountingWatch counting = new CountingWatch(client.getWatchClient());
      try (EtcdWatchSource<String> source = source(client, counting)) {
        put("compact", "v1");
        long first = source.fetch("compact", 0, Duration.ofMinutes(1)).index();
        await().until(() -> source.keyWatch("compact").state() == EtcdKeyWatch.State.LIVE);

        proxy.refuseConnections();

        proxy.cutConnections();
        await().atMost(Duration.ofSeconds(30)).until(() -> source.keyWatch("compact").state() != EtcdKeyWatch.State.LIVE);
        put("compact", "v2");
        long third = put("compact", "v3");
        long now = put("compact-neighbour", "x");
        direct.getKVClient().compact(now).get(10, TimeUnit.SECONDS);
        proxy.restore();

        assertThat(nextAfter(source, "compact", first)).isEqualTo(Versioned.of(Optional.of("v3"), third));
        EtcdKeyWatch watch = source.keyWatch("compact");
        assertThat(watch.compactions()).isEqualTo(1);
        assertThat(watch.reads()).isEqualTo(2);

        long fourth = put("compact", "v4");
        assertThat(nextAfter(source, "compact", third)).isEqualTo(Versioned.of(Optional.of("v4"), fourth));
        assertThat(counting.startRevisions).last().isEqualTo(now + 1);
      }
    }
  }

  @Test
  void aBacklogLargerThanTheClientTakesInOneMessageIsSkippedToTheLatestValue() throws Exception {
    try (FaultProxy proxy = FaultProxy.to(etcd.port());
        Client client = Client.builder().endpoints("http://" + proxy.host() + ":" + proxy.port()).build()) {
      CountingWatch counting = new CountingWatch(client.getWatchClient());
      try (EtcdWatchSource<String> source = source(client, counting)) {
        put("large", "v0");
        long first = source.fetch("large", 0, Duration.ofMinutes(1)).index();
        await().until(() -> source.keyWatch("large").state() == EtcdKeyWatch.State.LIVE);
        proxy.refuseConnections();
        proxy.cutConnections();
        await().atMost(Duration.ofSeconds(30)).until(() -> source.keyWatch("large").state() != EtcdKeyWatch.State.LIVE);
        // 50 values of 100 KiB: the resumed watch's first answer would be 5 MB, above the 4 MiB
        // a gRPC client takes in one message by default
        String big = "x".repeat(100 * 1024);
        long last = 0;
        for (int i = 1; i <= 50; i++) {
          last = put("large", i + big);
        }
        proxy.restore();

        Versioned<Optional<String>> answer = nextAfter(source, "large", first);
        assertThat(answer.index()).isEqualTo(last);
        assertThat(answer.value()).contains(50 + big);
        assertThat(source.keyWatch("large").oversized()).as("the backlog was skipped by a re-read").isPositive();
        long after = put("large", "small");
        assertThat(nextAfter(source, "large", last)).isEqualTo(Versioned.of(Optional.of("small"), after));
      }
    }
  }

  @Test
  void aWatchWhoseCreationEtcdNeverConfirmsFailsAfterTheRequestTimeout() throws Exception {
    // reads go straight to etcd, the watch through a proxy; gRPC's keepalive (which would find a
    // stalled connection after its own timeout) is set far out, so only the source's deadline acts
    try (FaultProxy proxy = FaultProxy.to(etcd.port());
        Client watching = Client.builder().endpoints("http://" + proxy.host() + ":" + proxy.port())
            .keepaliveTime(Duration.ofMinutes(10)).build();
        EtcdWatchSource<String> source = EtcdWatchSource.builder(direct).watchClient(watching.getWatchClient())
            .requestTimeout(Duration.ofSeconds(1)).reconnectBackoff(Backoff.fixed(Duration.ofMillis(100))).build()) {
      put("stall-other", "x");
      source.fetch("stall-other", 0, Duration.ofMinutes(1));
      await().atMost(Duration.ofSeconds(30)).until(() -> source.keyWatch("stall-other").state() == EtcdKeyWatch.State.LIVE);
      proxy.stopForwarding(); // the connection stays open; nothing passes either way

      long first = put("stall", "v1");
      assertThat(source.fetch("stall", 0, Duration.ofMinutes(1)).index()).isEqualTo(first);
      await().atMost(Duration.ofSeconds(60)).untilAsserted(() ->
          assertThatThrownBy(() -> source.fetch("stall", first, Duration.ofMillis(200)))
              .isInstanceOf(EtcdUnavailableException.class)
              .hasMessageContaining("did not confirm the watch of key 'stall'"));

      proxy.restore();
      long second = put("stall", "v2");
      assertThat(nextAfter(source, "stall", first)).isEqualTo(Versioned.of(Optional.of("v2"), second));
    }
  }

  @Test
  void aReadEtcdDoesNotAnswerFailsTheFirstFetchInsteadOfHanging() throws Exception {
    try (FaultProxy proxy = FaultProxy.to(etcd.port());
        Client client = Client.builder().endpoints("http://" + proxy.host() + ":" + proxy.port())
            .keepaliveTime(Duration.ofMinutes(10)).build();
        EtcdWatchSource<String> source = EtcdWatchSource.builder(client)
            .requestTimeout(Duration.ofMillis(500)).reconnectBackoff(Backoff.fixed(Duration.ofMillis(100))).build()) {
      put("unanswered-warm", "x");
      source.fetch("unanswered-warm", 0, Duration.ofMinutes(1)); // the connection is up
      proxy.stopForwarding();
      long first = put("unanswered", "v1");
      // maxWait is 10 minutes, but a first fetch waits only for the read, which times out
      assertThatThrownBy(() -> source.fetch("unanswered", 0, Duration.ofMinutes(10)))
          .isInstanceOf(EtcdUnavailableException.class)
          .hasMessageContaining("'unanswered'")
          .hasRootCauseInstanceOf(java.util.concurrent.TimeoutException.class);
      proxy.restore();
      assertThat(nextAfter(source, "unanswered", 0)).isEqualTo(Versioned.of(Optional.of("v1"), first));
    }
  }

  @Test
  void theRecoveryReportRemembersAtMost1024ThreadsPerKey() throws Exception {
    try (FaultProxy proxy = FaultProxy.to(etcd.port());
        Client client = Client.builder().endpoints("http://" + proxy.host() + ":" + proxy.port()).build();
        EtcdWatchSource<String> source = source(client, new CountingWatch(client.getWatchClient()));
        ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      long first = put("many-threads", "v1");
      source.fetch("many-threads", 0, Duration.ofMinutes(1));
      await().until(() -> source.keyWatch("many-threads").state() == EtcdKeyWatch.State.LIVE);
      proxy.refuseConnections();
      proxy.cutConnections();
      // a failure is recorded once the watch left LIVE; the proxy refuses, so it cannot come back
      await().atMost(Duration.ofSeconds(30)).until(() -> source.keyWatch("many-threads").state() != EtcdKeyWatch.State.LIVE);
      java.util.concurrent.CountDownLatch told = new java.util.concurrent.CountDownLatch(1_100);
      java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
      try {
        for (int i = 0; i < 1_100; i++) { // 1,100 live threads, each told "failing" once
          var unusedThread = threads.submit(() -> {
            try {
              source.fetch("many-threads", first, Duration.ZERO);
            } catch (EtcdUnavailableException expected) {
              told.countDown();
            }
            release.await();
            return null;
          });
        }
        assertThat(told.await(60, TimeUnit.SECONDS)).isTrue();
        assertThat(source.keyWatch("many-threads").rememberedThreads()).isEqualTo(EtcdKeyWatch.MAX_REMEMBERED);
      } finally {
        release.countDown();
        proxy.restore();
      }
    }
  }

  @Test
  void aKeyDeletedAndCompactedAwayWhileDisconnectedIsDeliveredAsAbsent() throws Exception {
    try (FaultProxy proxy = FaultProxy.to(etcd.port());
        Client client = Client.builder().endpoints("http://" + proxy.host() + ":" + proxy.port()).build()) {
      try (EtcdWatchSource<String> source = source(client, new CountingWatch(client.getWatchClient()))) {
        put("gone", "v1");
        long first = source.fetch("gone", 0, Duration.ofMinutes(1)).index();
        await().until(() -> source.keyWatch("gone").state() == EtcdKeyWatch.State.LIVE);
        proxy.refuseConnections();
        proxy.cutConnections();
        await().atMost(Duration.ofSeconds(30)).until(() -> source.keyWatch("gone").state() != EtcdKeyWatch.State.LIVE);
        direct.getKVClient().delete(bytes("gone")).get(10, TimeUnit.SECONDS);
        long now = put("gone-neighbour", "x");
        direct.getKVClient().compact(now).get(10, TimeUnit.SECONDS);
        proxy.restore();

        Versioned<Optional<String>> answer = nextAfter(source, "gone", first);
        assertThat(answer.value()).isEmpty();
        assertThat(answer.index()).isEqualTo(now);
        // a re-read of a key that stays absent keeps its index: nothing new to deliver
        assertThat(source.fetch("gone", now, Duration.ofMillis(100)).index()).isEqualTo(now);
      }
    }
  }

  @Test
  void aLoopToldFailingIsAnsweredAtOnceWhenTheWatchRecoversEvenWithoutAChange() throws Exception {
    try (FaultProxy proxy = FaultProxy.to(etcd.port());
        Client client = Client.builder().endpoints("http://" + proxy.host() + ":" + proxy.port()).build();
        ExecutorService loop = Executors.newSingleThreadExecutor()) { // a watch loop: one thread
      try (EtcdWatchSource<String> source = source(client, new CountingWatch(client.getWatchClient()))) {
        put("recovered", "v1");
        long first = source.fetch("recovered", 0, Duration.ofMinutes(1)).index();
        await().until(() -> source.keyWatch("recovered").state() == EtcdKeyWatch.State.LIVE);
        proxy.refuseConnections();
        proxy.cutConnections();
        await().atMost(Duration.ofSeconds(30)).until(() -> {
          try {
            loop.submit(() -> source.fetch("recovered", first, Duration.ofMillis(100))).get();
            return false;
          } catch (ExecutionException e) {
            return e.getCause() instanceof EtcdUnavailableException;
          }
        });
        proxy.restore();
        // nothing changed: without the recovery report this fetch would block for 10 minutes
        await().atMost(Duration.ofSeconds(60)).until(() -> {
          try {
            return loop.submit(() -> source.fetch("recovered", first, Duration.ofMinutes(10))).get().index() == first;
          } catch (ExecutionException e) {
            return false; // still failing
          }
        });
        // the report is given once: the next fetch blocks again until a change
        Future<Versioned<Optional<String>>> next = loop.submit(() -> source.fetch("recovered", first, Duration.ofMinutes(10)));
        long second = put("recovered", "v2");
        assertThat(next.get(30, TimeUnit.SECONDS)).isEqualTo(Versioned.of(Optional.of("v2"), second));
      }
    }
  }
}
