package dev.shepherd.spring.boot.autoconfigure.idempotency;

import static dev.shepherd.spring.boot.autoconfigure.internal.Settings.set;

import dev.shepherd.idempotency.IdempotencyStore;
import dev.shepherd.idempotency.IdempotencyTracker;
import dev.shepherd.idempotency.InMemoryIdempotencyStore;
import dev.shepherd.idempotency.JdbcIdempotencyStore;
import dev.shepherd.idempotency.servlet.IdempotencyFilter;
import dev.shepherd.idempotency.servlet.PrincipalResolver;
import io.lettuce.core.RedisClient;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Map;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;
import org.springframework.beans.factory.BeanFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.beans.factory.config.ConfigurableBeanFactory;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.context.properties.source.InvalidConfigurationPropertyValueException;
import org.springframework.boot.sql.init.dependency.DependsOnDatabaseInitialization;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Lazy;
import org.springframework.util.ClassUtils;

/**
 * Idempotent POST and PATCH requests in a Servlet web application: an {@link IdempotencyFilter}
 * registered after Spring Security's filter chain, an {@link IdempotencyTracker} and its store,
 * chosen from what the application has ({@code shepherd.idempotency.store=auto}): Redis when
 * {@code shepherd-idempotency-redis} is on the class path and the application has a Lettuce
 * {@code RedisClient} or a Spring Data Redis Lettuce connection factory; else PostgreSQL on its
 * {@code DataSource} (the primary, when replicas are routed) when that is PostgreSQL (its {@code
 * DatabaseMetaData} product name), whose table is never created silently: a missing table stops
 * the start with the ways to create it; else in memory, with a warning that says why. Each bean
 * backs off when the application defines its own.
 *
 * <p>The JDBC store runs its own statements (claims, lease renewals, completes) on a small HikariCP
 * pool of its own to the same database ({@code shepherd.idempotency.jdbc.pool.*}, see
 * {@link ShepherdIdempotencyDataSource}), so that requests holding every connection of the
 * application's pool cannot delay a renewal past the lease; claims completed inside the
 * application's transactions use the application's {@code DataSource}.
 */
@AutoConfiguration(afterName = {
    "org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration",
    "org.springframework.boot.data.redis.autoconfigure.DataRedisAutoConfiguration",
    "org.springframework.boot.flyway.autoconfigure.FlywayAutoConfiguration",
    "org.springframework.boot.liquibase.autoconfigure.LiquibaseAutoConfiguration"})
@ConditionalOnClass(name = {"dev.shepherd.idempotency.IdempotencyTracker", "dev.shepherd.idempotency.servlet.IdempotencyFilter"})
@ConditionalOnWebApplication(type = ConditionalOnWebApplication.Type.SERVLET)
@ConditionalOnProperty(prefix = "shepherd.idempotency", name = "enabled", havingValue = "true", matchIfMissing = true)
@EnableConfigurationProperties(ShepherdIdempotencyProperties.class)
public final class ShepherdIdempotencyAutoConfiguration {
  /** Creates the configuration; used by Spring. */
  public ShepherdIdempotencyAutoConfiguration() {}


  private static final System.Logger LOG = System.getLogger(ShepherdIdempotencyAutoConfiguration.class.getName());

  /** Filter order: right after Spring Security's filter chain (-100), so the principal is known. */
  public static final int FILTER_ORDER = -90;

  private static final String REDIS_STORE = "dev.shepherd.idempotency.redis.RedisIdempotencyStore";

  /**
   * Where the JDBC store's own statements get their connections: its own pool (or the
   * application's {@link ShepherdIdempotencyDataSource} bean), else the application's data source.
   */
  private static DataSource storeStatements(DataSource primary, ObjectProvider<ShepherdIdempotencyDataSource> storeDataSource,
      ShepherdIdempotencyProperties properties) {
    ShepherdIdempotencyDataSource own = storeDataSource.getIfAvailable();
    if (own != null) {
      return own.dataSource();
    }
    if (properties.jdbc().pool().enabled()) {
      LOG.log(System.Logger.Level.WARNING, "The JDBC idempotency store shares the application's DataSource because HikariCP "
          + "is not on the class path: a pool saturated by requests then delays lease renewals. Add com.zaxxer:HikariCP, "
          + "declare a ShepherdIdempotencyDataSource bean, or set shepherd.idempotency.jdbc.pool.enabled=false to say this is intended.");
    }
    return primary;
  }

