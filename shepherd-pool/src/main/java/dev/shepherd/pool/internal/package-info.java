/**
 * Not API: the remote runner wire format (framed, sealed channel, handshake, message layout)
 * shared by the pool and its runners. It depends on nothing else of the pool: the parent's server
 * and connections, the runner's side, the payload codec and the function registry that speak in
 * the pool's types live, package-private, in {@code dev.shepherd.pool}. Subject to change without
 * notice.
 */
@NullMarked
package dev.shepherd.pool.internal;

import org.jspecify.annotations.NullMarked;
