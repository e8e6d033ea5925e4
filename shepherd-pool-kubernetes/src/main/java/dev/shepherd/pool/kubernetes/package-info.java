/**
 * Kubernetes (fabric8) backend for the elastic pool: runners as Pods.
 */
@NullMarked
package dev.shepherd.pool.kubernetes;

import org.jspecify.annotations.NullMarked;
