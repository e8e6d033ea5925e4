/**
 * Helpers shared by Shepherd's modules that are not part of its API: their names and signatures
 * may change in any release. Do not use them from application code.
 *
 * <p>{@link dev.shepherd.core.internal.Require} checks arguments with messages that name the
 * setting; {@link dev.shepherd.core.internal.Durations} converts and adds nanoseconds saturating, so
 * {@code Duration.ofNanos(Long.MAX_VALUE)} and more mean "never" without overflow;
 * {@link dev.shepherd.core.internal.GoDuration} parses Go-style durations ({@code 1m30s});
 * {@link dev.shepherd.core.internal.LimitedBody} reads an HTTP response body up to a limit.
 */
@NullMarked
package dev.shepherd.core.internal;

import org.jspecify.annotations.NullMarked;
