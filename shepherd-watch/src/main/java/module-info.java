/** {@code Watcher}: Consul-style blocking-query loops; in-memory store, servlet, Consul client. */
module dev.shepherd.watch {
  requires transitive dev.shepherd.core;
  requires transitive java.net.http;
  // Only for the servlet class, and provided by the servlet container: static and not transitive,
  // so that an application without the Servlet API resolves this module (an application that
  // uses the servlet requires jakarta.servlet itself; the pom turns javac's "exports" lint off).
  requires static jakarta.servlet;
  requires com.fasterxml.jackson.core;
  requires com.fasterxml.jackson.jr.ob;
  // Type-use annotations (@Nullable) in the API; a compile-time dependency of every user anyway.
  requires static transitive org.jspecify;
  requires static com.google.errorprone.annotations;

  exports dev.shepherd.watch;
}
