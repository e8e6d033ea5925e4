/**
 * Helpers shared by Shepherd's modules that are not part of its API: their names and signatures
 * may change in any release. Do not use them from application code.
 */
@NullMarked
package dev.shepherd.core.internal;

import org.jspecify.annotations.NullMarked;
