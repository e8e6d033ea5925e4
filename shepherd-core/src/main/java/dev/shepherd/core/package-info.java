/**
 * Primitives every Shepherd module shares: a monotonic {@link dev.shepherd.core.Ticker} (the test
 * seam for time), {@link dev.shepherd.core.Deadline}, {@link dev.shepherd.core.Backoff} schedules and
 * {@link dev.shepherd.core.ShepherdException}, the root of the library's own failures.
 *
 * <p>A {@link java.time.Duration} of {@code Duration.ofNanos(Long.MAX_VALUE)} or more means
 * "never" wherever Shepherd takes a timeout or an interval: durations are converted to nanoseconds
 * once, saturating, so no setting overflows.
 *
 * <p>Every type in this package is immutable or thread-safe, as its javadoc says.
 */
@NullMarked
package dev.shepherd.core;

import org.jspecify.annotations.NullMarked;
