/** Redis store for the idempotency tracker (Lettuce). */
// Some dependencies have no module descriptor and are required by their automatic module names
// (javac warns about each such requires; those names are stable, declared by the jars themselves).
@SuppressWarnings({"requires-automatic", "requires-transitive-automatic"})
module dev.shepherd.idempotency.redis {
  requires transitive dev.shepherd.idempotency;
  requires dev.shepherd.core; // used directly, not only through the module above
  // Lettuce is an automatic module (no descriptor); its types (RedisClient) are in this API.
  requires transitive lettuce.core;
  // Type-use annotations (@Nullable) in the API; a compile-time dependency of every user anyway.
  requires static transitive org.jspecify;
  requires static com.google.errorprone.annotations;

  exports dev.shepherd.idempotency.redis;
}
