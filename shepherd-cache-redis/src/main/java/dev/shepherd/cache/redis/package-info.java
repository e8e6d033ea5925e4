/**
 * Cluster mode for {@link dev.shepherd.cache.CoalescingCache} on Redis: {@link
 * dev.shepherd.cache.redis.RedisCourier} makes every JVM that shares one Redis run one load per
 * missing key between them, share failures, and hear each other's invalidations.
 */
@NullMarked
package dev.shepherd.cache.redis;

import org.jspecify.annotations.NullMarked;
