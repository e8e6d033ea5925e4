package dev.shepherd.watch.etcd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.shepherd.testing.EtcdServer;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.common.exception.CompactedException;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.watch.WatchResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What jetcd 0.8 itself does, which the source's design relies on (so an upgrade that changes it
 * fails here first): the creation notice carries the header revision, a watch from a compacted
 * revision ends with {@link CompactedException} then completion, and a closed watcher leaves
 * nothing on the server, whether it was closed before or after its creation notice. (jetcd 0.8.3
 * left a watcher closed before its notice on the server until the client closed, and kept the gRPC
 * stream of one closed after it; 0.8.7, on Vert.x 5, cancels both.)
 */
class JetcdBehaviourTest {

  @RegisterExtension static final EtcdServer etcd = EtcdServer.create();

  static ByteSequence bytes(String s) {
    return ByteSequence.from(s, StandardCharsets.UTF_8);
  }

  /** Records what a listener is told. */
  static final class Recorder implements Watch.Listener {
    final List<WatchResponse> responses = new CopyOnWriteArrayList<>();
    final List<Throwable> errors = new CopyOnWriteArrayList<>();
    volatile boolean completed;

    @Override
    public void onNext(WatchResponse response) {
      responses.add(response);
    }

    @Override
    public void onError(Throwable t) {
      errors.add(t);
    }

    @Override
    public void onCompleted() {
      completed = true;
    }
  }

  @Test
  void theCreationNoticeCarriesTheHeaderRevisionAndEventsTheirModRevision() throws Exception {
    try (Client client = Client.builder().endpoints(etcd.endpoint()).build()) {
      long revision = client.getKVClient().put(bytes("created"), bytes("v1")).get(10, TimeUnit.SECONDS)
          .getHeader().getRevision();
      Recorder recorder = new Recorder();
      try (Watch.Watcher watcher = client.getWatchClient().watch(bytes("created"),
          WatchOption.builder().withRevision(revision + 1).withCreateNotify(true).build(), recorder)) {
        await().until(() -> !recorder.responses.isEmpty());
        assertThat(recorder.responses.get(0).isCreatedNotify()).isTrue();
        assertThat(recorder.responses.get(0).getHeader().getRevision()).isEqualTo(revision);
        long next = client.getKVClient().put(bytes("created"), bytes("v2")).get(10, TimeUnit.SECONDS)
            .getHeader().getRevision();
        await().until(() -> recorder.responses.size() == 2);
        assertThat(recorder.responses.get(1).getEvents().get(0).getKeyValue().getModRevision()).isEqualTo(next);
        assertThat(watcher.isClosed()).isFalse();
      }
    }
  }

  @Test
  void aWatchFromACompactedRevisionEndsWithCompactedExceptionThenCompletes() throws Exception {
    try (Client client = Client.builder().endpoints(etcd.endpoint()).build()) {
      long old = client.getKVClient().put(bytes("compacted"), bytes("v1")).get(10, TimeUnit.SECONDS)
          .getHeader().getRevision();
      long now = client.getKVClient().put(bytes("compacted"), bytes("v2")).get(10, TimeUnit.SECONDS)
          .getHeader().getRevision();
      client.getKVClient().compact(now).get(10, TimeUnit.SECONDS);
      Recorder recorder = new Recorder();
      client.getWatchClient().watch(bytes("compacted"),
          WatchOption.builder().withRevision(old).withCreateNotify(true).build(), recorder);
      await().until(() -> recorder.completed);
      assertThat(recorder.errors).singleElement().isInstanceOfSatisfying(CompactedException.class,
          e -> assertThat(e.getCompactedRevision()).isEqualTo(now));
    }
  }

  @Test
  void aWatcherClosedBeforeItsCreationNoticeDoesNotStayOnTheServer() throws Exception {
    try (Client client = Client.builder().endpoints(etcd.endpoint()).build()) {
      long before = EtcdMetrics.watchers(etcd.endpoint());
      for (int i = 0; i < 10; i++) {
        client.getWatchClient().watch(bytes("closed-early"),
            WatchOption.builder().withCreateNotify(true).build(), response -> { }).close();
      }
      // One watcher kept open and acknowledged: the ten were sent before it.
      Recorder recorder = new Recorder();
      try (Watch.Watcher live = client.getWatchClient().watch(bytes("kept"),
          WatchOption.builder().withCreateNotify(true).build(), recorder)) {
        await().until(() -> !recorder.responses.isEmpty());
        await().until(() -> EtcdMetrics.watchers(etcd.endpoint()) == before + 1);
        assertThat(live.isClosed()).isFalse();
      }
    }
    await().until(() -> EtcdMetrics.watchers(etcd.endpoint()) == 0);
  }

  @Test
  void aWatcherClosedAfterItsCreationNoticeIsCancelledWithItsStream() throws Exception {
    try (Client client = Client.builder().endpoints(etcd.endpoint()).build()) {
      Recorder recorder = new Recorder();
      Watch.Watcher watcher = client.getWatchClient().watch(bytes("closed-late"),
          WatchOption.builder().withCreateNotify(true).build(), recorder);
      await().until(() -> !recorder.responses.isEmpty());
      long streams = EtcdMetrics.watchStreams(etcd.endpoint());
      assertThat(streams).isPositive();
      watcher.close();
      await().until(() -> EtcdMetrics.watchers(etcd.endpoint()) == 0);
      await().until(() -> EtcdMetrics.watchStreams(etcd.endpoint()) == streams - 1);
    }
  }
}
