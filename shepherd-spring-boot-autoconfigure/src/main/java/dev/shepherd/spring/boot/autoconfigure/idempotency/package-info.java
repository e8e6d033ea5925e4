/**
 * The Idempotency-Key filter for Spring Boot: the store chosen from what the application has, the principal from Spring Security.
 */
@NullMarked
package dev.shepherd.spring.boot.autoconfigure.idempotency;

import org.jspecify.annotations.NullMarked;
