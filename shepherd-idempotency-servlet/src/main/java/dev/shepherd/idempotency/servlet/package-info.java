/**
 * A Jakarta Servlet 6 filter for the {@code Idempotency-Key} header (IETF draft "The
 * Idempotency-Key HTTP Header Field"): {@link dev.shepherd.idempotency.servlet.IdempotencyFilter}
 * runs the first request with a key, stores its response in an
 * {@link dev.shepherd.idempotency.IdempotencyTracker}, and replays it byte for byte to retries.
 * {@link dev.shepherd.idempotency.servlet.PrincipalResolver} scopes keys per principal,
 * {@link dev.shepherd.idempotency.servlet.RequestFingerprinter} tells a retry from a reused key,
 * and {@link dev.shepherd.idempotency.servlet.KeyPolicy} says per method and path whether a key is
 * required.
 */
@NullMarked
package dev.shepherd.idempotency.servlet;

import org.jspecify.annotations.NullMarked;
