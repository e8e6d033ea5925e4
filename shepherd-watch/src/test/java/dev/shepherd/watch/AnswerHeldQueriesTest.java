package dev.shepherd.watch;

import static dev.shepherd.watch.TestAwait.await;
import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.testing.ServletServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link BlockingQueryServlet#answerHeldQueries()}: a server that starts stopping answers the
 * queries it holds at once instead of keeping a graceful stop waiting for waits of minutes.
 */
class AnswerHeldQueriesTest {

  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  private ServletServer server;
  private URI uri;

  private void start(BlockingQueryServlet<String> servlet) {
    server = KvServers.start(servlet, "/v1/kv/*");
    uri = server.uri();
  }

  @AfterEach
  void stop() {
    if (server != null) {
      server.close();
    }
    http.shutdownNow();
  }

  private List<CompletableFuture<HttpResponse<String>>> hold(String query, int count) {
    List<CompletableFuture<HttpResponse<String>>> answers = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      answers.add(http.sendAsync(HttpRequest.newBuilder(uri.resolve(query)).build(),
          HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8)));
    }
    return answers;
  }

  @Test
  void queriesHeldOnAStoreAreAnsweredAtOnceWithTheCurrentValue() throws Exception {
    InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
    long index = store.put("flag", "on");
    BlockingQueryServlet<String> servlet = BlockingQueryServlet.ofStrings(store);
    start(servlet);
    List<CompletableFuture<HttpResponse<String>>> held =
        hold("/v1/kv/flag?raw&index=" + index + "&wait=10m", 3);
    await().until(() -> servlet.heldQueries() == 3);

    servlet.answerHeldQueries();

    for (CompletableFuture<HttpResponse<String>> answer : held) {
      HttpResponse<String> response = answer.get(30, TimeUnit.SECONDS);
      assertThat(response.statusCode()).isEqualTo(200);
      assertThat(response.body()).isEqualTo("on");
      assertThat(response.headers().firstValue("X-Consul-Index")).hasValue(Long.toString(index));
    }
    assertThat(servlet.heldQueries()).isZero();
  }

  @Test
  void queriesHeldOnAPlainSourceAreAnswered503AndTheirFetchIsCancelled() throws Exception {
    CountDownLatch fetchInterrupted = new CountDownLatch(1);
    WatchSource<Optional<String>> neverChanges = (key, minIndex, maxWait) -> {
      if (minIndex == 0L) {
        return new Versioned<>(Optional.of("on"), 7L);
      }
      try {
        Thread.sleep(maxWait.toMillis());
      } catch (InterruptedException e) {
        fetchInterrupted.countDown();
        throw e;
      }
      return new Versioned<>(Optional.of("on"), 7L);
    };
    BlockingQueryServlet<String> servlet =
        BlockingQueryServlet.builder(neverChanges, (String s) -> s.getBytes(StandardCharsets.UTF_8))
            .build();
    start(servlet);
    List<CompletableFuture<HttpResponse<String>>> held = hold("/v1/kv/flag?index=7&wait=10m", 2);
    await().until(() -> servlet.heldQueries() == 2);

    servlet.answerHeldQueries();

    for (CompletableFuture<HttpResponse<String>> answer : held) {
      HttpResponse<String> response = answer.get(30, TimeUnit.SECONDS);
      assertThat(response.statusCode()).isEqualTo(503);
      assertThat(response.headers().firstValue("Retry-After")).hasValue("1");
      assertThat(response.body()).contains("the server is stopping");
    }
    assertThat(servlet.heldQueries()).isZero();
    assertThat(fetchInterrupted.await(30, TimeUnit.SECONDS)).isTrue();
  }
}
