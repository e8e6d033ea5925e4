package dev.shepherd.watch;

import static dev.shepherd.watch.TestAwait.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.testing.ServletServer;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.client.BufferingResponseListener;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.http2.client.transport.HttpClientTransportOverHTTP2;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A {@link BlockingQueryServlet} in front of Consul's API ({@link ConsulClient#kvSource()} against
 * an upstream {@code BlockingQueryServlet} on a real Jetty): the queries held on one key at one
 * index share one upstream fetch, so the front's clients cannot open one connection to Consul
 * each (Consul refuses a client past {@code http_max_conns_per_client}, 200 by default); the fetch
 * is cancelled only when the last query on it leaves.
 *
 * <p>The front speaks HTTP/2 (h2c), so 300 queries need one connection, and a client's abort is a
 * stream reset the server notices at once.
 */
class SharedUpstreamFetchTest {

  private final InMemoryVersionedStore<String> consulData = InMemoryVersionedStore.create();
  private ServletServer upstream;
  private ConsulClient consul;
  private BlockingQueryServlet<KvEntry> front;
  private TestJetty frontServer;
  private URI frontUri;
  private HttpClient client;

  @BeforeEach
  void start() throws Exception {
    upstream = KvServers.serving(consulData);
    consul = ConsulClient.builder().baseUri(upstream.uri()).build();
    front = BlockingQueryServlet.builder(consul.kvSource(),
        (KvEntry e) -> e.value() == null ? new byte[0] : e.value())
        .maxHeldQueriesPerClient(1_000).build(); // the 300 queries come from one client
    frontServer = TestJetty.builder().threads("jetty-front", 16, 2)
        .h2c(1_000) // Jetty's default, 128, would queue most of the 300
        .servlet(front, "/v1/kv/*").start();
    frontUri = frontServer.uri();
    client = new HttpClient(new HttpClientTransportOverHTTP2(new HTTP2Client()));
    client.setMaxConnectionsPerDestination(1);
    client.setMaxRequestsQueuedPerDestination(1_000);
    client.setIdleTimeout(0);
    client.start();
  }

  @AfterEach
  void stop() throws Exception {
    client.stop();
    frontServer.close();
    consul.close();
    upstream.close();
  }

  private record Answer(int status, String body) {}

  /** Sends a held query to the front; the future completes with its answer. */
  private CompletableFuture<Answer> hold(String key, long index, List<Request> requests) {
    CompletableFuture<Answer> answer = new CompletableFuture<>();
    Request request = client.newRequest(frontUri.resolve("/v1/kv/" + key + "?raw&index=" + index
        + "&wait=5m")).timeout(2, TimeUnit.MINUTES);
    requests.add(request);
    request.send(new BufferingResponseListener() {
      @Override
      public void onComplete(org.eclipse.jetty.client.Result result) {
        if (result.isFailed()) {
          answer.completeExceptionally(result.getFailure());
        } else {
          answer.complete(new Answer(result.getResponse().getStatus(),
              getContentAsString(StandardCharsets.UTF_8)));
        }
      }
    });
    return answer;
  }

  @Test
  void threeHundredHeldQueriesOnOneKeyShareOneUpstreamFetch() throws Exception {
    long index = consulData.put("cfg/db", "v1");
    int queries = 300;
    List<Request> requests = new ArrayList<>();
    List<CompletableFuture<Answer>> answers = new ArrayList<>();
    for (int i = 0; i < queries; i++) {
      answers.add(hold("cfg/db", index, requests));
    }
    await().until(() -> front.heldQueries() == queries && consulData.waitingQueries() >= 1);
    assertThat(consul.inFlight()).as("requests to Consul in flight").isEqualTo(1);
    assertThat(consulData.waitingQueries()).as("queries Consul holds").isEqualTo(1);
    assertThat(front.upstreamFetches()).isEqualTo(1);

    consulData.put("cfg/db", "v2");
    for (CompletableFuture<Answer> answer : answers) {
      assertThat(answer.get(1, TimeUnit.MINUTES)).isEqualTo(new Answer(200, "v2"));
    }
    await().until(() -> consul.inFlight() == 0 && front.heldQueries() == 0);
    assertThat(front.upstreamFetches()).isZero();
  }

  @Test
  void theSharedFetchIsCancelledOnlyWhenTheLastQueryOnItLeaves() throws Exception {
    long index = consulData.put("cfg/db", "v1");
    List<Request> requests = new ArrayList<>();
    CompletableFuture<Answer> first = hold("cfg/db", index, requests);
    CompletableFuture<Answer> second = hold("cfg/db", index, requests);
    await().until(() -> front.heldQueries() == 2 && consulData.waitingQueries() >= 1);
    assertThat(consul.inFlight()).isEqualTo(1);

    requests.get(0).abort(new Exception("the first client goes away"));
    await().until(() -> front.heldQueries() == 1);
    assertThat(first).isCompletedExceptionally();
    long changed = consulData.put("cfg/db", "v2"); // the fetch the second still holds answers it
    assertThat(second.get(1, TimeUnit.MINUTES)).isEqualTo(new Answer(200, "v2"));

    CompletableFuture<Answer> last = hold("cfg/db", changed, requests);
    await().until(() -> front.heldQueries() == 1 && consul.inFlight() == 1);
    requests.get(2).abort(new Exception("the last client goes away"));
    await().until(() -> front.heldQueries() == 0 && consul.inFlight() == 0);
    assertThat(front.upstreamFetches()).isZero();
    assertThat(last).isCompletedExceptionally();
  }

  @Test
  void aQueryWithAShorterWaitDoesNotJoinALongerFetch() throws Exception {
    long index = consulData.put("cfg/db", "v1");
    List<Request> requests = new ArrayList<>();
    CompletableFuture<Answer> longWait = hold("cfg/db", index, requests);
    await().until(() -> consul.inFlight() == 1);
    ContentResponse shortWait = client.newRequest(frontUri.resolve("/v1/kv/cfg/db?raw&index=" + index
        + "&wait=50ms")).timeout(1, TimeUnit.MINUTES).send();
    assertThat(new Answer(shortWait.getStatus(), shortWait.getContentAsString()))
        .as("answered unchanged when its own wait passed, not held for the other's 5 minutes")
        .isEqualTo(new Answer(200, "v1"));
    assertThat(longWait).isNotDone();
    consulData.put("cfg/db", "v2");
    assertThat(longWait.get(1, TimeUnit.MINUTES)).isEqualTo(new Answer(200, "v2"));
  }
}