  /** The product name PostgreSQL's driver reports, {@code DatabaseMetaData.getDatabaseProductName()}. */
  private static final String POSTGRESQL = "PostgreSQL";

  /** The data source of the JDBC store this configuration built, for the table check; null for other stores. */
  private volatile @Nullable DataSource jdbcStoreDataSource;

  /**
   * The store, as {@code shepherd.idempotency.store} says; none when the application has its own
   * store or its own tracker (which brings its store, so this one, and its table check, would go
   * unused). Declared before the tracker below, so that its condition sees only the application's.
   *
   * @param properties {@code shepherd.idempotency.*}
   * @param beanFactory where the Redis client and the DataSource are looked up
   * @param storeDataSource the JDBC store's own connections (made only when the JDBC store is chosen)
   * @return the store
   * @throws InvalidConfigurationPropertyValueException when the chosen store's dependency is missing
   */
  @Bean
  @ConditionalOnMissingBean({IdempotencyStore.class, IdempotencyTracker.class})
  @DependsOnDatabaseInitialization // after Flyway or Liquibase, so create-schema never races a migration
  public IdempotencyStore shepherdIdempotencyStore(ShepherdIdempotencyProperties properties, BeanFactory beanFactory,
      ObjectProvider<ShepherdIdempotencyDataSource> storeDataSource) {
    ShepherdIdempotencyProperties.StoreType type = properties.store();
    // The application's class loader, the one Spring's class conditions ask, so that this choice and
    // those conditions agree on what is on the class path.
    ClassLoader loader = beanFactory instanceof ConfigurableBeanFactory configurable && configurable.getBeanClassLoader() != null
        ? configurable.getBeanClassLoader() : ShepherdIdempotencyAutoConfiguration.class.getClassLoader();
    boolean redisPossible = ClassUtils.isPresent(REDIS_STORE, loader) && ClassUtils.isPresent("io.lettuce.core.RedisClient", loader);
    if (type == ShepherdIdempotencyProperties.StoreType.REDIS || (type == ShepherdIdempotencyProperties.StoreType.AUTO && redisPossible)) {
      if (!redisPossible) {
        throw new InvalidConfigurationPropertyValueException("shepherd.idempotency.store", type,
            "the Redis store needs dev.shepherd:shepherd-idempotency-redis and io.lettuce:lettuce-core on the class path");
      }
      RedisClient client = RedisStores.client(beanFactory);
      if (client != null) {
        return RedisStores.store(client, properties.redis());
      }
      if (type == ShepherdIdempotencyProperties.StoreType.REDIS) {
        throw new InvalidConfigurationPropertyValueException("shepherd.idempotency.store", type,
            "no Lettuce RedisClient bean and no Spring Data Redis LettuceConnectionFactory bean to reach Redis with");
      }
    }
    String whyMemory = "there is no DataSource and no Redis client";
    if (type == ShepherdIdempotencyProperties.StoreType.JDBC || type == ShepherdIdempotencyProperties.StoreType.AUTO) {
      DataSource dataSource = beanFactory.getBeanProvider(DataSource.class).getIfUnique();
      if (dataSource != null) {
        DataSource primary = primaryOf(dataSource);
        // Auto mode takes the DataSource only when it is PostgreSQL, the one database the JDBC store
        // speaks: an application on H2 or MySQL that wanted only the cache must still start.
        String product = databaseProduct(primary, type);
        if (!product.equals(POSTGRESQL) && type == ShepherdIdempotencyProperties.StoreType.JDBC) {
          throw new InvalidConfigurationPropertyValueException("shepherd.idempotency.store", type,
              "the JDBC store needs PostgreSQL, and the DataSource is " + product
                  + "; use store=redis or store=memory, or a PostgreSQL DataSource");
        }
        if (product.equals(POSTGRESQL)) {
          JdbcIdempotencyStore.Builder jdbc = JdbcIdempotencyStore.builder(storeStatements(primary, storeDataSource, properties))
              .transactionDataSource(primary);
          String table = properties.jdbc().tableName();
          set("shepherd.idempotency.jdbc.table-name", table, () -> jdbc.tableName(table));
          jdbcStoreDataSource = primary;
          return jdbc.createSchema(properties.jdbc().createSchema()).build();
        }
        whyMemory = "the DataSource is " + product + ", and the JDBC store needs PostgreSQL";
      } else if (type == ShepherdIdempotencyProperties.StoreType.JDBC) {
        throw new InvalidConfigurationPropertyValueException("shepherd.idempotency.store", type,
            "the JDBC store needs one DataSource bean, and there is none (or several without a primary)");
      }
    }
    if (type == ShepherdIdempotencyProperties.StoreType.AUTO) {
      LOG.log(System.Logger.Level.WARNING, "Idempotency-Key records are kept in memory because " + whyMemory
          + ": a retry that reaches another instance, or this one after a restart, runs again. Give the application "
          + "a PostgreSQL DataSource or a Redis client, or set shepherd.idempotency.store=memory to say this is intended.");
    }
    return InMemoryIdempotencyStore.create();
  }

