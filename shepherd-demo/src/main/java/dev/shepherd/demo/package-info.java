/**
 * The reference service: an order service on Jetty 12 that uses every capability.
 */
@NullMarked
package dev.shepherd.demo;

import org.jspecify.annotations.NullMarked;
