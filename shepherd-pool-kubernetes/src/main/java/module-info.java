/** Kubernetes backend for the elastic pool (fabric8). */
// Some dependencies have no module descriptor and are required by their automatic module names
// (javac warns about each such requires; those names are stable, declared by the jars themselves).
@SuppressWarnings({"requires-automatic", "requires-transitive-automatic"})
module dev.shepherd.pool.kubernetes {
  requires transitive dev.shepherd.pool;
  requires dev.shepherd.core; // used directly, not only through the module above
  // fabric8 has no descriptors: these are its automatic module names. KubernetesClient and the
  // Pod model are in this API.
  requires transitive kubernetes.client.api;
  requires transitive kubernetes.model.core;
  // Type-use annotations (@Nullable) in the API; a compile-time dependency of every user anyway.
  requires static transitive org.jspecify;
  requires static com.google.errorprone.annotations;

  exports dev.shepherd.pool.kubernetes;
}
