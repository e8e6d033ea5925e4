/**
 * A test kit for idempotency stores: {@link dev.shepherd.idempotency.testkit.IdempotencyStoreContract},
 * the contract every store passes as an abstract JUnit 5 test to extend for your own store. Faulty
 * stores for such tests are made by extending {@link
 * dev.shepherd.idempotency.ForwardingIdempotencyStore} of {@code shepherd-idempotency}.
 */
@NullMarked
package dev.shepherd.idempotency.testkit;

import org.jspecify.annotations.NullMarked;
