/**
 * Test fixtures for Shepherd and for its users' tests: {@link dev.shepherd.testing.FakeTicker} and
 * JUnit 5 extensions that run real servers from the Debian packages on free loopback ports:
 * {@link dev.shepherd.testing.PostgresCluster} (a primary and a streaming replica),
 * {@link dev.shepherd.testing.RedisServer} and {@link dev.shepherd.testing.EtcdServer}.
 *
 * <p>Register a server as a static extension so that it starts once for the test class and stops
 * after it, also when a test fails:
 *
 * <pre>{@code
 * @RegisterExtension static final RedisServer redis = RedisServer.create();
 * }</pre>
 *
 * <p>{@link dev.shepherd.testing.Eventually} waits for what another thread, process or server makes
 * true, with a name in the failure and one bound scale for slow machines.
 *
 * <p>A launcher whose binary is missing fails with the command that installs it; it never skips.
 * Every server runs in its own temporary directory, which is deleted when it stops.
 */
@NullMarked
package dev.shepherd.testing;

import org.jspecify.annotations.NullMarked;
