package dev.shepherd.watch;

import static dev.shepherd.watch.TestAwait.await;
import static org.assertj.core.api.Assertions.assertThat;

import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A servlet-API filter registered without async support in front of the servlet makes
 * {@code startAsync} throw: the query that would have been held fails (the container's error
 * answer), and its held-query slot and store waiter are freed, so the key keeps serving (regression:
 * each such query kept its slot, and retries filled the per-key cap for good).
 */
class NonAsyncFilterTest {

  /** Passes every request on; registered without async support, as a legacy filter would be. */
  private static final class PassThrough implements Filter {
    @Override
    public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain)
        throws IOException, ServletException {
      chain.doFilter(request, response);
    }
  }

  private final InMemoryVersionedStore<String> store = InMemoryVersionedStore.create();
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  private TestJetty server;
  private URI uri;

  /** Serves the servlet at /v1/kv/* directly and at /filtered/v1/kv/* behind the filter. */
  private void start(BlockingQueryServlet<String> servlet) throws Exception {
    server = TestJetty.builder().threads("jetty-non-async-filter", 16, 2)
        .servlet(servlet, "/v1/kv/*", "/filtered/v1/kv/*")
        .filter(new PassThrough(), false, "/filtered/*")
        .start();
    uri = server.uri();
  }

  @AfterEach
  void stop() throws Exception {
    http.shutdownNow();
    if (server != null) {
      server.close();
    }
  }

  private HttpResponse<String> get(String pathAndQuery) throws Exception {
    return http.send(HttpRequest.newBuilder(uri.resolve(pathAndQuery)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /**
   * Three held queries through the filter fail; then a held query on the same key is served. Over
   * the store the waiter is freed before the answer; over a plain source it is the source's fetch,
   * freed by that fetch's thread once it sees its interrupt, so the test awaits it.
   */
  private void failThroughTheFilterThenHoldDirectly(BlockingQueryServlet<String> servlet,
      boolean waiterIsAFetch) throws Exception {
    long index = store.put("k", "v1");
    for (int attempt = 0; attempt < 3; attempt++) { // a client retrying
      HttpResponse<String> failed = get("/filtered/v1/kv/k?index=" + index + "&wait=1m");
      assertThat(failed.statusCode()).as("attempt %d: %s", attempt, failed.body())
          .isEqualTo(500);
      assertThat(servlet.heldQueries()).isZero();
      if (waiterIsAFetch) {
        await().until(() -> store.waitingQueries() == 0);
      } else {
        assertThat(store.waitingQueries()).isZero();
      }
      assertThat(servlet.pendingTimers()).isZero();
    }
    CompletableFuture<HttpResponse<String>> held = http.sendAsync(
        HttpRequest.newBuilder(uri.resolve("/v1/kv/k?index=" + index + "&wait=1m&raw")).build(),
        HttpResponse.BodyHandlers.ofString());
    await().until(() -> store.waitingQueries() == 1 || held.isDone());
    assertThat(held).isNotDone();
    assertThat(servlet.heldQueries()).isEqualTo(1);
    store.put("k", "v2");
    HttpResponse<String> answer = held.join();
    assertThat(answer.statusCode()).isEqualTo(200);
    assertThat(answer.body()).isEqualTo("v2");
    await().until(() -> servlet.heldQueries() == 0);
  }

  @Test
  void aFilterWithoutAsyncSupportFreesTheSlotAndTheWaiterOfAQueryOverTheStore()
      throws Exception {
    BlockingQueryServlet<String> servlet = BlockingQueryServlet.builder(store,
        s -> s.getBytes(StandardCharsets.UTF_8), b -> new String(b, StandardCharsets.UTF_8))
        .maxHeldQueriesPerKey(1).build();
    start(servlet);
    failThroughTheFilterThenHoldDirectly(servlet, false);
  }

  @Test
  void aFilterWithoutAsyncSupportFreesTheSlotOfAQueryOverAPlainSource() throws Exception {
    WatchSource<Optional<String>> source = store;
    BlockingQueryServlet<String> servlet = BlockingQueryServlet.builder(source,
        (String s) -> s.getBytes(StandardCharsets.UTF_8)).maxHeldQueriesPerKey(1).build();
    start(servlet);
    failThroughTheFilterThenHoldDirectly(servlet, true);
  }
}
