package dev.shepherd.watch;

import dev.shepherd.testing.ServletServer;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.Filter;
import jakarta.servlet.http.HttpServlet;
import java.net.URI;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.ee10.servlet.ServletMapping;
import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.server.ConnectionFactory;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * A started Jetty on a free port of 127.0.0.1 for this module's tests that need more than
 * {@link ServletServer} (through {@link KvServers}) offers: HTTP/2 without TLS (h2c) with a stream
 * limit, filters, one servlet at several paths, a sized thread pool. Servlets are async-supported,
 * filters as asked; stopping does not wait for held requests ({@code stopTimeout} 0).
 *
 * <pre>{@code
 * try (TestJetty jetty = TestJetty.builder().h2c(1_000).servlet(servlet, "/v1/kv/*").start()) {
 *   URI uri = jetty.uri();
 * }
 * }</pre>
 */
final class TestJetty implements AutoCloseable {

  private final Server server;
  private final URI uri;

  private TestJetty(Server server, URI uri) {
    this.server = server;
    this.uri = uri;
  }

  static Builder builder() {
    return new Builder();
  }

  /** The base URI, such as {@code http://127.0.0.1:41234}. */
  URI uri() {
    return uri;
  }

  @Override
  public void close() {
    try {
      server.stop();
    } catch (Exception e) {
      throw new IllegalStateException("Jetty did not stop", e);
    }
  }

  /** Builder of a {@link TestJetty}: HTTP/1.1 only and Jetty's default thread pool unless set. */
  static final class Builder {
    private final HttpConfiguration http = new HttpConfiguration();
    private final List<ConnectionFactory> protocols = new ArrayList<>();
    private final ServletContextHandler context = new ServletContextHandler();
    private QueuedThreadPool threads = new QueuedThreadPool();
    private int servlets;

    private Builder() {}

    /** Speaks HTTP/1.1, in this order among the protocols. */
    Builder http11() {
      protocols.add(new HttpConnectionFactory(http));
      return this;
    }

    /** Speaks HTTP/2 without TLS, at most {@code maxConcurrentStreams} per connection. */
    Builder h2c(int maxConcurrentStreams) {
      HTTP2CServerConnectionFactory h2c = new HTTP2CServerConnectionFactory(http);
      h2c.setMaxConcurrentStreams(maxConcurrentStreams);
      protocols.add(h2c);
      return this;
    }

    /**
     * Applies Jetty's {@code ForwardedRequestCustomizer}: the remote address, host and scheme
     * come from the {@code Forwarded}/{@code X-Forwarded-*} headers, as behind a proxy.
     */
    Builder forwarded() {
      http.addCustomizer(new org.eclipse.jetty.server.ForwardedRequestCustomizer());
      return this;
    }

    /** A thread pool of its own, named for the test. */
    Builder threads(String name, int max, int min) {
      threads = new QueuedThreadPool(max, min);
      threads.setName(name);
      return this;
    }

    /** Serves {@code servlet}, async-supported, at each of {@code pathSpecs}. */
    Builder servlet(HttpServlet servlet, String... pathSpecs) {
      String name = "servlet-" + servlets++;
      ServletHolder holder = new ServletHolder(name, servlet);
      holder.setAsyncSupported(true);
      context.getServletHandler().addServlet(holder);
      ServletMapping mapping = new ServletMapping();
      mapping.setServletName(name);
      mapping.setPathSpecs(pathSpecs);
      context.getServletHandler().addServletMapping(mapping);
      return this;
    }

    /** Puts {@code filter} in front of the requests (not dispatches) at {@code pathSpec}. */
    Builder filter(Filter filter, boolean asyncSupported, String pathSpec) {
      FilterHolder holder = new FilterHolder(filter);
      holder.setAsyncSupported(asyncSupported);
      context.addFilter(holder, pathSpec, EnumSet.of(DispatcherType.REQUEST));
      return this;
    }

    /** Starts Jetty; the caller closes it. */
    TestJetty start() throws Exception {
      Server server = new Server(threads);
      server.setStopTimeout(0);
      ServerConnector connector = new ServerConnector(server, protocols.isEmpty()
          ? new ConnectionFactory[] {new HttpConnectionFactory(http)}
          : protocols.toArray(ConnectionFactory[]::new));
      connector.setHost("127.0.0.1");
      server.addConnector(connector);
      server.setHandler(context);
      try {
        server.start();
      } catch (Exception e) {
        server.stop();
        throw e;
      }
      return new TestJetty(server, URI.create("http://127.0.0.1:" + connector.getLocalPort()));
    }
  }
}
