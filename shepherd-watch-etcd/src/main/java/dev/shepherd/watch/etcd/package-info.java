/**
 * etcd (jetcd) source for watches: one etcd watch per key.
 */
@NullMarked
package dev.shepherd.watch.etcd;

import org.jspecify.annotations.NullMarked;
