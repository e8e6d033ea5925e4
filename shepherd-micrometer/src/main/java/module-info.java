/** {@code ShepherdMetrics}: Micrometer meter bindings for every capability. */
// Some dependencies have no module descriptor and are required by their automatic module names
// (javac warns about each such requires; those names are stable, declared by the jars themselves).
@SuppressWarnings({"requires-automatic", "requires-transitive-automatic"})
module dev.shepherd.micrometer {
  // Micrometer has no descriptor; this is the automatic module name it declares.
  requires transitive micrometer.core;
  requires transitive dev.shepherd.core;
  // Each capability is optional: bind only those the application uses. Not transitive, so that an
  // application without, say, the pool still resolves this module; it requires the capabilities
  // it binds itself (the pom turns javac's "exports" lint off for this reason).
  requires static dev.shepherd.cache;
  requires static dev.shepherd.idempotency;
  requires static dev.shepherd.watch;
  requires static dev.shepherd.replica;
  requires static dev.shepherd.pool;
  // Type-use annotations (@Nullable) in the API; a compile-time dependency of every user anyway.
  requires static transitive org.jspecify;
  requires static com.google.errorprone.annotations;

  exports dev.shepherd.micrometer;
}
