package dev.shepherd.watch;

import jakarta.servlet.http.HttpServlet;
import java.net.URI;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * A real Jetty 12 server on a loopback port serving one servlet at {@code /v1/*}; it can be
 * stopped and started again on the same port (an upstream outage). Written for this module's
 * tests: shepherd-testing has no HTTP server fixture.
 */
final class JettyKvServer implements AutoCloseable {

  private final HttpServlet servlet;
  private final String mapping;
  private final UriCompliance compliance;
  private Server server;
  private int port;

  private JettyKvServer(HttpServlet servlet, String mapping, UriCompliance compliance) {
    this.servlet = servlet;
    this.mapping = mapping;
    this.compliance = compliance;
  }

  /** Jetty as the module README sets it up: keys with an encoded '/' reach the servlet. */
  static JettyKvServer start(HttpServlet servlet, String mapping) throws Exception {
    return start(servlet, mapping, CONSUL_KEYS);
  }

  /** The URI compliance of the README: Jetty's default plus encoded '/' in paths. */
  static final UriCompliance CONSUL_KEYS =
      UriCompliance.DEFAULT.with("CONSUL_KEYS", UriCompliance.Violation.AMBIGUOUS_PATH_SEPARATOR);

  static JettyKvServer start(HttpServlet servlet, String mapping, UriCompliance compliance)
      throws Exception {
    JettyKvServer s = new JettyKvServer(servlet, mapping, compliance);
    s.startOn(0);
    return s;
  }

  static JettyKvServer serving(InMemoryVersionedStore<String> store) throws Exception {
    return start(BlockingQueryServlet.ofStrings(store), "/v1/kv/*");
  }

  private void startOn(int requestedPort) throws Exception {
    QueuedThreadPool threads = new QueuedThreadPool(64, 4);
    threads.setName("jetty-kv");
    Server s = new Server(threads);
    s.setStopTimeout(0); // an outage is abrupt: do not wait for held blocking queries
    HttpConfiguration http = new HttpConfiguration();
    http.setUriCompliance(compliance);
    ServerConnector connector = new ServerConnector(s, new HttpConnectionFactory(http));
    connector.setHost("127.0.0.1");
    connector.setPort(requestedPort);
    connector.setReuseAddress(true);
    s.addConnector(connector);
    ServletContextHandler context = new ServletContextHandler();
    context.setContextPath("/");
    context.addServlet(new ServletHolder(servlet), mapping);
    s.setHandler(context);
    s.start();
    this.server = s;
    this.port = connector.getLocalPort();
  }

  URI uri() {
    return URI.create("http://127.0.0.1:" + port);
  }

  int port() {
    return port;
  }

  /** Stops the server: held blocking queries fail, new connections are refused. */
  void stop() throws Exception {
    server.stop();
  }

  /** Starts again on the same port. */
  void restart() throws Exception {
    startOn(port);
  }

  @Override
  public void close() {
    try {
      server.stop();
    } catch (Exception e) {
      throw new IllegalStateException("could not stop Jetty", e);
    }
  }
}
