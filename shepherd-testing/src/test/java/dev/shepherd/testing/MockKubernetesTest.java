package dev.shepherd.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class MockKubernetesTest {

  @RegisterExtension final MockKubernetes api = new MockKubernetes("apps");

  /**
   * fabric8's mock server sends each watch event from a thread of its own and waits there for the
   * server's event loop to write it, while its handler of a closed watch waits on that event loop
   * for those sends to finish: a watch closed with events still to send stalled every request for
   * up to 30 s (the client gives up after 10 s). The fixture runs that handler off the event loop.
   * Fixed counts: 20 rounds of 50 events each, every watch closed at once, a list right after.
   */
  @Test
  void aWatchClosedWithEventsStillToSendDoesNotStallTheServer() throws Exception {
    for (int round = 0; round < 20; round++) {
      String label = "round-" + round;
      CountDownLatch first = new CountDownLatch(1);
      Watch watch = api.client().configMaps().withLabel("round", label).watch(new Watcher<>() {
        @Override
        public void eventReceived(Action action, ConfigMap resource) {
          first.countDown();
        }

        @Override
        public void onClose(WatcherException cause) {}
      });
      for (int i = 0; i < 50; i++) {
        api.client().configMaps().resource(new ConfigMapBuilder()
            .withNewMetadata().withName(label + "-" + i).addToLabels("round", label).endMetadata()
            .addToData("i", Integer.toString(i)).build()).create();
      }
      assertThat(first.await(10, TimeUnit.SECONDS)).as("the watch saw an event").isTrue();
      api.client().configMaps().withLabel("round", label).delete();
      watch.close();
      // Served by the same event loop as the closed watch: fails with the client's request
      // timeout if that loop is blocked.
      assertThat(api.client().configMaps().withLabel("round", label).list().getItems()).isEmpty();
    }
  }

  @Test
  void requestsAreRecordedWithTheClientsUserAgent() {
    api.client("tester").configMaps().withName("absent").get();
    api.client().configMaps().list();

    assertThat(api.requests())
        .anySatisfy(r -> {
          assertThat(r.method()).isEqualTo("GET");
          assertThat(r.pathWithoutQuery()).isEqualTo("/api/v1/namespaces/apps/configmaps/absent");
          assertThat(r.userAgent()).isEqualTo("tester");
        })
        .anySatisfy(r -> assertThat(r.userAgent()).isNotEqualTo("tester"));
  }

  @Test
  void aHeldCreateStoresNothingUntilReleased() throws Exception {
    MockKubernetes.HeldCreate hold = api.holdNextCreate("configmaps");
    Thread creator = Thread.ofVirtual().start(() -> {
      try {
        api.client().configMaps().resource(new ConfigMapBuilder()
            .withNewMetadata().withName("held").endMetadata().build()).create();
      } catch (RuntimeException e) {
        // interrupted below: the client gives up, the server still holds the create
      }
    });
    assertThat(hold.awaitHeld(java.time.Duration.ofSeconds(30))).isTrue();
    assertThat(api.client().configMaps().withName("held").get()).isNull();
    creator.interrupt();
    creator.join();

    hold.release();

    assertThat(api.client().configMaps().withName("held").get()).isNotNull();
  }

  @Test
  void refusedRequestsGetTheStatusCode() {
    api.refuse(403, "GET", "secrets");

    assertThatThrownBy(() -> api.client().secrets().list())
        .isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getCode()).isEqualTo(403));
    assertThat(api.client().configMaps().list().getItems()).isEmpty();
  }
}
