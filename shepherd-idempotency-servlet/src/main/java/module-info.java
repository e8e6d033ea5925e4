/** {@code IdempotencyFilter}: the Jakarta Servlet filter for Idempotency-Key requests. */
module dev.shepherd.idempotency.servlet {
  requires transitive dev.shepherd.idempotency;
  requires dev.shepherd.core; // used directly, not only through the module above
  // The filter's API is the Servlet API, which the container provides.
  requires transitive jakarta.servlet;
  requires com.fasterxml.jackson.core;
  // Type-use annotations (@Nullable) in the API; a compile-time dependency of every user anyway.
  requires static transitive org.jspecify;
  requires static com.google.errorprone.annotations;

  exports dev.shepherd.idempotency.servlet;
}
