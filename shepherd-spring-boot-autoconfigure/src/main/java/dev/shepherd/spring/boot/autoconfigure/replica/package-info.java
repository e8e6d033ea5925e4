/**
 * Read-your-writes on PostgreSQL replicas with no code change: trackers from properties, the routing DataSource, the token filter and health.
 */
@NullMarked
package dev.shepherd.spring.boot.autoconfigure.replica;

import org.jspecify.annotations.NullMarked;
