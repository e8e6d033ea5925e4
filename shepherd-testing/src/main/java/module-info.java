/** Test fixtures: real PostgreSQL, Redis and etcd servers, a fault proxy, Jetty, Kubernetes mock. */
// Some dependencies have no module descriptor and are required by their automatic module names
// (javac warns about each such requires; those names are stable, declared by the jars themselves).
@SuppressWarnings({"requires-automatic", "requires-transitive-automatic"})
module dev.shepherd.testing {
  requires transitive dev.shepherd.core;
  requires transitive org.junit.jupiter.api;
  requires transitive java.sql;
  requires java.net.http;
  // The PostgreSQL driver has no descriptor; this is the automatic module name it declares.
  requires org.postgresql.jdbc;
  requires transitive com.zaxxer.hikari;
  requires com.fasterxml.jackson.jr.ob;
  // Eventually returns Awaitility's ConditionFactory. Awaitility declares no module name: this is
  // the one derived from its jar's file name.
  requires transitive awaitility;
  requires transitive org.eclipse.jetty.server;
  requires transitive org.eclipse.jetty.ee10.servlet;
  requires transitive jakarta.servlet;
  // MockKubernetes and FakeKubelet only: fabric8 is optional (automatic module names).
  requires static transitive kubernetes.client.api;
  requires static transitive kubernetes.model.core;
  requires static kubernetes.server.mock;
  requires static mockwebserver;
  // Type-use annotations (@Nullable) in the API; a compile-time dependency of every user anyway.
  requires static transitive org.jspecify;
  requires static com.google.errorprone.annotations;

  exports dev.shepherd.testing;
}
