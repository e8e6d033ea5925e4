/** etcd source for the watcher (jetcd). */
// Some dependencies have no module descriptor and are required by their automatic module names
// (javac warns about each such requires; those names are stable, declared by the jars themselves).
@SuppressWarnings({"requires-automatic", "requires-transitive-automatic"})
module dev.shepherd.watch.etcd {
  requires transitive dev.shepherd.watch;
  requires dev.shepherd.core; // used directly, not only through the module above
  // jetcd and gRPC have no descriptors: these are their automatic module names. jetcd's Client
  // and ByteSequence are in this API; the rest of jetcd, gRPC and Netty stay on the class path
  // or resolve as automatic modules (no package of theirs is split between two of these).
  requires transitive jetcd.core;
  requires jetcd.common;
  requires io.grpc;
  // Type-use annotations (@Nullable) in the API; a compile-time dependency of every user anyway.
  requires static transitive org.jspecify;
  requires static com.google.errorprone.annotations;

  exports dev.shepherd.watch.etcd;
}
