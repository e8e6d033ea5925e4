package dev.shepherd.idempotency.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.InMemoryIdempotencyStore;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.FilterRegistration;
import jakarta.servlet.ServletContainerInitializer;
import jakarta.servlet.ServletContext;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Set;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.junit.jupiter.api.Test;

/** Runs the usage sample of the README and of IdempotencyFilter's javadoc, verbatim. */
class UsageSampleTest {

  private IdempotencyTracker tracker;

  /** The sample, registering the filter as a servlet container initializer would. */
  private void register(ServletContext servletContext) {
    // --- sample start (README.md and IdempotencyFilter javadoc) ---
    IdempotencyTracker tracker = IdempotencyTracker.builder()
        .store(InMemoryIdempotencyStore.create()) // one JVM; JdbcIdempotencyStore across JVMs
        .build();
    IdempotencyFilter filter = IdempotencyFilter.builder(tracker)
        .principalResolver(PrincipalResolver.header("X-Api-Key")) // scope keys per client
        .path("/webhooks", KeyPolicy.OPTIONAL)                     // key optional there
        .waitForInFlight(Duration.ofSeconds(5))                    // wait, then replay, not 409
        .build();
    FilterRegistration.Dynamic registration = servletContext.addFilter("idempotency", filter);
    registration.setAsyncSupported(true); // async endpoints behind it keep working (not captured)
    registration.addMappingForUrlPatterns(EnumSet.of(DispatcherType.REQUEST), false, "/*");
    // --- sample end ---
    this.tracker = tracker;
  }

  @Test
  void sampleRegistersAWorkingFilter() throws Exception {
    Server server = new Server();
    ServerConnector connector = new ServerConnector(server);
    connector.setHost("127.0.0.1");
    connector.setPort(0);
    server.addConnector(connector);
    ServletContextHandler context = new ServletContextHandler();
    context.setContextPath("/");
    ServletContainerInitializer initializer = (Set<Class<?>> classes, ServletContext ctx) ->
        register(ctx);
    context.addServletContainerInitializer(initializer);
    context.addServlet(new ServletHolder(new TestServlet()), "/*");
    // An async endpoint behind the filter, as a service's long-poll or SSE endpoints are.
    ServletHolder events =
        new ServletHolder(
            new HttpServlet() {
              @Override
              protected void doGet(HttpServletRequest req, HttpServletResponse resp) {
                var async = req.startAsync();
                async.start(
                    () -> {
                      try {
                        resp.setContentType("text/plain");
                        resp.getWriter().print("event");
                      } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                      } finally {
                        async.complete();
                      }
                    });
              }
            });
    events.setAsyncSupported(true);
    context.addServlet(events, "/events");
    server.setHandler(context);
    server.start();
    try (HttpClient client = HttpClient.newHttpClient()) {
      URI orders = URI.create("http://127.0.0.1:" + connector.getLocalPort() + "/orders");
      HttpRequest post = HttpRequest.newBuilder(orders)
          .header("Idempotency-Key", "\"order-42\"")
          .header("X-Api-Key", "client-1")
          .POST(HttpRequest.BodyPublishers.ofString("{}"))
          .build();
      HttpResponse<String> first = client.send(post, HttpResponse.BodyHandlers.ofString());
      HttpResponse<String> retry = client.send(post, HttpResponse.BodyHandlers.ofString());
      HttpResponse<String> webhook = client.send(HttpRequest.newBuilder(
              URI.create("http://127.0.0.1:" + connector.getLocalPort() + "/webhooks/x"))
          .POST(HttpRequest.BodyPublishers.ofString("{}")).build(),
          HttpResponse.BodyHandlers.ofString());

      HttpResponse<String> event = client.send(HttpRequest.newBuilder(
              URI.create("http://127.0.0.1:" + connector.getLocalPort() + "/events")).build(),
          HttpResponse.BodyHandlers.ofString());

      assertThat(event.statusCode()).isEqualTo(200);
      assertThat(event.body()).isEqualTo("event");
      assertThat(first.statusCode()).isEqualTo(201);
      assertThat(retry.body()).isEqualTo(first.body());
      assertThat(retry.headers().firstValue("Idempotent-Replayed")).hasValue("true");
      assertThat(webhook.statusCode()).isEqualTo(200);
    } finally {
      server.stop();
      tracker.close();
    }
  }
}
