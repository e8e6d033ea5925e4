/** {@code IdempotencyTracker}: Idempotency-Key claims with fencing tokens; in-memory and JDBC stores. */
module dev.shepherd.idempotency {
  requires transitive dev.shepherd.core;
  requires transitive java.sql;
  // Type-use annotations (@Nullable) in the API; a compile-time dependency of every user anyway.
  requires static transitive org.jspecify;
  requires static com.google.errorprone.annotations;

  exports dev.shepherd.idempotency;
}
