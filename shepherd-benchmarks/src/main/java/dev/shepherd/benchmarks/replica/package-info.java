/**
 * Benchmarks of read-your-writes on a real PostgreSQL primary and streaming replica: added latency
 * from commit to visible, and the poller's query rate.
 */
package dev.shepherd.benchmarks.replica;
