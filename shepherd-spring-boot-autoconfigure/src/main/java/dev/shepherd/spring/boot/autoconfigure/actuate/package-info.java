/**
 * Operations: Shepherd's Micrometer meters on the application's registry, and Actuator health for replicas, pools,
 * watched keys and the idempotency store.
 */
@NullMarked
package dev.shepherd.spring.boot.autoconfigure.actuate;

import org.jspecify.annotations.NullMarked;
