/**
 * Watches: blocking-query loops shared by every watcher of a key, in-memory store, HTTP server and client.
 */
@NullMarked
package dev.shepherd.watch;

import org.jspecify.annotations.NullMarked;
