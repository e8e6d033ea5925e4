/** Cluster mode for the coalescing cache on Redis (Lettuce). */
// Some dependencies have no module descriptor and are required by their automatic module names
// (javac warns about each such requires; those names are stable, declared by the jars themselves).
@SuppressWarnings({"requires-automatic", "requires-transitive-automatic"})
module dev.shepherd.cache.redis {
  requires transitive dev.shepherd.cache;
  requires dev.shepherd.core; // used directly, not only through the module above
  // Lettuce is an automatic module (no descriptor); its types (RedisClient) are in this API.
  requires transitive lettuce.core;
  // JacksonValueCodec only; the dependency is optional, so static and not transitive: an
  // application that uses the codec requires Jackson itself (the pom turns the "exports" lint off).
  requires static com.fasterxml.jackson.databind;
  // Type-use annotations (@Nullable) in the API; a compile-time dependency of every user anyway.
  requires static transitive org.jspecify;
  requires static com.google.errorprone.annotations;

  exports dev.shepherd.cache.redis;
}
