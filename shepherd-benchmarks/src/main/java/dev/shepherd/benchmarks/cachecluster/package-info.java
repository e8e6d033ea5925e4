/** Benchmarks of the coalescing cache's cluster mode on Redis, with child JVMs. */
package dev.shepherd.benchmarks.cachecluster;
