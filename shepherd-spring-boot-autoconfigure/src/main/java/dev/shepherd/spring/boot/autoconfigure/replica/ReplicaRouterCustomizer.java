package dev.shepherd.spring.boot.autoconfigure.replica;

import dev.shepherd.replica.ReplicaRouter;

/**
 * Customizes the {@link ReplicaRouter} the auto-configuration builds for the routing
 * {@code DataSource}; beans of this type are applied in order (the metrics auto-configuration sets
 * the route listener with one).
 */
@FunctionalInterface
public interface ReplicaRouterCustomizer {

  /**
   * Customizes the builder before the router is built.
   *
   * @param builder the router's builder, with the replicas and maximum wait already set
   */
  void customize(ReplicaRouter.Builder builder);
}
