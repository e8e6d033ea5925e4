package dev.shepherd.spring.boot.autoconfigure.pool;

import dev.shepherd.pool.ElasticPool;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Import;

/**
 * {@link ElasticPool} beans from {@code shepherd.pool.pools.<name>}, named after each pool, their
 * functions from the application's {@code RunnerFunction} beans; an {@code ElasticPool} of the same
 * name defined by the application wins, and a bean of another type under that name stops the start
 * naming the property. Pools are closed on shutdown. Off with {@code shepherd.pool.enabled=false}.
 */
@AutoConfiguration
@ConditionalOnClass(name = "dev.shepherd.pool.ElasticPool")
@ConditionalOnProperty(prefix = "shepherd.pool", name = "enabled", havingValue = "true", matchIfMissing = true)
@EnableConfigurationProperties(ShepherdPoolProperties.class)
@Import(ShepherdPoolRegistrar.class)
public final class ShepherdPoolAutoConfiguration {

  /** Creates the configuration; used by Spring. */
  public ShepherdPoolAutoConfiguration() {}
}
