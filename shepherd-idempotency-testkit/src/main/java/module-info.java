/** The idempotency store contract as an abstract JUnit 5 test, and a forwarding store. */
// Some dependencies have no module descriptor and are required by their automatic module names
// (javac warns about each such requires; those names are stable, declared by the jars themselves).
@SuppressWarnings({"requires-automatic", "requires-transitive-automatic"})
module dev.shepherd.idempotency.testkit {
  requires transitive dev.shepherd.idempotency;
  requires transitive org.junit.jupiter.api;
  requires org.assertj.core;
  // Awaitility has no descriptor; this is its automatic module name.
  requires awaitility;
  // Type-use annotations (@Nullable) in the API; a compile-time dependency of every user anyway.
  requires static transitive org.jspecify;
  requires static com.google.errorprone.annotations;

  exports dev.shepherd.idempotency.testkit;
  // JUnit reflects on the contract's test methods.
  opens dev.shepherd.idempotency.testkit to org.junit.platform.commons;
}
