/**
 * Watched keys as Spring ApplicationEvents and as live configuration.
 */
@NullMarked
package dev.shepherd.spring.boot.autoconfigure.watch;

import org.jspecify.annotations.NullMarked;
