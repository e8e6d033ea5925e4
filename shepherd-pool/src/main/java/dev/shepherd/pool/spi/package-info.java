/**
 * What a backend implements for the elastic pool: booting runners, starting calls on them, reporting their death, and (for remote backends) launching the process or Pod a runner runs in.
 */
@NullMarked
package dev.shepherd.pool.spi;

import org.jspecify.annotations.NullMarked;
