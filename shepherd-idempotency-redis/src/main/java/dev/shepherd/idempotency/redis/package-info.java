/**
 * Redis (Lettuce) store for idempotency records.
 */
@NullMarked
package dev.shepherd.idempotency.redis;

import org.jspecify.annotations.NullMarked;
