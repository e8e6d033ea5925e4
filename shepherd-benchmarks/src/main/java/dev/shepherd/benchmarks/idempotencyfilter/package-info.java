/** Benchmarks of the idempotency HTTP filter through a real Jetty. */
@NullMarked
package dev.shepherd.benchmarks.idempotencyfilter;

import org.jspecify.annotations.NullMarked;
