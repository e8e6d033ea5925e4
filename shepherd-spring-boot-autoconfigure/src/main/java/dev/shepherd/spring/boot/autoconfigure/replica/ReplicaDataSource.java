package dev.shepherd.spring.boot.autoconfigure.replica;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.springframework.beans.factory.annotation.Qualifier;

/**
 * Marks a {@code DataSource} bean of the application as a replica: it gets a {@code ReplicaTracker}
 * named after the bean, beside the replicas of {@code shepherd.replica.replicas}. The application
 * owns (and closes) the data source; mark its primary {@code DataSource} {@code @Primary} so that
 * JPA and JdbcTemplate take that one.
 *
 * <pre>{@code
 * @Bean
 * @ReplicaDataSource
 * DataSource reportingReplica() { ... }
 * }</pre>
 */
@Target({ElementType.METHOD, ElementType.TYPE, ElementType.FIELD, ElementType.PARAMETER})
@Retention(RetentionPolicy.RUNTIME)
@Documented
@Qualifier
public @interface ReplicaDataSource {}
