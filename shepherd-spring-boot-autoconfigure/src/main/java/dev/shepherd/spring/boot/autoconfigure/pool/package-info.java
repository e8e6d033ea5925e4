/**
 * ElasticPool beans from properties, their functions from the application's beans.
 */
@NullMarked
package dev.shepherd.spring.boot.autoconfigure.pool;

import org.jspecify.annotations.NullMarked;
