/**
 * Spring Boot auto-configuration of every Shepherd capability: the entry points are the *AutoConfiguration classes, listed in META-INF/spring/org.springframework.boot.autoconfigure.AutoConfiguration.imports.
 */
@NullMarked
package dev.shepherd.spring.boot.autoconfigure;

import org.jspecify.annotations.NullMarked;
