/**
 * Helpers shared by the auto-configurations that are not part of the API: their names and
 * signatures may change in any release. Do not use them from application code.
 *
 * <p>{@link dev.shepherd.spring.boot.autoconfigure.internal.Settings} hands a setting to a builder
 * so that the builder's complaint names the property; {@link
 * dev.shepherd.spring.boot.autoconfigure.internal.ConfiguredEntries} is the check behind the
 * conditions that turn a capability on when an entry is configured under a map property.
 */
@NullMarked
package dev.shepherd.spring.boot.autoconfigure.internal;

import org.jspecify.annotations.NullMarked;
