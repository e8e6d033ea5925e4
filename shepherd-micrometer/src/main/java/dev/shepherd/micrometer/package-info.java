/**
 * Micrometer meter bindings for every Shepherd capability.
 */
@NullMarked
package dev.shepherd.micrometer;

import org.jspecify.annotations.NullMarked;
