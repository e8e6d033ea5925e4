package dev.shepherd.idempotency.servlet;

import static dev.shepherd.idempotency.servlet.Http.assertProblem;
import static dev.shepherd.idempotency.servlet.Http.text;
import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.InMemoryIdempotencyStore;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * 200 concurrent identical POSTs through a real Jetty: the handler runs exactly once, and every
 * answer is the original, a replay of it, or a 409.
 */
class IdempotencyFilterConcurrencyTest {

  private static final int CLIENTS = 200;
  private static final int ROUNDS = 5;

  private final TestServlet servlet = new TestServlet();
  private IdempotencyTracker tracker;
  private JettyApp app;

  @BeforeEach
  void start() throws Exception {
    tracker = IdempotencyTracker.builder().store(InMemoryIdempotencyStore.create()).build();
    app = new JettyApp(IdempotencyFilter.builder(tracker).allowAnonymous(true).build(), servlet);
  }

  @AfterEach
  void stop() {
    servlet.gate.countDown();
    app.close();
    tracker.close();
  }

  @Test
  void twoHundredConcurrentIdenticalPostsRunTheHandlerOnce() throws Exception {
    for (int round = 1; round <= ROUNDS; round++) {
      servlet.gate = new CountDownLatch(1);
      servlet.entered = new CountDownLatch(1);
      String key = "\"round-" + round + "\"";
      AtomicInteger answered = new AtomicInteger();
      List<CompletableFuture<HttpResponse<byte[]>>> responses = new ArrayList<>();
      for (int i = 0; i < CLIENTS; i++) {
        responses.add(app.client
            .sendAsync(app.post("/slow", key, "{\"same\":true}").build(),
                HttpResponse.BodyHandlers.ofByteArray())
            .whenComplete((r, e) -> {
              // Let the handler finish once half the duplicates were answered (409s), so the
              // other half race with its completion and get replays or 409s.
              if (answered.incrementAndGet() == CLIENTS / 2) {
                servlet.gate.countDown();
              }
            }));
      }
      assertThat(servlet.entered.await(60, TimeUnit.SECONDS)).isTrue();

      int originals = 0;
      int replays = 0;
      int conflicts = 0;
      for (CompletableFuture<HttpResponse<byte[]>> future : responses) {
        HttpResponse<byte[]> response = future.get(60, TimeUnit.SECONDS);
        if (response.statusCode() == 409) {
          assertProblem(response, 409, "in-progress");
          conflicts++;
        } else {
          assertThat(response.statusCode()).isEqualTo(201);
          assertThat(text(response)).isEqualTo("slow run " + round);
          if (response.headers().firstValue("Idempotent-Replayed").isPresent()) {
            replays++;
          } else {
            originals++;
          }
        }
      }
      assertThat(originals).as("round %d", round).isEqualTo(1);
      assertThat(replays + conflicts).isEqualTo(CLIENTS - 1);
      assertThat(conflicts).isGreaterThanOrEqualTo(CLIENTS / 2 - 1);
      assertThat(servlet.runs("/slow")).as("handler runs after round %d", round)
          .isEqualTo(round);
    }
  }
}
