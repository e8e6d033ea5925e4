/**
 * Jakarta Servlet filter for the Idempotency-Key header.
 */
@NullMarked
package dev.shepherd.idempotency.servlet;

import org.jspecify.annotations.NullMarked;
