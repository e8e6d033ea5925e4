/**
 * Primitives every Shepherd module shares: a monotonic {@link dev.shepherd.core.Ticker} (the test
 * seam for time), {@link dev.shepherd.core.Deadline}, {@link dev.shepherd.core.Backoff} schedules,
 * saturating {@link dev.shepherd.core.Durations} arithmetic, {@link dev.shepherd.core.Require}
 * argument checks and {@link dev.shepherd.core.ShepherdException}, the root of the library's own
 * failures.
 *
 * <p>Every type in this package is immutable or thread-safe, as its javadoc says.
 */
@NullMarked
package dev.shepherd.core;

import org.jspecify.annotations.NullMarked;
