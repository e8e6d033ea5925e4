/**
 * Time, deadlines, backoff, argument checks and the exception root shared by every Shepherd module.
 *
 * <p>{@code dev.shepherd.core.internal} holds helpers shared by Shepherd's own modules; it is
 * exported to them only, so application code on the module path cannot use it.
 */
// The qualified export names modules that are compiled after this one: javac's "module not found"
// warning for them is expected.
@SuppressWarnings("module")
module dev.shepherd.core {
  // Type-use annotations (@Nullable) in the API; a compile-time dependency of every user anyway.
  requires static transitive org.jspecify;
  requires static com.google.errorprone.annotations;
  // Only for internal.LimitedBody, used by modules that require java.net.http themselves.
  requires static java.net.http;

  exports dev.shepherd.core;
  exports dev.shepherd.core.internal to
      dev.shepherd.cache,
      dev.shepherd.cache.redis,
      dev.shepherd.idempotency,
      dev.shepherd.idempotency.servlet,
      dev.shepherd.idempotency.redis,
      dev.shepherd.idempotency.testkit,
      dev.shepherd.watch,
      dev.shepherd.watch.etcd,
      dev.shepherd.replica,
      dev.shepherd.pool,
      dev.shepherd.pool.kubernetes,
      dev.shepherd.micrometer,
      dev.shepherd.spring.boot.autoconfigure,
      dev.shepherd.testing,
      dev.shepherd.demo,
      dev.shepherd.benchmarks;
}
