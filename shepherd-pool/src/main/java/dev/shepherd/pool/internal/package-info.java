/**
 * Not API: the remote runner protocol (framed, sealed channel, handshake, codec) shared by the pool and its runners. Subject to change without notice.
 */
@NullMarked
package dev.shepherd.pool.internal;

import org.jspecify.annotations.NullMarked;