  /** The database's product name as its driver reports it ({@code PostgreSQL} for PostgreSQL). */
  private static String databaseProduct(DataSource dataSource, ShepherdIdempotencyProperties.StoreType type) {
    try (Connection c = dataSource.getConnection()) {
      return c.getMetaData().getDatabaseProductName();
    } catch (SQLException e) {
      throw new InvalidConfigurationPropertyValueException("shepherd.idempotency.store", type,
          "cannot tell whether the DataSource is PostgreSQL (the one database the JDBC store speaks): " + e.getMessage()
              + (type == ShepherdIdempotencyProperties.StoreType.AUTO ? "; set shepherd.idempotency.store to jdbc or memory" : ""));
    }
  }

  /** The routing data source's primary, or the data source itself: records are written, never read from a replica. */
  private static DataSource primaryOf(DataSource dataSource) {
    try {
      Class<?> routing = ClassUtils.forName("dev.shepherd.replica.ReplicaRoutingDataSource", ShepherdIdempotencyAutoConfiguration.class.getClassLoader());
      if (dataSource.isWrapperFor(routing)) {
        return ((dev.shepherd.replica.ReplicaRoutingDataSource) dataSource.unwrap(routing)).primary();
      }
    } catch (ClassNotFoundException | LinkageError | SQLException notRouted) {
      // shepherd-replica absent, or a data source that cannot tell: use it as it is.
    }
    return dataSource;
  }

  /**
   * The tracker, over the store (decorated by every {@link IdempotencyStoreDecorator}).
   *
   * @param properties {@code shepherd.idempotency.*}
   * @param store the store
   * @param decorators store decorators, in order
   * @return the tracker, closed on shutdown
   * @throws InvalidConfigurationPropertyValueException for a bad lease or retention
   */
  @Bean
  @ConditionalOnMissingBean
  public IdempotencyTracker shepherdIdempotencyTracker(ShepherdIdempotencyProperties properties, IdempotencyStore store,
      ObjectProvider<IdempotencyStoreDecorator> decorators) {
    IdempotencyStore decorated = store;
    for (IdempotencyStoreDecorator decorator : decorators.orderedStream().toList()) {
      decorated = decorator.decorate(decorated);
    }
    IdempotencyTracker.Builder tracker = IdempotencyTracker.builder().store(decorated);
    set("shepherd.idempotency.lease", properties.lease(), () -> tracker.lease(properties.lease()));
    set("shepherd.idempotency.retention", properties.retention(), () -> tracker.retention(properties.retention()));
    return tracker.build();
  }

  /**
   * Checks, once every bean is created (so after Flyway or Liquibase ran), that the JDBC store's
   * table exists; stops the start with the ways to create it when it does not.
   *
   * @param properties {@code shepherd.idempotency.*}
   * @return the check
   */
  @Bean
  SmartInitializingSingleton shepherdIdempotencySchemaCheck(ShepherdIdempotencyProperties properties) {
    return () -> {
      DataSource dataSource = jdbcStoreDataSource;
      if (dataSource != null && !properties.jdbc().createSchema()) {
        checkTable(dataSource, properties.jdbc().tableName());
      }
    };
  }

