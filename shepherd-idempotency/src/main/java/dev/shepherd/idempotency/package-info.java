/**
 * Idempotency-Key tracking: tracker, in-memory and JDBC (PostgreSQL) stores.
 */
@NullMarked
package dev.shepherd.idempotency;

import org.jspecify.annotations.NullMarked;
