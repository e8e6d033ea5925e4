package dev.shepherd.testing;

import dev.shepherd.core.internal.Require;
import jakarta.servlet.http.HttpServlet;
import java.net.URI;
import java.util.LinkedHashMap;
import java.util.Map;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.jspecify.annotations.Nullable;

/**
 * A real Jetty 12 on a free loopback port serving servlets (async supported), as a JUnit 5
 * extension or through {@link #start()} and {@link #close()}; it can be stopped and started again
 * on the same port, which is how a test makes an HTTP upstream go away and come back (an outage).
 *
 * <pre>{@code
 * @RegisterExtension
 * static final ServletServer kv = ServletServer.builder()
 *     .servlet("/v1/kv/*", BlockingQueryServlet.ofStrings(store))
 *     .build();
 * ...
 * kv.stop();      // held requests fail, new connections are refused
 * kv.restart();   // same port, same servlets
 * }</pre>
 *
 * <p>The connector's URI compliance is Jetty's default unless set; {@link #CONSUL_KEYS} also lets
 * an encoded {@code /} reach the servlets, as Consul clients send keys. Stopping does not wait for
 * held requests ({@code stopTimeout} 0): an outage is abrupt. Thread-safe.
 */
public final class ServletServer extends ServerFixture {

  /** Jetty's default URI compliance plus encoded {@code /} in paths (Consul's KV keys). */
  public static final UriCompliance CONSUL_KEYS =
      UriCompliance.DEFAULT.with("CONSUL_KEYS", UriCompliance.Violation.AMBIGUOUS_PATH_SEPARATOR);

  private final Map<String, HttpServlet> servlets;
  private final UriCompliance compliance;
  private @Nullable Server server;
  private int port;

  private ServletServer(Builder builder) {
    this.servlets = new LinkedHashMap<>(builder.servlets);
    this.compliance = builder.compliance;
  }

  /**
   * Returns a builder.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * Returns the base URI, such as {@code http://127.0.0.1:41234}.
   *
   * @return the URI
   * @throws IllegalStateException if never started
   */
  public synchronized URI uri() {
    Require.state(port > 0, "the server was never started");
    return URI.create("http://127.0.0.1:" + port);
  }

  /**
   * Returns the port, kept across {@link #stop()} and {@link #restart()}.
   *
   * @return the port
   * @throws IllegalStateException if never started
   */
  public synchronized int port() {
    Require.state(port > 0, "the server was never started");
    return port;
  }

  /** Stops Jetty: held requests fail, new connections are refused; the port is kept. */
  public synchronized void stop() {
    stopJetty();
  }

  /**
   * Starts Jetty again on the same port, with the same servlets.
   *
   * @throws IllegalStateException if the port was taken meanwhile or Jetty does not start
   */
  public synchronized void restart() {
    Require.state(port > 0, "the server was never started");
    startJetty(port);
  }

  @Override
  protected synchronized void doStart() {
    startJetty(0);
  }

  @Override
  protected synchronized void doClose() {
    stopJetty();
  }

  private void startJetty(int requestedPort) {
    QueuedThreadPool threads = new QueuedThreadPool(64, 4);
    threads.setName("servlet-server");
    Server s = new Server(threads);
    s.setStopTimeout(0);
    HttpConfiguration http = new HttpConfiguration();
    http.setUriCompliance(compliance);
    ServerConnector connector = new ServerConnector(s, new HttpConnectionFactory(http));
    connector.setHost("127.0.0.1");
    connector.setPort(requestedPort);
    connector.setReuseAddress(true);
    s.addConnector(connector);
    ServletContextHandler context = new ServletContextHandler();
    context.setContextPath("/");
    servlets.forEach((mapping, servlet) -> {
      ServletHolder holder = new ServletHolder(servlet);
      holder.setAsyncSupported(true);
      context.addServlet(holder, mapping);
    });
    s.setHandler(context);
    try {
      s.start();
    } catch (Exception e) {
      try {
        s.stop();
      } catch (Exception suppressed) {
        e.addSuppressed(suppressed);
      }
      throw new IllegalStateException("Jetty did not start on port " + requestedPort, e);
    }
    server = s;
    port = connector.getLocalPort();
  }

  private void stopJetty() {
    Server s = server;
    server = null;
    if (s != null) {
      try {
        s.stop();
      } catch (Exception e) {
        throw new IllegalStateException("Jetty did not stop", e);
      }
    }
  }

  @Override
  public String toString() {
    return "ServletServer[port=" + port + ", servlets=" + servlets.keySet() + "]";
  }

  /** Builder of {@link ServletServer}; not thread-safe. */
  public static final class Builder {
    private final Map<String, HttpServlet> servlets = new LinkedHashMap<>();
    private UriCompliance compliance = UriCompliance.DEFAULT;

    private Builder() {}

    /**
     * Adds a servlet at a mapping such as {@code /v1/kv/*}. The same servlet instance serves
     * again after a restart (its {@code init} runs at every start).
     *
     * @param mapping the servlet mapping
     * @param servlet the servlet
     * @return this builder
     * @throws NullPointerException if an argument is null
     */
    public Builder servlet(String mapping, HttpServlet servlet) {
      servlets.put(Require.notEmpty(mapping, "mapping"), Require.nonNull(servlet, "servlet"));
      return this;
    }

    /**
     * Sets the connector's URI compliance (default Jetty's {@code DEFAULT}).
     *
     * @param compliance the compliance, such as {@link #CONSUL_KEYS}
     * @return this builder
     * @throws NullPointerException if {@code compliance} is null
     */
    public Builder uriCompliance(UriCompliance compliance) {
      this.compliance = Require.nonNull(compliance, "compliance");
      return this;
    }

    /**
     * Builds the server; nothing listens until {@link ServletServer#start()} (or the extension
     * starts it before the test class).
     *
     * @return the server
     */
    public ServletServer build() {
      Require.state(!servlets.isEmpty(), "add at least one servlet");
      return new ServletServer(this);
    }
  }
}
