/**
 * Benchmarks of the etcd watch source on a real etcd: how many etcd watches 1,000 subscribers on
 * 10 keys cost through Shepherd's hub and with jetcd used directly.
 */
package dev.shepherd.benchmarks.watchetcd;
