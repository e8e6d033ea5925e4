/**
 * The idempotency table as a Flyway migration: add {@code classpath:dev/shepherd/idempotency/flyway}
 * to {@code spring.flyway.locations}. Flyway finds the migration class here by scanning that
 * location; it is not meant to be called from code.
 */
@NullMarked
package dev.shepherd.idempotency.flyway;

import org.jspecify.annotations.NullMarked;
