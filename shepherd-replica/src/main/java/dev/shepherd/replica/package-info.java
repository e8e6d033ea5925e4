/**
 * Read-your-writes on PostgreSQL streaming replicas by LSN.
 */
@NullMarked
package dev.shepherd.replica;

import org.jspecify.annotations.NullMarked;
