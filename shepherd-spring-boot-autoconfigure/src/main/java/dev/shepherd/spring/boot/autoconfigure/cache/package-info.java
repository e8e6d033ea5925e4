/**
 * A Spring CacheManager of Shepherd CoalescingCaches, so that @Cacheable(sync = true) runs one load per stampede and shares its failure.
 */
@NullMarked
package dev.shepherd.spring.boot.autoconfigure.cache;

import org.jspecify.annotations.NullMarked;
