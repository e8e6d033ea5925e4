package dev.shepherd.watch;

import dev.shepherd.testing.ServletServer;
import jakarta.servlet.http.HttpServlet;
import org.eclipse.jetty.http.UriCompliance;

/** Started {@link ServletServer}s for this module's tests, set up as the module README shows. */
final class KvServers {

  private KvServers() {}

  /** Jetty as the README sets it up: keys with an encoded '/' reach the servlet. */
  static ServletServer start(HttpServlet servlet, String mapping) {
    return start(servlet, mapping, ServletServer.CONSUL_KEYS);
  }

  static ServletServer start(HttpServlet servlet, String mapping, UriCompliance compliance) {
    ServletServer server = ServletServer.builder().servlet(mapping, servlet)
        .uriCompliance(compliance).build();
    server.start();
    return server;
  }

  static ServletServer serving(InMemoryVersionedStore<String> store) {
    return start(BlockingQueryServlet.ofStrings(store), "/v1/kv/*");
  }
}
