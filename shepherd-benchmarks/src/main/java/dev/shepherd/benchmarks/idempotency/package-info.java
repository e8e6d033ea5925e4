/**
 * Benchmarks of the idempotency tracker's stores against the raw store operation on the same
 * server.
 */
@NullMarked
package dev.shepherd.benchmarks.idempotency;

import org.jspecify.annotations.NullMarked;
