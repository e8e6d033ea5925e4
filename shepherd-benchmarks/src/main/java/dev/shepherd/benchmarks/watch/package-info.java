/**
 * Benchmarks of shepherd-watch (issue 6): fan-out of one key to 10,000 subscribers through the
 * {@link dev.shepherd.watch.Watcher} hub, side by side with one Consul-style loop per subscriber.
 */
package dev.shepherd.benchmarks.watch;
