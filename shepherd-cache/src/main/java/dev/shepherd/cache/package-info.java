/**
 * Coalescing cache: one load per missing key, shared by every caller (Caffeine storage).
 */
@NullMarked
package dev.shepherd.cache;

import org.jspecify.annotations.NullMarked;