  private static void checkTable(DataSource dataSource, String table) {
    boolean exists;
    try (Connection c = dataSource.getConnection(); PreparedStatement s = c.prepareStatement("SELECT to_regclass(?) IS NOT NULL")) {
      s.setString(1, table);
      try (ResultSet rs = s.executeQuery()) {
        exists = rs.next() && rs.getBoolean(1);
      }
    } catch (SQLException e) {
      throw new IllegalStateException("shepherd.idempotency: cannot check that the table " + table + " exists: " + e.getMessage(), e);
    }
    if (!exists) {
      throw new InvalidConfigurationPropertyValueException("shepherd.idempotency.jdbc.table-name", table,
          "the table does not exist, and Shepherd does not create it silently. Apply the schema with Flyway "
              + "(add classpath:dev/shepherd/idempotency/flyway to spring.flyway.locations), with Liquibase (include "
              + "classpath:dev/shepherd/idempotency/liquibase/changelog.yaml), or by hand (classpath:"
              + JdbcIdempotencyStore.SCHEMA_RESOURCE + "), or set shepherd.idempotency.jdbc.create-schema=true");
    }
  }

  /**
   * The filter, on {@code shepherd.idempotency.url-patterns}.
   *
   * @param tracker the tracker
   * @param properties {@code shepherd.idempotency.*}
   * @return the registration
   */
  @Bean
  @ConditionalOnMissingBean(name = "shepherdIdempotencyFilter")
  public FilterRegistrationBean<IdempotencyFilter> shepherdIdempotencyFilter(IdempotencyTracker tracker,
      ShepherdIdempotencyProperties properties) {
    IdempotencyFilter.Builder filter = IdempotencyFilter.builder(tracker)
        .principalResolver(principalResolver(properties))
        .allowAnonymous(properties.allowAnonymous());
    set("shepherd.idempotency.methods", properties.methods(), () -> filter.methods(properties.methods().toArray(String[]::new)));
    filter.keyPolicy(properties.keyPolicy());
    for (Map.Entry<String, dev.shepherd.idempotency.servlet.KeyPolicy> path : properties.paths().entrySet()) {
      set("shepherd.idempotency.paths[" + path.getKey() + "]", path.getValue(), () -> filter.path(path.getKey(), path.getValue()));
    }
    set("shepherd.idempotency.wait-for-in-flight", properties.waitForInFlight(), () -> filter.waitForInFlight(properties.waitForInFlight()));
    set("shepherd.idempotency.max-body-size", properties.maxBodySize(), () -> filter.maxBodySize(properties.maxBodySize()));
    set("shepherd.idempotency.max-stored-response-size", properties.maxStoredResponseSize(),
        () -> filter.maxStoredResponseSize(properties.maxStoredResponseSize()));
    FilterRegistrationBean<IdempotencyFilter> registration = new FilterRegistrationBean<>(filter.build());
    registration.setName("shepherdIdempotencyFilter");
    registration.setUrlPatterns(properties.urlPatterns());
    registration.setOrder(FILTER_ORDER);
    return registration;
  }

  /**
   * The JDBC store's own HikariCP pool, made when the JDBC store is chosen (lazily: a Redis or
   * in-memory store opens no connection) and closed with the context. In a nested configuration of
   * its own so that HikariCP's types are loaded only when HikariCP is there.
   */
  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(name = "com.zaxxer.hikari.HikariDataSource")
  @ConditionalOnProperty(prefix = "shepherd.idempotency.jdbc.pool", name = "enabled", havingValue = "true", matchIfMissing = true)
  static final class StorePoolConfiguration {
    @Bean
    @Lazy
    @ConditionalOnMissingBean
    ShepherdIdempotencyDataSource shepherdIdempotencyDataSource(ShepherdIdempotencyProperties properties, BeanFactory beanFactory) {
      DataSource dataSource = beanFactory.getBeanProvider(DataSource.class).getIfUnique();
      if (dataSource == null) {
        throw new IllegalStateException("the JDBC idempotency store's pool needs the application's DataSource, and there is none");
      }
      return StorePools.create(primaryOf(dataSource), properties.jdbc().pool(), beanFactory);
    }
  }

  private static PrincipalResolver principalResolver(ShepherdIdempotencyProperties properties) {
    String header = properties.principalHeader();
    if (header != null && !header.isBlank()) {
      return PrincipalResolver.header(header);
    }
    @Nullable ClassLoader loader = ShepherdIdempotencyAutoConfiguration.class.getClassLoader();
    if (properties.springSecurityPrincipal()
        && ClassUtils.isPresent("org.springframework.security.core.context.SecurityContextHolder", loader)) {
      return new SpringSecurityPrincipalResolver();
    }
    return PrincipalResolver.userPrincipal();
  }
}
