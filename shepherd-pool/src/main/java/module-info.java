/**
 * {@code ElasticPool} with its local and process backends; {@code dev.shepherd.pool.spi} for
 * backends. The wire protocol ({@code dev.shepherd.pool.internal}) is exported to Shepherd's
 * backend modules only.
 */
// The qualified export names modules compiled after this one: javac's "module not found" warning
// for them is expected.
@SuppressWarnings("module")
module dev.shepherd.pool {
  requires transitive dev.shepherd.core;
  // Type-use annotations (@Nullable) in the API; a compile-time dependency of every user anyway.
  requires static transitive org.jspecify;
  requires static com.google.errorprone.annotations;

  exports dev.shepherd.pool;
  exports dev.shepherd.pool.spi;
  exports dev.shepherd.pool.internal to
      dev.shepherd.pool.kubernetes;
}
