/**
 * A test kit for idempotency stores: {@link dev.shepherd.idempotency.testkit.IdempotencyStoreContract},
 * the contract every store passes as an abstract JUnit 5 test to extend for your own store, and
 * {@link dev.shepherd.idempotency.testkit.ForwardingIdempotencyStore}, a base class for decorators
 * and fault injection in tests.
 */
@NullMarked
package dev.shepherd.idempotency.testkit;

import org.jspecify.annotations.NullMarked;
