/** Read-your-writes on PostgreSQL streaming replicas. */
// Some dependencies have no module descriptor and are required by their automatic module names
// (javac warns about each such requires; those names are stable, declared by the jars themselves).
@SuppressWarnings({"requires-automatic", "requires-transitive-automatic"})
module dev.shepherd.replica {
  requires transitive dev.shepherd.core;
  requires transitive java.sql;
  // The PostgreSQL driver has no descriptor; this is the automatic module name it declares.
  requires org.postgresql.jdbc;
  // Only for the servlet class, and provided by the servlet container: static and not transitive,
  // so that an application without the Servlet API resolves this module (an application that
  // uses the servlet requires jakarta.servlet itself; the pom turns javac's "exports" lint off).
  requires static jakarta.servlet;
  // Type-use annotations (@Nullable) in the API; a compile-time dependency of every user anyway.
  requires static transitive org.jspecify;
  requires static com.google.errorprone.annotations;

  exports dev.shepherd.replica;
}
