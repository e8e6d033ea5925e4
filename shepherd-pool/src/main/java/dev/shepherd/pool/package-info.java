/**
 * Elastic pool of runners: local (virtual threads) and process (child JVM) backends.
 */
@NullMarked
package dev.shepherd.pool;

import org.jspecify.annotations.NullMarked;
